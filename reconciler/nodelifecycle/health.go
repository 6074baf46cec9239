package nodelifecycle

import (
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition reasons and messages the controller writes when a node goes
// silent, as Kubernetes'.
const (
	ReasonNodeStatusUnknown       = "NodeStatusUnknown"
	MessageNodeStatusUnknown      = "Kubelet stopped posting node status."
	ReasonNodeStatusNeverUpdated  = "NodeStatusNeverUpdated"
	MessageNodeStatusNeverUpdated = "Kubelet never posted node status."
)

// staleConditions are the conditions set to Unknown when a node goes
// silent; NetworkUnavailable is left alone, the network plugin owns it.
var staleConditions = []corev1.NodeConditionType{
	corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure,
}

// nodeHealth is what the controller remembers of a node between passes.
// The times are the controller's own, never the node's: a node's clock
// may be off, and only a change in what it posts says it is alive.
type nodeHealth struct {
	probe           time.Time
	readyTransition time.Time
	status          *corev1.NodeStatus
	lease           *coordinationv1.Lease
}

// healthMap holds every node's nodeHealth; the pod worker reads it while
// the monitor writes it.
type healthMap struct {
	mu sync.Mutex
	m  map[string]*nodeHealth
}

func (h *healthMap) get(name string) *nodeHealth {
	h.mu.Lock()
	defer h.mu.Unlock()
	v, ok := h.m[name]
	if !ok {
		return nil
	}
	c := *v
	return &c
}

func (h *healthMap) set(name string, v *nodeHealth) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[name] = v
}

func (h *healthMap) delete(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.m, name)
}

func readyCondition(s *corev1.NodeStatus) *corev1.NodeCondition {
	if s == nil {
		return nil
	}
	for i := range s.Conditions {
		if s.Conditions[i].Type == corev1.NodeReady {
			return &s.Conditions[i]
		}
	}
	return nil
}

// assessment is the outcome of one look at a node.
type assessment struct {
	health *nodeHealth
	// observed is the Ready condition as the node left it (a made-up
	// Unknown one from its creation when it never posted one); current is
	// Ready after this look, pointing into node.
	observed corev1.NodeCondition
	current  *corev1.NodeCondition
	// node is the node with its conditions set to Unknown when write is
	// true: the status to write.
	node  *corev1.Node
	write bool
}

// assess is Kubernetes' tryUpdateNodeHealth without its writes: from what
// was remembered of a node (prev, nil if nothing), the node and its Lease
// now, it works out when the node was last heard from, and, when that is
// longer ago than its grace period (startupGrace for a node that never
// posted Ready), the conditions it should have. node is modified.
func assess(prev *nodeHealth, node *corev1.Node, lease *coordinationv1.Lease, now time.Time, grace, startupGrace time.Duration) assessment {
	created := node.CreationTimestamp.Time
	current := readyCondition(&node.Status)
	var observed corev1.NodeCondition
	h := prev
	if current == nil {
		observed = corev1.NodeCondition{
			Type: corev1.NodeReady, Status: corev1.ConditionUnknown,
			LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: node.CreationTimestamp,
		}
		grace = startupGrace
		if h != nil {
			h.status = &node.Status
		} else {
			h = &nodeHealth{status: &node.Status, probe: created, readyTransition: created}
		}
	} else {
		observed = *current
	}
	var saved *corev1.NodeCondition
	var savedLease *coordinationv1.Lease
	if h != nil {
		saved = readyCondition(h.status)
		savedLease = h.lease
	}
	switch {
	case h == nil:
		h = &nodeHealth{status: &node.Status, probe: now, readyTransition: now}
	case saved == nil && current != nil:
		// Newly posted, or known from before a restart.
		h = &nodeHealth{status: &node.Status, probe: now, readyTransition: now}
	case saved != nil && current == nil:
		// Ready was removed: treat as new, as Kubernetes does.
		h = &nodeHealth{status: &node.Status, probe: now, readyTransition: now}
	case saved != nil && current != nil && !saved.LastHeartbeatTime.Equal(&current.LastHeartbeatTime):
		transition := h.readyTransition
		if !saved.LastTransitionTime.Equal(&current.LastTransitionTime) {
			transition = now
		}
		h = &nodeHealth{status: &node.Status, probe: now, readyTransition: transition}
	}
	if lease != nil && lease.Spec.RenewTime != nil &&
		(savedLease == nil || savedLease.Spec.RenewTime == nil || savedLease.Spec.RenewTime.Before(lease.Spec.RenewTime)) {
		h.lease = lease
		h.probe = now
	} else if h.lease == nil && savedLease != nil {
		h.lease = savedLease
	}
	a := assessment{health: h, observed: observed, current: current, node: node}
	if !now.After(h.probe.Add(grace)) {
		return a
	}
	stamp := metav1.NewTime(now)
	for _, t := range staleConditions {
		c := findCondition(node, t)
		switch {
		case c == nil:
			node.Status.Conditions = append(node.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: ReasonNodeStatusNeverUpdated, Message: MessageNodeStatusNeverUpdated,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: stamp,
			})
		case c.Status != corev1.ConditionUnknown:
			c.Status = corev1.ConditionUnknown
			c.Reason = ReasonNodeStatusUnknown
			c.Message = MessageNodeStatusUnknown
			c.LastTransitionTime = stamp
		}
	}
	a.current = readyCondition(&node.Status)
	if !equality.Semantic.DeepEqual(a.current, &observed) {
		a.write = true
	}
	return a
}

func findCondition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
