package ballot

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Field names of a vote entry on the Redis stream. Short, because there is one entry per vote.
const (
	FieldVoter  = "voter"
	FieldOption = "vote"
	FieldCastAt = "ts" // Unix milliseconds, as the vote service saw it
)

// MaxEntryVoterLen bounds a voter ID read from the queue. Entries from the classic vote app (which
// hex-encodes 64 random bits) are accepted too, so the check is looser than ParseVoterID; the
// limit matches the classic table's varchar(255) with plenty of margin.
const MaxEntryVoterLen = 64

// StreamID is a Redis stream entry ID: milliseconds and a sequence number. It orders votes: of two
// votes by one voter, the one with the larger ID was cast later.
type StreamID struct {
	Ms  int64
	Seq int64
}

// ParseStreamID parses "1700000000000-0". Only the canonical form Redis writes is accepted: plain
// decimal numbers without a sign or leading zeros, so that an ID and its String are the same text
// (the worker acknowledges and records IDs by that text).
func ParseStreamID(s string) (StreamID, error) {
	msPart, seqPart, ok := strings.Cut(s, "-")
	ms, ok1 := parseCanonical(msPart)
	seq, ok2 := parseCanonical(seqPart)
	if !ok || !ok1 || !ok2 {
		return StreamID{}, fmt.Errorf("stream id %q: want <ms>-<seq>, two decimal numbers", s)
	}
	return StreamID{Ms: ms, Seq: seq}, nil
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

func (id StreamID) String() string {
	return strconv.FormatInt(id.Ms, 10) + "-" + strconv.FormatInt(id.Seq, 10)
}

// Less reports whether id comes before other in the stream.
func (id StreamID) Less(other StreamID) bool {
	return id.Ms < other.Ms || (id.Ms == other.Ms && id.Seq < other.Seq)
}

// Vote is one vote as the worker applies it.
type Vote struct {
	ID     StreamID // position in the stream: later wins
	Voter  string
	Option string
	CastAt time.Time
}

// EntryFields returns the stream fields for a vote cast now. The vote service writes them with XADD.
func EntryFields(voter VoterID, option string, castAt time.Time) []string {
	return []string{
		FieldVoter, string(voter),
		FieldOption, option,
		FieldCastAt, strconv.FormatInt(castAt.UnixMilli(), 10),
	}
}

// DecodeError says why a queue entry cannot be applied. Such entries are dead-lettered with Reason;
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
)

func (e *DecodeError) Error() string { return "malformed vote entry: " + e.Reason }

func malformed(kind, format string, args ...any) error {
	return &DecodeError{Kind: kind, Reason: fmt.Sprintf(format, args...)}
}

// DecodeEntry validates one stream entry. fields are the entry's values as the Redis client returns
// them. A missing ts falls back to the time in the entry ID, which Redis assigned on arrival.
func DecodeEntry(id string, fields map[string]any) (Vote, error) {
	sid, err := ParseStreamID(id)
	if err != nil {
		return Vote{}, malformed(BadStreamID, "%v", err)
	}
	if raw, ok := fields[FieldLegacy]; ok && len(fields) == 1 {
		s, _ := raw.(string)
		return decodeLegacy(sid, s)
	}
	voter, err := stringField(fields, FieldVoter)
	if err != nil {
		return Vote{}, err
	}
	option, err := stringField(fields, FieldOption)
	if err != nil {
		return Vote{}, err
	}
	castAt := time.UnixMilli(sid.Ms)
	if raw, ok := fields[FieldCastAt]; ok {
		s, _ := raw.(string)
		ms, err := strconv.ParseInt(s, 10, 64)
		if err != nil || ms <= 0 {
			return Vote{}, malformed(BadCastAt, "field %s %q is not a positive Unix millisecond time", FieldCastAt, truncate(s))
		}
		castAt = time.UnixMilli(ms)
	}
	return newVote(sid, voter, option, castAt)
}

// FieldLegacy holds a classic-app payload moved verbatim from the Redis list onto the stream.
const FieldLegacy = "legacy"

// decodeLegacy reads the classic vote app's wire format: JSON {"voter_id": "...", "vote": "a"}.
func decodeLegacy(sid StreamID, payload string) (Vote, error) {
	var v struct {
		VoterID *string `json:"voter_id"`
		Vote    *string `json:"vote"`
	}
	if err := json.Unmarshal([]byte(payload), &v); err != nil {
		return Vote{}, malformed(BadLegacy, "legacy payload is not JSON: %v", err)
	}
	if v.VoterID == nil || v.Vote == nil {
		return Vote{}, malformed(BadLegacy, "legacy payload needs string fields voter_id and vote")
	}
	return newVote(sid, *v.VoterID, *v.Vote, time.UnixMilli(sid.Ms))
}

func newVote(sid StreamID, voter, option string, castAt time.Time) (Vote, error) {
	if voter == "" || len(voter) > MaxEntryVoterLen {
		return Vote{}, malformed(BadVoter, "voter id must have 1 to %d characters, got %d", MaxEntryVoterLen, len(voter))
	}
	for i := 0; i < len(voter); i++ {
		c := voter[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return Vote{}, malformed(BadVoter, "voter id has a character outside [0-9A-Za-z_-]")
		}
	}
	if !ValidKey(option) {
		return Vote{}, malformed(UnknownOption, "unknown option %q", truncate(option))
	}
	return Vote{ID: sid, Voter: voter, Option: option, CastAt: castAt.UTC()}, nil
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

// Latest keeps, for each voter, only the vote with the largest stream ID. A batch holds entries in
// any order (reclaimed entries arrive late), so position in the batch means nothing.
func Latest(votes []Vote) []Vote {
	idx := make(map[string]int, len(votes))
	out := make([]Vote, 0, len(votes))
	for _, v := range votes {
		if i, seen := idx[v.Voter]; seen {
			if out[i].ID.Less(v.ID) {
				out[i] = v
			}
			continue
		}
		idx[v.Voter] = len(out)
		out = append(out, v)
	}
	return out
}
