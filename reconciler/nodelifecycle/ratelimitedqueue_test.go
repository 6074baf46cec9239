package nodelifecycle

import (
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// drive tries q every second for d on a fake clock and returns the
// seconds at which each value was handled.
func drive(clk *clocktesting.FakeClock, q *rateLimitedQueue, d time.Duration, fn func(timedValue) bool) map[string]int {
	start := clk.Now()
	got := map[string]int{}
	for {
		q.try(func(v timedValue) (bool, time.Duration) {
			if fn != nil && !fn(v) {
				return false, 500 * time.Millisecond
			}
			got[v.value] = int(clk.Now().Sub(start) / time.Second)
			return true, 0
		})
		if clk.Now().Sub(start) >= d {
			return got
		}
		clk.Step(time.Second)
	}
}

func TestRateLimitedQueue(t *testing.T) {
	t.Run("three nodes at 0.1/s are let through 10s apart", func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newRateLimitedQueue(clk, 0.1)
		for _, n := range []string{"a", "b", "c"} {
			if !q.add(n, n) {
				t.Fatalf("add %s refused", n)
			}
		}
		got := drive(clk, q, 30*time.Second, nil)
		var times []int
		for _, s := range got {
			times = append(times, s)
		}
		slices.Sort(times)
		if !slices.Equal(times, []int{0, 10, 20}) {
			t.Errorf("handled at %v s, want [0 10 20]", times)
		}
	})
	t.Run("a handled value is not queued again until removed", func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newRateLimitedQueue(clk, 1)
		q.add("a", "a")
		drive(clk, q, 0, nil)
		if q.add("a", "a") {
			t.Error("handled value queued again")
		}
		q.remove("a")
		if !q.add("a", "a") {
			t.Error("removed value not queued again")
		}
	})
	t.Run("a failed value is retried after its delay", func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newRateLimitedQueue(clk, 10)
		q.add("a", "a")
		fails := 2
		got := drive(clk, q, 10*time.Second, func(timedValue) bool { fails--; return fails < 0 })
		if got["a"] != 2 {
			t.Errorf("handled at %d s, want 2 (failed at 0 and 1, each retried half a second later)", got["a"])
		}
	})
	// 0.01 as a float32 is a hair under 0.01: the bucket refills a
	// fraction of a second after 100 s.
	t.Run("rate 0 lets nothing through; a new rate takes over with an empty bucket", func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newRateLimitedQueue(clk, 0.1)
		q.swapLimiter(0)
		q.add("a", "a")
		q.add("b", "b")
		if got := drive(clk, q, 60*time.Second, nil); len(got) != 0 {
			t.Fatalf("handled %v at rate 0", got)
		}
		q.swapLimiter(0.01)
		got := drive(clk, q, 210*time.Second, nil)
		var times []int
		for _, s := range got {
			times = append(times, s)
		}
		slices.Sort(times)
		if !slices.Equal(times, []int{101, 202}) {
			t.Errorf("handled at %v s, want [101 202]", times)
		}
	})
	t.Run("swapping from an empty bucket starts the new one empty", func(t *testing.T) {
		clk := clocktesting.NewFakeClock(t0)
		q := newRateLimitedQueue(clk, 0.1)
		q.add("a", "a")
		q.add("b", "b")
		drive(clk, q, 0, nil) // a takes the token
		q.swapLimiter(0.01)
		got := drive(clk, q, 120*time.Second, nil)
		if got["b"] != 101 {
			t.Errorf("b handled at %d s, want 101", got["b"])
		}
	})
}
