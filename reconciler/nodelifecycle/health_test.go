package nodelifecycle

import (
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestAssess(t *testing.T) {
	const grace, startup = 40 * time.Second, 60 * time.Second
	// A node whose status was last posted ten minutes before t0.
	oldStatus := func() *corev1.Node {
		n := newNode("n", "")
		for i := range n.Status.Conditions {
			n.Status.Conditions[i].LastHeartbeatTime = metav1.NewTime(t0.Add(-10 * time.Minute))
		}
		return n
	}
	known := func(n *corev1.Node, probe time.Time, l *coordinationv1.Lease) *nodeHealth {
		s := n.DeepCopy().Status
		return &nodeHealth{probe: probe, readyTransition: probe, status: &s, lease: l}
	}
	neverPosted := func() *corev1.Node {
		n := newNode("n", "")
		n.CreationTimestamp = metav1.NewTime(t0)
		n.Status.Conditions = nil
		return n
	}
	heartbeat := func(at time.Time) *corev1.Node {
		n := oldStatus()
		n.Status.Conditions[0].LastHeartbeatTime = metav1.NewTime(at)
		return n
	}
	for _, tc := range []struct {
		name      string
		prev      func() *nodeHealth
		node      *corev1.Node
		lease     *coordinationv1.Lease
		now       time.Time
		write     bool
		ready     corev1.ConditionStatus
		reason    string
		wantProbe time.Time
	}{{
		name:  "a renewed lease keeps a node with an old status healthy",
		prev:  func() *nodeHealth { return known(oldStatus(), t0, lease("n", t0)) },
		node:  oldStatus(),
		lease: lease("n", t0.Add(50*time.Second)),
		now:   t0.Add(55 * time.Second), ready: corev1.ConditionTrue, reason: "Kubelet", wantProbe: t0.Add(55 * time.Second),
	}, {
		name:  "silence within the grace period changes nothing",
		prev:  func() *nodeHealth { return known(oldStatus(), t0, lease("n", t0)) },
		node:  oldStatus(),
		lease: lease("n", t0),
		now:   t0.Add(grace), ready: corev1.ConditionTrue, reason: "Kubelet", wantProbe: t0,
	}, {
		name:  "silence past the grace period turns the conditions Unknown",
		prev:  func() *nodeHealth { return known(oldStatus(), t0, lease("n", t0)) },
		node:  oldStatus(),
		lease: lease("n", t0),
		now:   t0.Add(grace + time.Second), write: true, ready: corev1.ConditionUnknown, reason: ReasonNodeStatusUnknown, wantProbe: t0,
	}, {
		name: "a new Ready heartbeat counts as a probe",
		prev: func() *nodeHealth { return known(oldStatus(), t0, nil) },
		node: heartbeat(t0.Add(30 * time.Second)),
		now:  t0.Add(45 * time.Second), ready: corev1.ConditionTrue, reason: "Kubelet", wantProbe: t0.Add(45 * time.Second),
	}, {
		name: "a node seen for the first time gets the grace period from now",
		node: oldStatus(),
		now:  t0, ready: corev1.ConditionTrue, reason: "Kubelet", wantProbe: t0,
	}, {
		name: "a node that never posted status has the startup grace period",
		node: neverPosted(),
		now:  t0.Add(startup), ready: "", wantProbe: t0,
	}, {
		name: "past the startup grace period it is never-updated Unknown",
		node: neverPosted(),
		now:  t0.Add(startup + time.Second), write: true, ready: corev1.ConditionUnknown, reason: ReasonNodeStatusNeverUpdated, wantProbe: t0,
	}, {
		name: "a node already Unknown is not written again",
		prev: func() *nodeHealth { return known(oldStatus(), t0, nil) },
		node: func() *corev1.Node {
			n := oldStatus()
			n.Status.Conditions[0].Status = corev1.ConditionUnknown
			n.Status.Conditions[0].Reason = ReasonNodeStatusUnknown
			for i := 1; i < 4; i++ {
				n.Status.Conditions[i].Status = corev1.ConditionUnknown
			}
			return n
		}(),
		now: t0.Add(time.Hour), ready: corev1.ConditionUnknown, reason: ReasonNodeStatusUnknown, wantProbe: t0,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			var prev *nodeHealth
			if tc.prev != nil {
				prev = tc.prev()
			}
			a := assess(prev, tc.node, tc.lease, tc.now, grace, startup)
			if a.write != tc.write {
				t.Errorf("write = %v, want %v", a.write, tc.write)
			}
			if !a.health.probe.Equal(tc.wantProbe) {
				t.Errorf("probe = %v, want %v", a.health.probe, tc.wantProbe)
			}
			var got corev1.ConditionStatus
			var reason string
			if a.current != nil {
				got, reason = a.current.Status, a.current.Reason
			}
			if got != tc.ready || reason != tc.reason {
				t.Errorf("Ready = %q (%s), want %q (%s)", got, reason, tc.ready, tc.reason)
			}
			if !tc.write {
				return
			}
			msg := MessageNodeStatusUnknown
			if tc.reason == ReasonNodeStatusNeverUpdated {
				msg = MessageNodeStatusNeverUpdated
			}
			for _, ct := range staleConditions {
				c := findCondition(a.node, ct)
				if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != tc.reason || c.Message != msg ||
					!c.LastTransitionTime.Time.Equal(tc.now) {
					t.Errorf("%s = %+v, want Unknown %s %q since %v", ct, c, tc.reason, msg, tc.now)
				}
			}
			if c := findCondition(a.node, corev1.NodeNetworkUnavailable); c != nil && c.Status != corev1.ConditionFalse {
				t.Errorf("NetworkUnavailable was changed: %+v", c)
			}
		})
	}
}
