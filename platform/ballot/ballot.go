// Package ballot holds the domain of the voting app: the options on the ballot, who votes, a vote as
// it travels through the queue, and the tally. It has no third-party imports.
package ballot

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Option is one choice on the ballot. Keys are stable ("a", "b") and stored in the database; labels
// are for people and come from configuration (OPTION_A, OPTION_B).
type Option struct {
	Key   string `json:"key"`
	Label string `json:"label"`
}

// Keys of the two options, fixed by the contract with the classic app's database.
const (
	KeyA = "a"
	KeyB = "b"
)

// DefaultLabels are the classic app's choices.
const (
	DefaultLabelA = "Cats"
	DefaultLabelB = "Dogs"
)

// MaxLabelLen bounds an option label in characters, to keep pages and logs sane.
const MaxLabelLen = 64

// Options is the ordered list of choices on the ballot.
type Options []Option

// NewOptions builds the ballot from two labels, checking that they are printable, short and distinct.
func NewOptions(labelA, labelB string) (Options, error) {
	opts := Options{{KeyA, labelA}, {KeyB, labelB}}
	for _, o := range opts {
		if err := checkLabel(o.Label); err != nil {
			return nil, fmt.Errorf("option %s label %q: %w", o.Key, o.Label, err)
		}
	}
	if strings.EqualFold(labelA, labelB) {
		return nil, fmt.Errorf("options a and b have the same label %q", labelA)
	}
	return opts, nil
}

func checkLabel(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	case strings.TrimSpace(s) == "":
		return errors.New("is empty")
	case n > MaxLabelLen:
		return fmt.Errorf("is longer than %d characters", MaxLabelLen)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("contains the unprintable character %U", r)
		}
	}
	return nil
}

// Find returns the option with the given key.
func (o Options) Find(key string) (Option, bool) {
	for _, opt := range o {
		if opt.Key == key {
			return opt, true
		}
	}
	return Option{}, false
}

// Keys returns the options' keys, in ballot order.
func (o Options) Keys() []string {
	keys := make([]string, len(o))
	for i, opt := range o {
		keys[i] = opt.Key
	}
	return keys
}

// ValidKey reports whether key is one of the ballot's fixed keys. The worker checks queue entries
// against the keys alone, so labels can change without a worker restart.
func ValidKey(key string) bool { return key == KeyA || key == KeyB }

// VoterID identifies a voter: 128 random bits, hex encoded, carried in the voter_id cookie.
type VoterID string

// voterIDLen is the length of an ID the vote service issues: 16 bytes as lowercase hex.
const voterIDLen = 32

// NewVoterID returns a fresh random voter ID.
func NewVoterID() VoterID {
	var b [voterIDLen / 2]byte
	rand.Read(b[:]) // never fails (crypto/rand documents a crash on the impossible error instead)
	return VoterID(hex.EncodeToString(b[:]))
}

// ErrBadVoterID is returned for a cookie value that is not an ID this service would have issued.
var ErrBadVoterID = errors.New("voter id must be 32 lowercase hex characters")

// ParseVoterID accepts exactly the shape NewVoterID produces. Anything else, from a forged or
// corrupted cookie, is rejected so that it never reaches the queue.
func ParseVoterID(s string) (VoterID, error) {
	if len(s) != voterIDLen {
		return "", ErrBadVoterID
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return "", ErrBadVoterID
		}
	}
	return VoterID(s), nil
}

// LogValue keeps full voter IDs out of logs: only a prefix, enough to correlate lines.
func (v VoterID) LogValue() slog.Value { return slog.StringValue(Redact(string(v))) }

// Redact shortens an identifier for logs.
func Redact(id string) string {
	if len(id) <= 8 {
		return "…"
	}
	return id[:8] + "…"
}
