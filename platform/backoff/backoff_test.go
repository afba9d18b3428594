package backoff

import (
	"context"
	"testing"
	"time"
)

func TestBackoffDoublesUpToMaxWithJitter(t *testing.T) {
	b := Backoff{Min: 100 * time.Millisecond, Max: time.Second}
	// The un-jittered delays: each delay lies in [base/2, base].
	for i, base := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		base *= time.Millisecond
		if d := b.Next(); d < base/2 || d > base {
			t.Fatalf("attempt %d: delay %s, want within [%s, %s]", i+1, d, base/2, base)
		}
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %s, want at most Min", d)
	}
}

func TestSleepEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Fatal("Sleep reported a full wait on a cancelled context")
	}
	if time.Since(start) > time.Second {
		t.Fatal("Sleep did not return when the context ended")
	}
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a full short wait was reported as cut off")
	}
}
