package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// cover takes the coarsest whole intervals it can and merges neighbours: the segments it gives are
// what a range costs to read.
func TestCover(t *testing.T) {
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	at := func(s string) time.Time {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return day.Add(d)
	}
	for _, tc := range []struct {
		ranges [][2]string
		want   string // level: [lo, hi) …, per level, finest first
	}{
		{[][2]string{{"10s", "50s"}}, "10s: [10s 50s)"},
		{[][2]string{{"0s", "1m"}}, "1m: [0s 1m0s)"},
		{[][2]string{{"0s", "1h"}}, "1h: [0s 1h0m0s)"},
		{[][2]string{{"50s", "2h1m20s"}}, "10s: [50s 1m0s) [2h1m0s 2h1m20s) | 1m: [1m0s 1h0m0s) [2h0m0s 2h1m0s) | 1h: [1h0m0s 2h0m0s)"},
		// Buckets of 10m10s: the minutes inside each, the 10-second ends, merged where they meet.
		{[][2]string{{"0s", "10m10s"}, {"10m10s", "20m20s"}}, "10s: [10m0s 11m0s) [20m0s 20m20s) | 1m: [0s 10m0s) [11m0s 20m0s)"},
		// Whole-hour buckets over a day: one hourly segment.
		{[][2]string{{"0s", "6h"}, {"6h", "12h"}, {"12h", "18h"}, {"18h", "24h"}}, "1h: [0s 24h0m0s)"},
		{[][2]string{{"30s", "30s"}}, ""},
	} {
		var c coverSegments
		for _, r := range tc.ranges {
			c.add(at(r[0]), at(r[1]))
		}
		var levels []string
		for i, s := range c {
			if len(s.lo) == 0 {
				continue
			}
			var segs []string
			for j := range s.lo {
				segs = append(segs, fmt.Sprintf("[%s %s)", s.lo[j].Sub(day), s.hi[j].Sub(day)))
			}
			levels = append(levels, []string{"10s", "1m", "1h"}[i]+": "+strings.Join(segs, " "))
		}
		if got := strings.Join(levels, " | "); got != tc.want {
			t.Errorf("cover %v:\n got %s\nwant %s", tc.ranges, got, tc.want)
		}
	}
}
