package daemonset

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

func TestComputeStatus(t *testing.T) {
	edge := map[string]string{"role": "edge"}
	ds := newDS(nodeSelector(edge), minReady(30))
	ds.Generation = 4
	ds.Status.ObservedGeneration = 3
	ds.Status.CollisionCount = ptr.To(int32(2))
	nodes := []*corev1.Node{
		newNode("ready-new", nodeLabels(edge)),
		newNode("ready-old", nodeLabels(edge)),
		newNode("not-available", nodeLabels(edge)),
		newNode("unready", nodeLabels(edge)),
		newNode("empty", nodeLabels(edge)),
		newNode("dup", nodeLabels(edge)),
		newNode("off-selector"),
		newNode("tainted", nodeLabels(edge), taint("x", corev1.TaintEffectNoSchedule)),
	}
	pods := []*corev1.Pod{
		pod(ds, "a", "ready-new"),
		pod(ds, "b", "ready-old", hash("old")),
		pod(ds, "c", "not-available", readySince(t0.Add(-10*time.Second))),
		pod(ds, "d", "unready", notReady()),
		// The oldest pod of a node is the one counted.
		pod(ds, "e-old", "dup", hash("old"), created(t0.Add(-2*time.Hour))),
		pod(ds, "e-new", "dup", notReady()),
		pod(ds, "f", "off-selector"),
		pod(ds, "g", "tainted"),
	}
	got := computeStatus(ds, nodes, nodePods(pods, false), "new", t0)
	want := appsv1.DaemonSetStatus{
		DesiredNumberScheduled: 6, CurrentNumberScheduled: 5, NumberMisscheduled: 2,
		NumberReady: 4, NumberAvailable: 3, NumberUnavailable: 3, UpdatedNumberScheduled: 3,
		ObservedGeneration: 3, CollisionCount: ptr.To(int32(2)),
	}
	if got.DesiredNumberScheduled != want.DesiredNumberScheduled || got.CurrentNumberScheduled != want.CurrentNumberScheduled ||
		got.NumberMisscheduled != want.NumberMisscheduled || got.NumberReady != want.NumberReady ||
		got.NumberAvailable != want.NumberAvailable || got.NumberUnavailable != want.NumberUnavailable ||
		got.UpdatedNumberScheduled != want.UpdatedNumberScheduled || got.ObservedGeneration != want.ObservedGeneration ||
		*got.CollisionCount != *want.CollisionCount {
		t.Errorf("status\n got %+v\nwant %+v", got, want)
	}
}
