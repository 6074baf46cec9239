package framework

import (
	"context"
	"fmt"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The plugins remember per-node counts between cycles; a node whose pods
// change must be counted again.
func TestCountsFollowNodeChanges(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("n1").zone("a"), newNode("n2").zone("b")), nil)
	p := DefaultProfile("x")
	anti := newPod("p").label("app", "web").podAntiAffinity(term("web", corev1.LabelHostname)).obj()
	spread := newPod("q").label("app", "db").spread(spreadConstraint(zoneKey, 1, corev1.DoNotSchedule, "db")).obj()
	for range 2 { // twice, so the second cycle reads remembered counts
		if _, fit := schedule(t, p, anti, snap); fit != nil {
			t.Fatal(fit)
		}
		if _, fit := schedule(t, p, spread, snap); fit != nil {
			t.Fatal(fit)
		}
	}
	snap.Get("n1").AddPod(newPod("web-1").on("n1").label("app", "web").obj())
	snap.Get("n1").AddPod(newPod("db-1").on("n1").label("app", "db").obj())
	for range 3 {
		if res, fit := schedule(t, p, anti, snap); fit != nil || res.SuggestedHost != "n2" {
			t.Fatalf("anti-affinity after a web pod joined n1: %+v %v", res, fit)
		}
		if res, fit := schedule(t, p, spread, snap); fit != nil || res.SuggestedHost != "n2" {
			t.Fatalf("spread after a db pod joined zone a: %+v %v", res, fit)
		}
	}
	snap.Get("n1").RemovePod(newPod("web-1").obj())
	snap.Get("n2").AddPod(newPod("web-2").on("n2").label("app", "web").obj())
	if res, fit := schedule(t, p, anti, snap); fit != nil || res.SuggestedHost != "n1" {
		t.Fatalf("anti-affinity after web moved to n2: %+v %v", res, fit)
	}
	// Existing pods' anti-affinity is remembered per incoming pod's
	// labels. A node's first pod with anti-affinity changes the
	// snapshot's lists, so the snapshot is rebuilt over the same nodes, as
	// the scheduler's cache does.
	snap.Get("n2").AddPod(newPod("guard").on("n2").label("app", "guard").podAntiAffinity(term("other", corev1.LabelHostname)).obj())
	snap = NewSnapshotFromNodeInfos(snap.List())
	other := newPod("o").label("app", "other").obj()
	for range 2 {
		if res, fit := schedule(t, p, other, snap); fit != nil || res.SuggestedHost != "n1" {
			t.Fatalf("existing anti-affinity: %+v %v", res, fit)
		}
	}
	snap.Get("n1").AddPod(newPod("guard-2").on("n1").label("app", "guard").podAntiAffinity(term("other", corev1.LabelHostname)).obj())
	snap = NewSnapshotFromNodeInfos(snap.List())
	_, fit := schedule(t, p, other, snap)
	if want := "0/2 nodes are available: 2 node(s) didn't satisfy existing pods anti-affinity rules."; fit == nil || fit.Error() != want {
		t.Fatalf("got %v, want %q", fit, want)
	}
}

// One profile may schedule on several goroutines at once.
func TestScheduleConcurrently(t *testing.T) {
	ns := make([]nodeB, 200)
	for i := range ns {
		ns[i] = newNode(fmt.Sprintf("n%d", i)).zone(fmt.Sprintf("z%d", i%4))
	}
	existing := make([]podB, 400)
	for i := range existing {
		existing[i] = newPod(fmt.Sprintf("e%d", i)).on(fmt.Sprintf("n%d", i%200)).label("app", fmt.Sprintf("a%d", i%5)).
			req("cpu", "100m").podAntiAffinity(term(fmt.Sprintf("a%d", i%5), zoneKey+"-none"))
	}
	snap := NewSnapshot(nodes(ns...), pods(existing...))
	p := DefaultProfile("x")
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				app := fmt.Sprintf("a%d", (g+i)%5)
				pod := newPod(fmt.Sprintf("p%d-%d", g, i)).label("app", app).req("cpu", "100m").
					podAntiAffinity(term(app, corev1.LabelHostname)).
					spread(spreadConstraint(zoneKey, 2, corev1.ScheduleAnyway, app)).obj()
				if _, err := p.Schedule(context.Background(), pod, snap); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNodeMemoBounds(t *testing.T) {
	infos := make([]*NodeInfo, 300)
	for i := range infos {
		infos[i] = NewNodeInfo(newNode(fmt.Sprintf("n%d", i)).obj())
	}
	var m nodeMemo[int]
	calls := 0
	count := func(*NodeInfo) int { calls++; return 1 }
	keys := memoMaxEntries/len(infos) + 10
	for k := range keys {
		x := m.lock(len(infos))
		tbl := x.table(fmt.Sprint(k))
		for _, ni := range infos {
			tbl.get(ni, count)
		}
		x.unlock()
	}
	if calls != keys*len(infos) {
		t.Fatalf("computed %d times, want %d", calls, keys*len(infos))
	}
	x := m.lock(len(infos))
	defer x.unlock()
	if m.entries > memoMaxEntries {
		t.Errorf("%d entries kept, bound %d", m.entries, memoMaxEntries)
	}
	if _, ok := m.byKey["0"]; ok {
		t.Error("the least recently used key was kept")
	}
	tbl := x.table(fmt.Sprint(keys - 1))
	tbl.get(infos[0], count)
	if calls != keys*len(infos) {
		t.Error("the most recent key was dropped")
	}
	// A key that collected entries for many more nodes than the snapshot
	// has starts over.
	tbl = x.table(fmt.Sprint(keys - 1))
	if got := len(tbl.t.m); got != len(infos) {
		t.Fatalf("table has %d entries", got)
	}
	small := m.byKey[fmt.Sprint(keys-1)]
	x.numNodes = 10
	if tbl = x.table(fmt.Sprint(keys - 1)); tbl.t == small || len(tbl.t.m) != 0 {
		t.Error("oversized table kept")
	}
}
