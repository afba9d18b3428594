// Package latency records how long requests took and summarises them as percentiles. It uses an
// HDR histogram: constant memory and recording cost whatever the number of samples, with a fixed
// relative precision instead of the unbounded memory of keeping every sample.
package latency

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// The histogram counts whole microseconds from 1 µs to an hour, to 3 significant digits: a
// recorded value differs from the true one by at most 1 µs plus 0.1% (RelativeError).
const (
	unit          = time.Microsecond
	lowest        = 1
	highest       = int64(time.Hour / unit)
	digits        = 3
	RelativeError = 0.001
)

// Histogram is safe for concurrent use.
type Histogram struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// New returns an empty histogram.
func New() *Histogram {
	return &Histogram{h: hdrhistogram.New(lowest, highest, digits)}
}

// Record adds one sample. Durations beyond the range are clamped to its ends, so a stuck request
// still shows up as the maximum rather than vanishing.
func (h *Histogram) Record(d time.Duration) {
	v := min(max(int64(d/unit), 0), highest)
	h.mu.Lock()
	h.h.RecordValue(v) // cannot fail: v is within the histogram's range
	h.mu.Unlock()
}

// Summary is the distribution of the recorded samples.
type Summary struct {
	Count int64
	Min   time.Duration
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

// Summary returns the percentiles so far; all zero when nothing was recorded.
func (h *Histogram) Summary() Summary {
	h.mu.Lock()
	defer h.mu.Unlock()
	at := func(p float64) time.Duration { return time.Duration(h.h.ValueAtPercentile(p)) * unit }
	return Summary{
		Count: h.h.TotalCount(),
		Min:   time.Duration(h.h.Min()) * unit,
		Mean:  time.Duration(h.h.Mean() * float64(unit)),
		P50:   at(50),
		P90:   at(90),
		P99:   at(99),
		P999:  at(99.9),
		Max:   time.Duration(h.h.Max()) * unit,
	}
}
