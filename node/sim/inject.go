package sim

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// StopHeartbeats makes a node behave as one that lost its network: it
// stops renewing its Lease, posting its status and writing its pods'
// status (deleted pods stay Terminating) until ResumeHeartbeats. It waits
// for the node's writes under way: once it returns, the node writes
// nothing more.
func (c *Cluster) StopHeartbeats(node string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	n.writing.Lock()
	n.mu.Lock()
	n.paused = true
	n.mu.Unlock()
	n.writing.Unlock()
	c.log.Info("heartbeats stopped", "node", node)
	return nil
}

// ResumeHeartbeats undoes StopHeartbeats: the node renews its Lease and
// posts its status at once, and catches up with its pods.
func (c *Cluster) ResumeHeartbeats(node string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.paused = false
	n.mu.Unlock()
	c.log.Info("heartbeats resumed", "node", node)
	if n.ready.Load() {
		c.queueHeartbeat(n)
	}
	c.queueNodePods(node)
	return nil
}

// SetCondition sets a node condition (MemoryPressure=True, Ready=False,
// or a condition type of one's own) until it is set again or cleared; the
// node posts its status at once.
func (c *Cluster) SetCondition(node string, t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	switch s {
	case corev1.ConditionTrue, corev1.ConditionFalse, corev1.ConditionUnknown:
	default:
		return fmt.Errorf("sim: node %s: condition %s: status %q is not True, False or Unknown", node, t, s)
	}
	n.mu.Lock()
	n.overrides[t] = conditionOverride{status: s, reason: reason, message: "set by the node simulator"}
	delete(n.dropped, t)
	n.mu.Unlock()
	if n.ready.Load() {
		c.hb.Add(hbKey{node, hbStatus})
	}
	return nil
}

// ClearCondition undoes SetCondition: a kubelet condition goes back to
// healthy, a condition of one's own is removed from the node.
func (c *Cluster) ClearCondition(node string, t corev1.NodeConditionType) error {
	n, err := c.node(node)
	if err != nil {
		return err
	}
	n.mu.Lock()
	delete(n.overrides, t)
	if !isDefaultCondition(t) {
		n.dropped[t] = true
	}
	n.mu.Unlock()
	if n.ready.Load() {
		c.hb.Add(hbKey{node, hbStatus})
	}
	return nil
}

func isDefaultCondition(t corev1.NodeConditionType) bool {
	for _, c := range defaultConditions {
		if c.Type == t {
			return true
		}
	}
	return false
}

// FailPod makes a running pod on a simulated node fail now, whatever its
// restart policy, as an eviction does: phase Failed with the reason and
// message given (e.g. "Evicted", "The node was low on resource: memory."),
// containers terminated with exit code 137.
func (c *Cluster) FailPod(namespace, name, reason, message string) error {
	if c.podInformer == nil {
		return fmt.Errorf("sim: pod %s/%s: the simulator does not run pods (NoPods is set)", namespace, name)
	}
	key := namespace + "/" + name
	obj, ok, err := c.podInformer.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return fmt.Errorf("sim: pod %s is not bound to a simulated node (or not seen yet)", key)
	}
	pod := obj.(*corev1.Pod)
	if c.lookup(pod.Spec.NodeName) == nil {
		return fmt.Errorf("sim: pod %s runs on %q, not a simulated node", key, pod.Spec.NodeName)
	}
	st := c.podState(pod.UID, time.Now())
	c.podMu.Lock()
	st.failure = &podFailure{at: time.Now().Truncate(time.Second), reason: reason, message: message}
	c.podMu.Unlock()
	c.podQueue.Add(key)
	return nil
}

// AddNode registers one more node while the Cluster runs.
func (c *Cluster) AddNode(ctx context.Context, spec NodeSpec) error {
	if err := spec.validate(); err != nil {
		return err
	}
	c.mu.Lock()
	if c.byName[spec.Name] != nil {
		c.mu.Unlock()
		return fmt.Errorf("sim: node %q already exists", spec.Name)
	}
	if len(c.order) >= MaxNodes {
		c.mu.Unlock()
		return fmt.Errorf("sim: node %q: a Cluster holds at most %d nodes", spec.Name, MaxNodes)
	}
	n := newSimNode(spec, len(c.order))
	c.byName[spec.Name] = n
	c.order = append(c.order, n)
	c.mu.Unlock()
	if err := c.register(ctx, n); err != nil {
		return err
	}
	c.queueNodePods(spec.Name)
	return nil
}

// Remove stops managing a node: no more heartbeats, its pods left as they
// are. With deleteNode it deletes the node's Lease and Node too.
func (c *Cluster) Remove(ctx context.Context, node string, deleteNode bool) error {
	c.mu.Lock()
	n := c.byName[node]
	if n == nil {
		c.mu.Unlock()
		return fmt.Errorf("sim: no simulated node %q", node)
	}
	delete(c.byName, node)
	c.order[n.index] = nil
	c.mu.Unlock()
	n.ready.Store(false)
	if !deleteNode {
		return nil
	}
	err := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease).Delete(ctx, node, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("sim: node %s: deleting its lease: %w", node, err)
	}
	err = c.client.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("sim: deleting node %s: %w", node, err)
	}
	return nil
}
