package nodelifecycle

import (
	"context"
	"slices"
	"sort"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

const (
	unreachableNoSchedule = "node.kubernetes.io/unreachable:NoSchedule"
	unreachableNoExecute  = "node.kubernetes.io/unreachable:NoExecute"
)

// TestMonitorHealth follows one node through silence and back: its lease
// alone keeps it healthy; past the grace period its conditions turn
// Unknown, its pods not ready and it gets the unreachable taints; back,
// the NoExecute taint goes at once.
func TestMonitorHealth(t *testing.T) {
	f := newFixture(t, Options{}, newNode("quiet", "a"), newNode("lost", "a"), newNode("other", "a"))
	f.addPod(podOn("p", "lost"))
	f.start()
	f.pass()
	if ev := f.events(); !hasEvent(ev, "Normal RegisteredNode Registered Node lost in Controller") {
		t.Errorf("events %v lack RegisteredNode", ev)
	}

	// quiet never posts status again but renews its lease; lost goes
	// silent altogether.
	for range 8 {
		f.step(5*time.Second, "quiet", "other")
		if f.ready("lost") != corev1.ConditionTrue {
			t.Fatalf("lost turned %s at +%v, within the grace period", f.ready("lost"), f.clock.Since(t0))
		}
	}
	f.step(5*time.Second, "quiet", "other")
	if f.ready("quiet") != corev1.ConditionTrue {
		t.Errorf("quiet, renewing its lease, is %s", f.ready("quiet"))
	}
	n := f.node("lost")
	for _, ct := range staleConditions {
		c := findCondition(n, ct)
		if c.Status != corev1.ConditionUnknown || c.Reason != ReasonNodeStatusUnknown || c.Message != MessageNodeStatusUnknown {
			t.Errorf("lost's %s = %+v, want Unknown %s", ct, c, ReasonNodeStatusUnknown)
		}
	}
	if c := findCondition(n, corev1.NodeNetworkUnavailable); c.Status != corev1.ConditionFalse {
		t.Errorf("NetworkUnavailable changed: %+v", c)
	}
	if got := f.podReady("p"); got != corev1.ConditionFalse {
		t.Errorf("pod on lost node is Ready %s, want False", got)
	}
	ev := f.events()
	for _, want := range []string{"Normal NodeNotReady Node lost status is now: NodeNotReady", "Warning NodeNotReady Node is not ready"} {
		if !hasEvent(ev, want) {
			t.Errorf("events %v lack %q", ev, want)
		}
	}
	if got := f.taintKeys("lost"); !slices.Equal(got, []string{unreachableNoSchedule}) {
		t.Errorf("taints when Unknown = %v, want the NoSchedule one first", got)
	}
	f.step(5*time.Second, "quiet", "other")
	if got := f.taintKeys("lost"); !slices.Equal(got, []string{unreachableNoExecute, unreachableNoSchedule}) {
		t.Errorf("taints a pass later = %v", got)
	}

	f.clock.Step(5 * time.Second)
	f.postReady("lost")
	f.step(0, "quiet", "other")
	if got := f.taintKeys("lost"); len(got) != 0 {
		t.Errorf("taints once ready again = %v, want none", got)
	}
}

// TestNodeLeaseLoss: a node stops renewing its Lease; 40 s later it is
// Unknown, then tainted unreachable:NoExecute; the taint eviction
// controller deletes its pod without a toleration at once and the one
// tolerating unreachable for 300 s then, not before.
func TestNodeLeaseLoss(t *testing.T) {
	f := newFixture(t, Options{}, newNode("lost", "a"), newNode("ok", "a"))
	f.addPod(podOn("plain", "lost"))
	f.addPod(podOn("tolerant", "lost", corev1.Toleration{
		Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute,
		TolerationSeconds: ptr.To[int64](300),
	}))
	f.withEvictor()
	f.start()
	f.pass()

	var tainted time.Time
	for tainted.IsZero() {
		f.step(5*time.Second, "ok")
		since := f.clock.Since(t0)
		switch {
		case since <= 40*time.Second && f.ready("lost") != corev1.ConditionTrue:
			t.Fatalf("lost is %s at +%v", f.ready("lost"), since)
		case since == 45*time.Second && f.ready("lost") != corev1.ConditionUnknown:
			t.Fatalf("lost is %s at +%v, want Unknown", f.ready("lost"), since)
		case since > time.Minute:
			t.Fatalf("no NoExecute taint by +%v: taints %v", since, f.taintKeys("lost"))
		}
		if at, ok := f.hasNoExecute("lost", UnreachableTaint); ok {
			tainted = at
		}
	}
	if !tainted.Equal(f.clock.Now()) {
		t.Errorf("taint added at %v, want %v", tainted, f.clock.Now())
	}
	f.eventually("the untolerating pod deleted", func() bool { return !f.podExists("plain") })
	f.eventually("the tolerating pod's deletion scheduled", func() bool { return f.evictorScheduled() == 1 })

	for f.clock.Since(tainted) < 295*time.Second {
		f.step(5*time.Second, "ok")
	}
	f.clock.Step(4 * time.Second)
	f.settle()
	if !f.podExists("tolerant") {
		t.Fatalf("tolerating pod deleted before its 300 s, at +%v", f.clock.Since(tainted))
	}
	f.clock.Step(time.Second)
	f.eventually("the tolerating pod deleted at +300s", func() bool { return !f.podExists("tolerant") })
}

// TestZoneSecondaryRate: with 36 of 60 nodes down, zone a is partly
// disrupted and, larger than 50 nodes, tainted one node per 100 s; zone
// b, with 3 of 10 down, is below the threshold and tainted one per 10 s.
func TestZoneSecondaryRate(t *testing.T) {
	aNodes, bNodes := names("a", 60), names("b", 10)
	var nodes []*corev1.Node
	for _, n := range aNodes {
		nodes = append(nodes, newNode(n, "a"))
	}
	for _, n := range bNodes {
		nodes = append(nodes, newNode(n, "b"))
	}
	f := newFixture(t, Options{}, nodes...)
	f.start()
	f.pass()
	down := map[string]bool{}
	for _, n := range append(slices.Clone(aNodes[:36]), bNodes[:3]...) {
		down[n] = true
	}
	var alive []string
	for _, n := range append(slices.Clone(aNodes), bNodes...) {
		if !down[n] {
			alive = append(alive, n)
		}
	}
	for i := 1; f.clock.Since(t0) < 270*time.Second; i++ {
		// The live nodes renew every 20 s, well within the grace period.
		if i%4 == 0 {
			f.step(5*time.Second, alive...)
		} else {
			f.step(5 * time.Second)
		}
	}
	taintedAt := func(nodes []string) []int {
		var out []int
		for _, n := range nodes {
			if at, ok := f.hasNoExecute(n, UnreachableTaint); ok {
				if !down[n] {
					t.Errorf("live node %s tainted", n)
				}
				out = append(out, int(at.Sub(t0)/time.Second))
			}
		}
		sort.Ints(out)
		return out
	}
	// Down from t0, Unknown at +45 s, queued a pass later: the first
	// taint at +50 s. The float32 0.01 refills a hair after 100 s, which
	// the 5 s passes round up.
	if got := taintedAt(bNodes); !slices.Equal(got, []int{50, 60, 70}) {
		t.Errorf("zone b tainted at %v s, want [50 60 70]", got)
	}
	if got := taintedAt(aNodes); !slices.Equal(got, []int{50, 155, 260}) {
		t.Errorf("zone a tainted at %v s, want [50 155 260]", got)
	}
	if s := f.c.zoneStates[zoneKey(f.node("a-00"))]; s != StatePartialDisruption {
		t.Errorf("zone a is %s", s)
	}
	if s := f.c.zoneStates[zoneKey(f.node("b-00"))]; s != StateNormal {
		t.Errorf("zone b is %s", s)
	}
}

// TestFullDisruption: every node of every zone stops renewing at once:
// the controller takes itself to be the one cut off, applies no NoExecute
// taint and no pod is deleted; when a node is back, tainting resumes.
func TestFullDisruption(t *testing.T) {
	var nodes []*corev1.Node
	all := append(names("a", 3), names("b", 3)...)
	for _, n := range all {
		nodes = append(nodes, newNode(n, n[:1]))
	}
	f := newFixture(t, Options{}, nodes...)
	for _, n := range all {
		f.addPod(podOn("p-"+n, n))
	}
	f.withEvictor()
	f.start()
	f.pass()
	for f.clock.Since(t0) < 3*time.Minute {
		f.step(5 * time.Second)
		for _, n := range all {
			if _, ok := f.hasNoExecute(n, UnreachableTaint); ok {
				t.Fatalf("%s tainted NoExecute at +%v", n, f.clock.Since(t0))
			}
		}
	}
	for _, n := range all {
		if f.ready(n) != corev1.ConditionUnknown {
			t.Errorf("%s is %s, want Unknown", n, f.ready(n))
		}
		if got := f.taintKeys(n); !slices.Equal(got, []string{unreachableNoSchedule}) {
			t.Errorf("%s taints %v, want only the NoSchedule one", n, got)
		}
		if !f.podExists("p-" + n) {
			t.Errorf("pod on %s deleted", n)
		}
	}
	if n := f.evictorScheduled(); n != 0 {
		t.Errorf("%d deletions scheduled", n)
	}

	// a-00 is back: the others are tainted again, at the normal rate.
	f.clock.Step(5 * time.Second)
	f.postReady("a-00")
	f.pass()
	for range 3 {
		f.step(5*time.Second, "a-00")
	}
	tainted := 0
	for _, n := range all[1:] {
		if _, ok := f.hasNoExecute(n, UnreachableTaint); ok {
			tainted++
		}
	}
	if tainted == 0 {
		t.Error("no node tainted after leaving the disruption mode")
	}
	f.eventually("pods on tainted nodes deleted", func() bool {
		gone := 0
		for _, n := range all[1:] {
			if !f.podExists("p-" + n) {
				gone++
			}
		}
		return gone == tainted
	})
}

func (f *fixture) evictorScheduled() int {
	return f.evictor.Scheduled()
}

// TestRunOnClockTicker: Run passes over the nodes on the clock's ticker,
// once at start and then every NodeMonitorPeriod of the (fake) clock.
func TestRunOnClockTicker(t *testing.T) {
	f := newFixture(t, Options{}, newNode("lost", ""))
	f.start()
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(f.ctx)
	go func() {
		defer close(done)
		if err := f.c.Run(ctx, 1); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	defer func() {
		cancel()
		<-done
	}()
	// The monitor's and the tainting pass's tickers.
	f.eventually("the first pass and both tickers", func() bool { return f.c.passes.Load() == 1 && f.clock.Waiters() >= 2 })
	for i := int64(2); f.ready("lost") == corev1.ConditionTrue; i++ {
		if i > 20 {
			t.Fatal("lost never turned Unknown")
		}
		f.clock.Step(DefaultNodeMonitorPeriod)
		f.eventually("a pass per period", func() bool { return f.c.passes.Load() == i })
		f.settle()
	}
	if got := f.clock.Since(t0); got != 45*time.Second {
		t.Errorf("Unknown after %v, want 45s", got)
	}
	f.eventually("the unreachable taints", func() bool {
		return slices.Equal(f.taintKeys("lost"), []string{unreachableNoSchedule})
	})
}
