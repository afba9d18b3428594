package queue

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/platform/ballot"
)

// benchEntries is a batch as the worker reads it: the field maps go-redis returns for n entries
// by voters voters, in stream order.
func benchEntries(n, voters int) (ids []string, fields []map[string]any) {
	now := time.Now().UnixMilli()
	at := strconv.FormatInt(now, 10)
	for i := range n {
		ids = append(ids, fmt.Sprintf("%d-%d", now, i))
		fields = append(fields, map[string]any{
			FieldVoter:  fmt.Sprintf("%032x", (i*7919)%voters),
			FieldOption: []string{ballot.KeyA, ballot.KeyB}[i%2],
			FieldCastAt: at,
		})
	}
	return ids, fields
}

// TestBenchEntriesDecode keeps the benchmarks' batch valid: make test does not run benchmarks,
// and a batch Decode refuses measures the error path, or fails make bench.
func TestBenchEntriesDecode(t *testing.T) {
	ids, fields := benchEntries(3, 2)
	for i := range ids {
		if _, err := Decode(Entry{ids[i], fields[i]}); err != nil {
			t.Fatalf("entry %s: %v", ids[i], err)
		}
	}
}

// BenchmarkDecodeEntry is one stream entry checked and turned into a Vote.
func BenchmarkDecodeEntry(b *testing.B) {
	ids, fields := benchEntries(1, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(Entry{ids[0], fields[0]}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeBatch is what the worker does with a batch before the database: decode 1,000
// entries by 1,000 voters (the worker's default batch; a busy stream rarely repeats a voter within
// one), then keep each voter's latest. It reports the cost per entry.
func BenchmarkDecodeBatch(b *testing.B) {
	ids, fields := benchEntries(1000, 1000)
	votes := make([]ballot.Vote, 0, len(ids))
	b.ReportAllocs()
	for b.Loop() {
		votes = votes[:0]
		for i := range ids {
			v, err := Decode(Entry{ids[i], fields[i]})
			if err != nil {
				b.Fatal(err)
			}
			votes = append(votes, v)
		}
		ballot.Latest(votes)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/entry")
}
