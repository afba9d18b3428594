package llm_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-voting-app/voting-app/analyzer/llm"
)

// clock is a settable clock for budgets.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.t = t }

func TestBudgetIsASlidingMinute(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d string) time.Time {
		dd, err := time.ParseDuration(d)
		if err != nil {
			t.Fatal(err)
		}
		return t0.Add(dd)
	}
	type step struct {
		at   string // after t0
		want bool
	}
	tests := []struct {
		name  string
		n     int
		steps []step
	}{
		{"burst, then one more a minute after the first", 3, []step{
			{"0s", true}, {"0s", true}, {"0s", true}, {"0s", false}, {"59.999s", false},
			{"60s", true}, {"60s", true}, {"60s", true}, {"60s", false},
		}},
		// Grants at 0, 10 and 20 s free their places at 60, 70 and 80 s, one by one: never more
		// than 3 in any 60 seconds. A token bucket of 3 a minute (burst 3) would grant a fourth at 59 s.
		{"spread", 3, []step{
			{"0s", true}, {"10s", true}, {"20s", true}, {"59s", false},
			{"60s", true}, {"65s", false}, {"70s", true}, {"79s", false}, {"80s", true}, {"80s", false},
		}},
		{"none", 0, []step{{"0s", false}, {"1h", false}}},
		{"a clock stepping back refuses", 1, []step{{"10s", true}, {"0s", false}, {"70s", true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &clock{}
			b := llm.NewBudget(tt.n, c.now)
			for i, s := range tt.steps {
				c.set(at(s.at))
				if got := b.Allow(); got != s.want {
					t.Fatalf("step %d at +%s: Allow() = %v, want %v", i, s.at, got, s.want)
				}
			}
		})
	}
}

func TestBudgetUnderContention(t *testing.T) {
	c := &clock{t: time.Unix(0, 0)}
	b := llm.NewBudget(10, c.now)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if b.Allow() {
				granted.Add(1)
			}
		})
	}
	wg.Wait()
	if n := granted.Load(); n != 10 {
		t.Errorf("200 concurrent calls on a budget of 10: %d granted", n)
	}
}
