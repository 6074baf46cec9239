package framework

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// benchCluster builds n nodes of 32 cpu, 128Gi and 110 pods in 10 zones,
// with existing pods from podFor(i) bound round-robin.
func benchCluster(n, existing int, podFor func(i int) podB) *Snapshot {
	ns := make([]*corev1.Node, n)
	for i := range ns {
		ns[i] = newNode(fmt.Sprintf("node-%05d", i)).zone(fmt.Sprintf("zone-%d", i%10)).
			alloc("cpu", "32").alloc("memory", "128Gi").obj()
	}
	ps := make([]*corev1.Pod, existing)
	for i := range ps {
		ps[i] = podFor(i).on(ns[i%n].Name).obj()
	}
	return NewSnapshot(ns, ps)
}

// runScheduleBench schedules b.N pods from podFor, counting each against
// the node chosen (as the scheduler's cache assumes it) before the next.
func runScheduleBench(b *testing.B, snap *Snapshot, podFor func(i int) podB) {
	p := DefaultProfile("default-scheduler")
	ctx := context.Background()
	incoming := make([]*corev1.Pod, b.N)
	for i := range incoming {
		incoming[i] = podFor(i).obj()
		incoming[i].Name = fmt.Sprintf("new-%d", i)
		incoming[i].UID = "new-" + incoming[i].UID
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := p.Schedule(ctx, incoming[i], snap)
		if err != nil {
			b.Fatal(err)
		}
		assumed := incoming[i].DeepCopy()
		assumed.Spec.NodeName = res.SuggestedHost
		snap.Get(res.SuggestedHost).AddPod(assumed)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pods/s")
}

// BenchmarkSchedule5000Nodes: plain pods with requests on 5,000 nodes
// holding 10,000 pods.
func BenchmarkSchedule5000Nodes(b *testing.B) {
	podFor := func(i int) podB {
		return newPod(fmt.Sprintf("p-%d", i)).label("app", fmt.Sprintf("app-%d", i%100)).req("cpu", "100m", "memory", "128Mi")
	}
	runScheduleBench(b, benchCluster(5000, 10000, podFor), podFor)
}

// BenchmarkScheduleRequiredAntiAffinity1000Nodes: every pod, existing and
// new, keeps away from the other pods of its service by hostname; 1,000
// nodes hold 1,000 such pods.
func BenchmarkScheduleRequiredAntiAffinity1000Nodes(b *testing.B) {
	podFor := func(i int) podB {
		app := fmt.Sprintf("svc-%d", i%50)
		return newPod(fmt.Sprintf("p-%d", i)).label("app", app).req("cpu", "100m", "memory", "128Mi").
			podAntiAffinity(term(app, corev1.LabelHostname))
	}
	runScheduleBench(b, benchCluster(1000, 1000, podFor), podFor)
}

// BenchmarkScheduleTopologySpread1000Nodes: pods spread over zones
// (DoNotSchedule) and hosts (ScheduleAnyway); 1,000 nodes hold 1,000 such
// pods.
func BenchmarkScheduleTopologySpread1000Nodes(b *testing.B) {
	podFor := func(i int) podB {
		app := fmt.Sprintf("svc-%d", i%20)
		return newPod(fmt.Sprintf("p-%d", i)).label("app", app).req("cpu", "100m", "memory", "128Mi").
			spread(spreadConstraint(zoneKey, 1, corev1.DoNotSchedule, app)).
			spread(spreadConstraint(corev1.LabelHostname, 1, corev1.ScheduleAnyway, app))
	}
	runScheduleBench(b, benchCluster(1000, 1000, podFor), podFor)
}
