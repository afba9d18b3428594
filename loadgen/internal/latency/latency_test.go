package latency

import (
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestSummaryPercentiles(t *testing.T) {
	const n = 100_000
	tests := []struct {
		name    string
		samples func(i int) time.Duration // sample i of n
	}{
		{"constant", func(int) time.Duration { return 5 * time.Millisecond }},
		{"uniform 1µs to 100ms", func(i int) time.Duration { return time.Duration(i+1) * time.Microsecond }},
		{"exponential, mean 2ms", func(i int) time.Duration {
			// The inverse CDF at evenly spaced probabilities: the exact shape without randomness.
			p := (float64(i) + 0.5) / n
			return time.Duration(-math.Log(1-p) * float64(2*time.Millisecond))
		}},
		{"bimodal: 1% slow", func(i int) time.Duration {
			if i%100 == 0 {
				return 1200 * time.Millisecond
			}
			return 800*time.Microsecond + time.Duration(i%7)*time.Microsecond
		}},
		{"long tail up to 30s", func(i int) time.Duration {
			return time.Duration(math.Pow(float64(i+1)/n, 8) * float64(30*time.Second))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := New()
			exact := make([]time.Duration, n)
			for i := range n {
				exact[i] = tt.samples(i)
				h.Record(exact[i])
			}
			slices.Sort(exact)
			s := h.Summary()
			if s.Count != n {
				t.Fatalf("count %d, want %d", s.Count, n)
			}
			for _, c := range []struct {
				name string
				p    float64
				got  time.Duration
			}{
				{"min", 0, s.Min}, {"p50", 50, s.P50}, {"p90", 90, s.P90}, {"p99", 99, s.P99},
				{"p99.9", 99.9, s.P999}, {"max", 100, s.Max},
			} {
				if !near(c.got, exact, c.p) {
					t.Errorf("%s = %v, want %v within %.1f%% + 1µs", c.name, c.got, nearestRank(exact, c.p), RelativeError*100)
				}
			}
			var sum time.Duration
			for _, d := range exact {
				sum += d
			}
			if mean := sum / n; !within(s.Mean, mean) {
				t.Errorf("mean %v, want %v", s.Mean, mean)
			}
		})
	}
}

// near reports whether got is, within the histogram's precision, the p-th percentile of the sorted
// samples by nearest rank or by one of its neighbours (percentile definitions differ by a rank).
func near(got time.Duration, sorted []time.Duration, p float64) bool {
	r := rank(len(sorted), p)
	for _, i := range []int{r - 1, r, r + 1} {
		if i >= 0 && i < len(sorted) && within(got, sorted[i]) {
			return true
		}
	}
	return false
}

func within(got, want time.Duration) bool {
	diff := math.Abs(float64(got - want))
	return diff <= float64(want)*RelativeError+float64(unit)
}

func rank(n int, p float64) int {
	return max(int(math.Ceil(p/100*float64(n)))-1, 0)
}

func nearestRank(sorted []time.Duration, p float64) time.Duration {
	return sorted[rank(len(sorted), p)]
}

func TestRecordClamps(t *testing.T) {
	h := New()
	h.Record(-time.Second)
	h.Record(2 * time.Hour)
	s := h.Summary()
	if s.Count != 2 || s.Min != 0 || !within(s.Max, time.Hour) {
		t.Fatalf("summary %+v, want the samples clamped to [0, 1h]", s)
	}
}

func TestEmpty(t *testing.T) {
	if s := New().Summary(); s != (Summary{}) {
		t.Fatalf("empty histogram: %+v", s)
	}
}

func TestConcurrentRecord(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 1000 {
				h.Record(time.Duration(g*1000+i) * time.Microsecond)
			}
		})
	}
	wg.Wait()
	if s := h.Summary(); s.Count != 8000 || !within(s.Max, 7999*time.Microsecond) {
		t.Fatalf("summary %+v after 8000 samples up to 7999µs", s)
	}
}
