package nodelifecycle

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// retryTaint is how soon a node whose taint could not be written is
// tried again.
const retryTaint = 50 * time.Millisecond

// processTaintBaseEviction acts on a node's Ready condition as last
// posted: a not-ready or unreachable node is queued for its NoExecute
// taint, or has the opposite one swapped at once; a ready one loses both.
func (c *Controller) processTaintBaseEviction(ctx context.Context, node *corev1.Node, observed corev1.NodeCondition) {
	switch observed.Status {
	case corev1.ConditionFalse:
		if hasTaint(node.Spec.Taints, UnreachableTaint) {
			c.swapNow(ctx, node, NotReadyTaint, UnreachableTaint)
		} else {
			c.markForTainting(node, corev1.ConditionFalse)
		}
	case corev1.ConditionUnknown:
		if hasTaint(node.Spec.Taints, NotReadyTaint) {
			c.swapNow(ctx, node, UnreachableTaint, NotReadyTaint)
		} else {
			c.markForTainting(node, corev1.ConditionUnknown)
		}
	case corev1.ConditionTrue:
		if c.markReachable(ctx, node) {
			c.log.Info("node is healthy again, removing its NoExecute taints", "node", node.Name)
		}
	}
}

// swapNow replaces one NoExecute taint with the other outside the rate
// limit: the node was let through already.
func (c *Controller) swapNow(ctx context.Context, node *corev1.Node, add, del corev1.Taint) {
	if err := writeTaints(ctx, c.client, node, []corev1.Taint{add}, []corev1.Taint{del}, c.clock.Now()); err != nil {
		c.log.Info("swapping NoExecute taints failed; will retry next pass", "node", node.Name, "err", err)
	}
}

// markForTainting queues a node in its zone's queue. A node not yet
// carrying the taint its state calls for is queued afresh, so that a node
// handled while in the other state is not skipped.
func (c *Controller) markForTainting(node *corev1.Node, status corev1.ConditionStatus) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	q := c.tainter(zoneKey(node))
	if status == corev1.ConditionFalse && !hasTaint(node.Spec.Taints, NotReadyTaint) ||
		status == corev1.ConditionUnknown && !hasTaint(node.Spec.Taints, UnreachableTaint) {
		q.remove(node.Name)
	}
	return q.add(node.Name, string(node.UID))
}

// markReachable lifts both NoExecute taints off a node and takes it out
// of its zone's queue; true if it was queued or tainted.
func (c *Controller) markReachable(ctx context.Context, node *corev1.Node) bool {
	tainted := hasTaint(node.Spec.Taints, UnreachableTaint) || hasTaint(node.Spec.Taints, NotReadyTaint)
	if tainted {
		err := writeTaints(ctx, c.client, node, nil, []corev1.Taint{UnreachableTaint, NotReadyTaint}, c.clock.Now())
		if err != nil {
			c.log.Info("removing NoExecute taints failed; will retry next pass", "node", node.Name, "err", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tainter(zoneKey(node)).remove(node.Name) || tainted
}

// doNoExecuteTaintingPass taints the nodes each zone's queue lets
// through: not-ready for Ready False, unreachable for Ready Unknown, the
// two being exclusive as the condition's states are.
func (c *Controller) doNoExecuteTaintingPass(ctx context.Context) {
	c.mu.Lock()
	queues := make(map[string]*rateLimitedQueue, len(c.tainters))
	for zone, q := range c.tainters {
		queues[zone] = q
	}
	c.mu.Unlock()
	for zone, q := range queues {
		q.try(func(v timedValue) (bool, time.Duration) {
			node, err := c.nodeLister.Get(v.value)
			if apierrors.IsNotFound(err) {
				return true, 0
			}
			if err != nil {
				return false, retryTaint
			}
			ready := readyCondition(&node.Status)
			if ready == nil {
				return true, 0
			}
			var add, del corev1.Taint
			switch ready.Status {
			case corev1.ConditionFalse:
				add, del = NotReadyTaint, UnreachableTaint
			case corev1.ConditionUnknown:
				add, del = UnreachableTaint, NotReadyTaint
			default:
				// Ready again since it was queued.
				return true, 0
			}
			if err := writeTaints(ctx, c.client, node, []corev1.Taint{add}, []corev1.Taint{del}, c.clock.Now()); err != nil {
				c.log.Info("adding NoExecute taint failed; will retry", "node", node.Name, "err", err)
				return false, 0
			}
			c.log.Info("tainted node", "node", node.Name, "taint", add.Key)
			c.metrics.evictions.WithLabelValues(zone).Inc()
			return true, 0
		})
	}
}

// doNoScheduleTaintingPass brings a node's NoSchedule taints in line with
// its conditions and spec.unschedulable.
func (c *Controller) doNoScheduleTaintingPass(ctx context.Context, name string) error {
	node, err := c.nodeLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	add, del := noScheduleDiff(node)
	if len(add) == 0 && len(del) == 0 {
		return nil
	}
	return writeTaints(ctx, c.client, node, add, del, c.clock.Now())
}
