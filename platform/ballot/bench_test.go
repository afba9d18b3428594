package ballot

import (
	"fmt"
	"strconv"
	"testing"
	"time"
)

// benchEntries is a batch as the worker reads it: the field maps go-redis returns for n entries
// by voters voters, in stream order.
func benchEntries(n, voters int) (ids []string, fields []map[string]any) {
	at := strconv.FormatInt(time.Now().UnixMilli(), 10)
	for i := range n {
		ids = append(ids, fmt.Sprintf("1700000000000-%d", i))
		fields = append(fields, map[string]any{
			FieldVoter:  fmt.Sprintf("%032x", (i*7919)%voters),
			FieldOption: []string{KeyA, KeyB}[i%2],
			FieldCastAt: at,
		})
	}
	return ids, fields
}

// BenchmarkDecodeEntry is one stream entry checked and turned into a Vote.
func BenchmarkDecodeEntry(b *testing.B) {
	ids, fields := benchEntries(1, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEntry(ids[0], fields[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLatest is the per-voter dedupe of a batch of 1,000 votes by 200 voters.
func BenchmarkLatest(b *testing.B) {
	ids, fields := benchEntries(1000, 200)
	votes := make([]Vote, len(ids))
	for i := range ids {
		votes[i], _ = DecodeEntry(ids[i], fields[i])
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := Latest(votes); len(got) != 200 {
			b.Fatalf("%d voters", len(got))
		}
	}
}

// BenchmarkDecodeBatch is what the worker does with a batch before the database: decode 1,000
// entries by 1,000 voters (the worker's default batch; a busy stream rarely repeats a voter within
// one), then keep each voter's latest. It reports the cost per entry.
func BenchmarkDecodeBatch(b *testing.B) {
	ids, fields := benchEntries(1000, 1000)
	votes := make([]Vote, 0, len(ids))
	b.ReportAllocs()
	for b.Loop() {
		votes = votes[:0]
		for i := range ids {
			v, err := DecodeEntry(ids[i], fields[i])
			if err != nil {
				b.Fatal(err)
			}
			votes = append(votes, v)
		}
		Latest(votes)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(ids)), "ns/entry")
}
