package queue

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// Field names of a vote entry on the stream. Short, because there is one entry per vote.
const (
	FieldVoter  = "voter"
	FieldOption = "vote"
	FieldCastAt = "ts" // Unix milliseconds, as the vote service saw it
	// FieldCast holds a vote as the vote service put it on the inbox (Inbox.Cast), moved onto the
	// stream verbatim by a worker (Group.Move).
	FieldCast = "cast"
	// FieldLegacy holds a classic-app payload moved verbatim from the Redis list onto the stream.
	FieldLegacy = "legacy"
)

// maxCastLen bounds a cast read from the inbox before it is parsed: a well-formed one is under
// 100 bytes, and anything may have been pushed.
const maxCastLen = 512

// MaxEntryVoterLen bounds a voter ID read from the stream. Entries from the classic vote app (which
// hex-encodes 64 random bits) are accepted too, so the check is looser than ballot.ParseVoterID;
// the limit matches the classic table's varchar(255) with plenty of margin.
const MaxEntryVoterLen = 64

// A vote's cast time must be one Postgres can store and that makes sense for its entry:
//
//   - after the Unix epoch and no later than the year 9999 (Postgres stores far more, but a time
//     outside these years is no time a vote was cast);
//   - at most MaxCastAhead after the time in the entry's ID. A vote is cast before Redis stores it,
//     so only clock skew between the vote service's host and Redis's can put it later; a day covers
//     any time-zone mistake (the largest offset is 14 hours).
//
// There is deliberately no bound below the entry's time: entry IDs never go backwards, so after a
// clock that ran ahead, or an explicit ID, they can stay ahead of real time for a while, and a vote
// cast now then carries a time well before its ID's.
const MaxCastAhead = 24 * time.Hour

var maxCastAt = time.Date(9999, 12, 31, 23, 59, 59, 999e6, time.UTC)

// Entry is one stream entry as read: its ID and its fields, as the Redis client returns them.
type Entry struct {
	ID     string
	Fields map[string]any
}

// ParseID reads an entry ID, "1700000000000-0", as the vote's position. Only the canonical form
// Redis writes is accepted: plain decimal numbers without a sign or leading zeros, so that an ID
// and FormatID of its position are the same text (entries are acknowledged and recorded by it).
func ParseID(s string) (ballot.Position, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	ms, ok1 := parseCanonical(msPart)
	seq, ok2 := parseCanonical(seqPart)
	if !ok || !ok1 || !ok2 {
		return ballot.Position{}, fmt.Errorf("stream id %q: want <ms>-<seq>, two decimal numbers", s)
	}
	return ballot.Position{Ms: ms, Seq: seq}, nil
}

// FormatID writes a position as the entry ID it came from.
func FormatID(p ballot.Position) string {
	return strconv.FormatInt(p.Ms, 10) + "-" + strconv.FormatInt(p.Seq, 10)
}

// parseCanonical parses a non-negative decimal int64 written without sign or leading zeros.
func parseCanonical(s string) (int64, bool) {
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Cast is a vote as the vote service appends it.
type Cast struct {
	Voter  ballot.VoterID
	Option string
	At     time.Time
}

// castJSON is a cast as the inbox holds it.
type castJSON struct {
	Voter  string `json:"voter"`
	Option string `json:"vote"`
	At     int64  `json:"ts"` // Unix milliseconds, as the vote service saw it
}

// encode writes c as the inbox holds it: JSON with the stream fields' names.
func (c Cast) encode() string {
	b, _ := json.Marshal(castJSON{Voter: string(c.Voter), Option: c.Option, At: c.At.UnixMilli()}) // strings and a number
	return string(b)
}

// values are the fields of c's entry, for XADD.
func (c Cast) values() []string {
	return []string{
		FieldVoter, string(c.Voter),
		FieldOption, c.Option,
		FieldCastAt, strconv.FormatInt(c.At.UnixMilli(), 10),
	}
}

// DecodeError says why an entry cannot be applied. Such entries are dead-lettered with Reason;
// Kind is one of a small fixed set, for metric labels.
type DecodeError struct {
	Kind   string
	Reason string
}

// Kinds of malformed entries.
const (
	BadStreamID   = "bad_stream_id"
	MissingField  = "missing_field"
	BadFieldType  = "bad_field_type"
	BadVoter      = "bad_voter"
	UnknownOption = "unknown_option"
	BadCastAt     = "bad_cast_at"
	BadLegacy     = "bad_legacy"
	BadCast       = "bad_cast"
)

// Kinds are every kind of DecodeError, for metrics that start each label at zero.
var Kinds = []string{BadStreamID, MissingField, BadFieldType, BadVoter, UnknownOption, BadCastAt, BadLegacy, BadCast}

func (e *DecodeError) Error() string { return "malformed vote entry: " + e.Reason }

func malformed(kind, format string, args ...any) error {
	return &DecodeError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// Decode validates one entry and returns its vote, or a *DecodeError. A missing ts falls back to
// the time in the entry ID, which Redis assigned on arrival.
func Decode(e Entry) (ballot.Vote, error) {
	pos, err := ParseID(e.ID)
	if err != nil {
		return ballot.Vote{}, malformed(BadStreamID, "%v", err)
	}
	if raw, ok := e.Fields[FieldCast]; ok && len(e.Fields) == 1 {
		s, _ := raw.(string)
		return decodeCast(pos, s)
	}
	if raw, ok := e.Fields[FieldLegacy]; ok && len(e.Fields) == 1 {
		s, _ := raw.(string)
		return decodeLegacy(pos, s)
	}
	voter, err := stringField(e.Fields, FieldVoter)
	if err != nil {
		return ballot.Vote{}, err
	}
	option, err := stringField(e.Fields, FieldOption)
	if err != nil {
		return ballot.Vote{}, err
	}
	castAt := time.UnixMilli(pos.Ms)
	if raw, ok := e.Fields[FieldCastAt]; ok {
		s, _ := raw.(string)
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms <= 0 {
			return ballot.Vote{}, malformed(BadCastAt, "field %s %q is not a positive Unix millisecond time", FieldCastAt, truncate(s))
		}
		castAt = time.UnixMilli(ms)
	}
	if err := checkCastAt(pos, castAt); err != nil {
		return ballot.Vote{}, err
	}
	return newVote(pos, voter, option, castAt)
}

// checkCastAt applies the bounds above. Without a ts field the cast time is the ID's, which the
// absolute bounds still check: an explicit ID can name any millisecond.
func checkCastAt(pos ballot.Position, castAt time.Time) error {
	if castAt.UnixMilli() <= 0 || castAt.After(maxCastAt) {
		return malformed(BadCastAt, "cast time %d ms is outside the years 1970 to 9999", castAt.UnixMilli())
	}
	if stored := time.UnixMilli(pos.Ms); castAt.Sub(stored) > MaxCastAhead {
		return malformed(BadCastAt, "cast time %s is more than %s after the entry's time %s",
			castAt.UTC().Format(time.RFC3339), MaxCastAhead, stored.UTC().Format(time.RFC3339))
	}
	return nil
}

// decodeCast reads a cast from the inbox: exactly the JSON object Cast.encode writes, and nothing
// else (unknown fields, trailing data, wrong types and oversized payloads are refused).
func decodeCast(pos ballot.Position, payload string) (ballot.Vote, error) {
	if len(payload) > maxCastLen {
		return ballot.Vote{}, malformed(BadCast, "cast of %d bytes; at most %d", len(payload), maxCastLen)
	}
	dec := json.NewDecoder(strings.NewReader(payload))
	dec.DisallowUnknownFields()
	var c struct {
		Voter  *string `json:"voter"`
		Option *string `json:"vote"`
		At     *int64  `json:"ts"`
	}
	if err := dec.Decode(&c); err != nil {
		return ballot.Vote{}, malformed(BadCast, "cast is not the JSON object the vote service writes: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ballot.Vote{}, malformed(BadCast, "cast has data after its JSON object")
	}
	if c.Voter == nil || c.Option == nil || c.At == nil {
		return ballot.Vote{}, malformed(BadCast, "cast needs voter, vote and ts")
	}
	if *c.At <= 0 {
		return ballot.Vote{}, malformed(BadCastAt, "cast time %d is not a positive Unix millisecond time", *c.At)
	}
	castAt := time.UnixMilli(*c.At)
	if err := checkCastAt(pos, castAt); err != nil {
		return ballot.Vote{}, err
	}
	return newVote(pos, *c.Voter, *c.Option, castAt)
}

// decodeLegacy reads the classic vote app's wire format: JSON {"voter_id": "...", "vote": "a"}.
func decodeLegacy(pos ballot.Position, payload string) (ballot.Vote, error) {
	var v struct {
		VoterID *string `json:"voter_id"`
		Vote    *string `json:"vote"`
	}
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		return ballot.Vote{}, malformed(BadLegacy, "legacy payload is not JSON: %v", err)
	}
	if v.VoterID == nil || v.Vote == nil {
		return ballot.Vote{}, malformed(BadLegacy, "legacy payload needs string fields voter_id and vote")
	}
	castAt := time.UnixMilli(pos.Ms)
	if err := checkCastAt(pos, castAt); err != nil {
		return ballot.Vote{}, err
	}
	return newVote(pos, *v.VoterID, *v.Vote, castAt)
}

func newVote(pos ballot.Position, voter, option string, castAt time.Time) (ballot.Vote, error) {
	if voter == "" || len(voter) > MaxEntryVoterLen {
		return ballot.Vote{}, malformed(BadVoter, "voter id must have 1 to %d characters, got %d", MaxEntryVoterLen, len(voter))
	}
	for i := 0; i < len(voter); i++ {
		c := voter[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return ballot.Vote{}, malformed(BadVoter, "voter id has a character outside [0-9A-Za-z_-]")
		}
	}
	if !ballot.ValidKey(option) {
		return ballot.Vote{}, malformed(UnknownOption, "unknown option %q", truncate(option))
	}
	return ballot.Vote{Position: pos, Voter: voter, Option: option, CastAt: castAt.UTC()}, nil
}

func stringField(fields map[string]any, name string) (string, error) {
	raw, ok := fields[name]
	if !ok {
		return "", malformed(MissingField, "missing field %s", name)
	}
	s, ok := raw.(string)
	if !ok {
		return "", malformed(BadFieldType, "field %s is a %T, not a string", name, raw)
	}
	return s, nil
}

// truncate keeps reasons short when an attacker sends a megabyte.
func truncate(s string) string {
	const max = 32
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}
