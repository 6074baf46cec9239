package apiserver

import (
	"testing"
	"time"
)

// TestFailureLimiter: five failures within a minute make the sixth attempt
// wait until the oldest failure leaves the window; keys are independent.
func TestFailureLimiter(t *testing.T) {
	now := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newFailureLimiter(5, time.Minute)
	l.now = func() time.Time { return now }
	for i := range 5 {
		if w := l.retryAfter("10.0.0.1"); w != 0 {
			t.Fatalf("attempt %d: wait %v", i+1, w)
		}
		l.fail("10.0.0.1")
		now = now.Add(10 * time.Second)
	}
	// Failures at 0s..40s; now is 50s.
	if w := l.retryAfter("10.0.0.1"); w != 10*time.Second {
		t.Errorf("sixth attempt: wait %v, want 10s", w)
	}
	if w := l.retryAfter("10.0.0.2"); w != 0 {
		t.Errorf("another client waits %v", w)
	}
	now = now.Add(10 * time.Second) // the first failure leaves the window
	if w := l.retryAfter("10.0.0.1"); w != 0 {
		t.Errorf("after the window: wait %v", w)
	}
	l.fail("10.0.0.1")
	if w := l.retryAfter("10.0.0.1"); w != 10*time.Second {
		t.Errorf("after another failure: wait %v, want 10s", w)
	}
	now = now.Add(2 * time.Minute)
	if w := l.retryAfter("10.0.0.1"); w != 0 {
		t.Errorf("long after: wait %v", w)
	}
	if len(l.fails) != 0 {
		t.Errorf("%d keys kept after their failures expired", len(l.fails))
	}
}
