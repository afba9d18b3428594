//go:build e2e && chaos

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// poisonEntry is one entry the poison phase writes, and where it must end.
type poisonEntry struct {
	What string // what is wrong with it
	Kind string // the dead-letter kind it must get
	ID   string // its stream ID, once written
	// Got is where it ended: the dead letter's kind and reason, or "not dead-lettered".
	Got string
}

// poisonEntries are the kinds of entry a client with write access to the stream could add, every
// one of which the worker must set aside with the reason while the votes around it are counted.
// The last kind decodes, but the database refuses it: the phase first adds a constraint that
// decoding knows nothing about.
func poisonEntries() []poisonEntry {
	return []poisonEntry{
		{What: "cast time Postgres cannot store (ts = 2^63-1)", Kind: "bad_cast_at"},
		{What: "cast time in the year 3000", Kind: "bad_cast_at"},
		{What: "cast time that is not a number", Kind: "bad_cast_at"},
		{What: "1 MiB voter id", Kind: "bad_voter"},
		{What: "1 MiB option", Kind: "unknown_option"},
		{What: "empty voter id", Kind: "bad_voter"},
		{What: "empty option", Kind: "unknown_option"},
		{What: "unknown option", Kind: "unknown_option"},
		{What: "voter id with a space", Kind: "bad_voter"},
		{What: "no voter field", Kind: "missing_field"},
		{What: "classic payload with a number for the voter", Kind: "bad_legacy"},
		{What: "classic payload that is not JSON", Kind: "bad_legacy"},
		{What: "decodes, refused by a database constraint", Kind: "rejected_by_database"},
		{What: "decodes, refused by a database constraint", Kind: "rejected_by_database"},
	}
}

// poisonConstraint is the constraint the database enforces and the decoder does not know.
const poisonConstraint = `ALTER TABLE votes ADD CONSTRAINT chaos_refused CHECK (id NOT LIKE 'refused-%') NOT VALID`

// poison is the poison phase: as the database's superuser it adds the constraint, then as Redis's
// administrator it writes one entry of every kind in poisonEntries onto the vote stream, among
// the load's votes.
func (c *chaos) poison(ctx context.Context, f *chaosFault) error {
	if out, err := c.s.compose(ctx, "exec", "-T", "db", "psql", "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1",
		"--username", "postgres", "--dbname", "votes", "--command", poisonConstraint); err != nil {
		return fmt.Errorf("psql: %v: %s", err, out)
	}
	const voter = "0123456789abcdefffffffffffffffff"
	huge := strings.Repeat("v", 1<<20)
	ts := fmt.Sprint(time.Now().UnixMilli())
	// The arguments of XADD after "votes:stream *"; the last one of a command may come from stdin
	// (redis-cli -x), for the values of a mebibyte.
	fields := [][]string{
		{"voter", voter, "vote", "a", "ts", "9223372036854775807"},
		{"voter", voter, "vote", "b", "ts", "32503680000000"},
		{"voter", voter, "vote", "a", "ts", "yesterday"},
		{"vote", "a", "ts", ts, "voter", huge},
		{"voter", voter, "ts", ts, "vote", huge},
		{"voter", "", "vote", "a", "ts", ts},
		{"voter", voter, "vote", "", "ts", ts},
		{"voter", voter, "vote", "c", "ts", ts},
		{"voter", "two words", "vote", "a", "ts", ts},
		{"vote", "a", "ts", ts},
		{"legacy", `{"voter_id":5,"vote":"a"}`},
		{"legacy", "not json"},
		{"voter", "refused-0000000000000000000001", "vote", "a", "ts", ts},
		{"voter", "refused-0000000000000000000002", "vote", "b", "ts", ts},
	}
	entries := poisonEntries()
	for i, args := range fields {
		var stdin string
		if last := args[len(args)-1]; len(last) > 1024 {
			stdin, args = last, args[:len(args)-1]
		}
		id, err := c.redisAdmin(ctx, stdin, append([]string{"XADD", "votes:stream", "*"}, args...)...)
		if err != nil {
			return fmt.Errorf("%s: %w", entries[i].What, err)
		}
		entries[i].ID = id
	}
	c.poisoned = entries
	f.Note = fmt.Sprintf("%d entries of %d kinds, and a constraint refusing voters refused-*", len(entries), len(kindsOf(entries)))
	return nil
}

func kindsOf(entries []poisonEntry) []string {
	var kinds []string
	for _, e := range entries {
		if !slices.Contains(kinds, e.Kind) {
			kinds = append(kinds, e.Kind)
		}
	}
	return kinds
}

// redisAdmin runs one command through redis-cli in the Redis container as the default user (the
// administrator), stdin (if any) as its last argument, and returns the reply.
func (c *chaos) redisAdmin(ctx context.Context, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, chaosDeadline)
	defer cancel()
	cli := []string{"exec", "--interactive", "--env", "REDISCLI_AUTH", c.mon.redis, "redis-cli", "--no-auth-warning"}
	if stdin != "" {
		cli = append(cli, "-x")
	}
	cmd := exec.CommandContext(ctx, "docker", append(cli, args...)...)
	cmd.Env = append(os.Environ(), "REDISCLI_AUTH="+c.s.secret(c.t, "redis_admin_password"))
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	reply := strings.TrimSpace(string(out))
	if err != nil || strings.HasPrefix(reply, "ERR") || strings.HasPrefix(reply, "(error)") || strings.HasPrefix(reply, "NOPERM") {
		return "", fmt.Errorf("redis-cli %s: %v: %s", args[0], err, reply)
	}
	return reply, nil
}

// checkPoison reads the dead-letter stream: every poison entry must be there with its kind and a
// reason, and nothing else (the load tool casts only valid votes).
func (c *chaos) checkPoison(ctx context.Context) {
	out, err := c.redisAdmin(ctx, "", "XRANGE", "votes:stream:dead", "-", "+")
	if err != nil {
		c.t.Errorf("reading the dead letters: %v", err)
		return
	}
	// redis-cli prints each entry as its ID, then its fields and values, one per line.
	type letter struct{ kind, reason string }
	dead := map[string]letter{}
	var lines []string
	for l := range strings.Lines(out) {
		lines = append(lines, strings.TrimSpace(l))
	}
	for i := 0; i < len(lines); i++ {
		if lines[i] != "id" || i+1 >= len(lines) {
			continue
		}
		id := lines[i+1]
		var l letter
		for j := i + 2; j+1 < len(lines) && lines[j] != "id"; j += 2 {
			switch lines[j] {
			case "kind":
				l.kind = lines[j+1]
			case "reason":
				l.reason = lines[j+1]
			}
		}
		dead[id] = l
	}
	for i := range c.poisoned {
		p := &c.poisoned[i]
		l, ok := dead[p.ID]
		switch {
		case !ok:
			p.Got = "not dead-lettered"
			c.t.Errorf("poison entry %s (%s) is not on the dead-letter stream", p.ID, p.What)
		case l.kind != p.Kind || l.reason == "":
			p.Got = l.kind + ": " + l.reason
			c.t.Errorf("poison entry %s (%s): dead letter %q, %q; want kind %s with a reason", p.ID, p.What, l.kind, l.reason, p.Kind)
		default:
			p.Got = l.kind + ": " + l.reason
		}
		delete(dead, p.ID)
	}
	for id, l := range dead {
		c.t.Errorf("dead letter %s (%s: %s) is not one of the poison entries: a vote of the load was set aside", id, l.kind, l.reason)
	}
}

// notReadySpans reads the samples: the stretches during which a worker's healthcheck failed, and
// why.
func (c *chaos) notReadySpans() []readinessSpan {
	var spans []readinessSpan
	var cur *readinessSpan
	for _, sm := range c.mon.snapshot() {
		if len(sm.notReady) == 0 {
			cur = nil
			continue
		}
		if cur == nil {
			spans = append(spans, readinessSpan{from: sm.at})
			cur = &spans[len(spans)-1]
		}
		cur.to = sm.at
		for _, r := range sm.notReady {
			if !slices.Contains(cur.reasons, r) {
				cur.reasons = append(cur.reasons, r)
			}
		}
	}
	return spans
}

type readinessSpan struct {
	from, to time.Duration
	reasons  []string
}
