package ballot

import (
	"fmt"
	"testing"
)

// BenchmarkLatest is the per-voter dedupe of a batch of 1,000 votes by 200 voters.
func BenchmarkLatest(b *testing.B) {
	votes := make([]Vote, 1000)
	for i := range votes {
		votes[i] = Vote{Position: Position{Ms: 1700000000000, Seq: int64(i)},
			Voter: fmt.Sprintf("%032x", (i*7919)%200), Option: []string{KeyA, KeyB}[i%2]}
	}
	b.ReportAllocs()
	for b.Loop() {
		if got := Latest(votes); len(got) != 200 {
			b.Fatalf("%d voters", len(got))
		}
	}
}
