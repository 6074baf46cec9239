package nodelifecycle

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// monitorNodeHealth is one pass over every node (Kubernetes'
// monitorNodeHealth): notice nodes that came and went, update each node's
// health, queue or lift its NoExecute taint, mark the pods of nodes that
// just stopped being ready, and set each zone's tainting rate.
func (c *Controller) monitorNodeHealth(ctx context.Context) {
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		c.log.Error("listing nodes", "err", err)
		return
	}
	added, deleted := c.classify(nodes)
	for _, n := range added {
		c.log.Info("observed a new node", "node", n.Name)
		c.recordNodeEvent(n, corev1.EventTypeNormal, EventRegisteredNode, "Registered Node %v in Controller", n.Name)
		c.known[n.Name] = n
		c.markReachable(ctx, n)
	}
	for _, n := range deleted {
		c.log.Info("observed a node deletion", "node", n.Name)
		c.recordNodeEvent(n, corev1.EventTypeNormal, EventRemovingNode, "Removing Node %v from Controller", n.Name)
		delete(c.known, n.Name)
		delete(c.retry, n.Name)
		c.health.delete(n.Name)
		c.mu.Lock()
		c.tainter(zoneKey(n)).remove(n.Name)
		c.mu.Unlock()
	}

	zoneConds := map[string][]*corev1.NodeCondition{}
	for _, cached := range nodes {
		a, err := c.updateHealth(ctx, cached.DeepCopy())
		if err != nil {
			c.log.Info("updating node health failed; will retry next pass", "node", cached.Name, "err", err)
			continue
		}
		node := a.node
		if !excludedFromDisruption(node) {
			zone := zoneKey(node)
			zoneConds[zone] = append(zoneConds[zone], a.current)
		}
		if a.current != nil {
			pods, err := c.podsOnNode(node.Name)
			if err != nil {
				if a.current.Status != corev1.ConditionTrue && a.observed.Status == corev1.ConditionTrue {
					c.retry[node.Name] = true
				}
				continue
			}
			c.processTaintBaseEviction(ctx, node, a.observed)
			switch {
			case a.current.Status != corev1.ConditionTrue && a.observed.Status == corev1.ConditionTrue:
				// Reported once, on the transition.
				c.recordNodeEvent(node, corev1.EventTypeNormal, EventNodeNotReady, "Node %s status is now: %s", node.Name, EventNodeNotReady)
				fallthrough
			case c.retry[node.Name] && a.observed.Status != corev1.ConditionTrue:
				if err := c.markPodsNotReady(ctx, pods, node.Name); err != nil {
					c.log.Info("marking pods not ready failed; will retry", "node", node.Name, "err", err)
					c.retry[node.Name] = true
					continue
				}
			}
		}
		delete(c.retry, node.Name)
	}
	c.handleDisruption(ctx, zoneConds, nodes)
}

// classify finds the nodes not seen by the last pass and those gone
// since.
func (c *Controller) classify(nodes []*corev1.Node) (added, deleted []*corev1.Node) {
	seen := make(map[string]bool, len(nodes))
	for _, n := range nodes {
		seen[n.Name] = true
		if _, ok := c.known[n.Name]; !ok {
			added = append(added, n)
		}
	}
	for name, n := range c.known {
		if !seen[name] {
			deleted = append(deleted, n)
		}
	}
	return added, deleted
}

// updateHealth assesses a node and writes its Unknown conditions,
// re-reading the node and trying again when the write fails.
func (c *Controller) updateHealth(ctx context.Context, node *corev1.Node) (assessment, error) {
	for attempt := 1; ; attempt++ {
		lease, err := c.leaseLister.Leases(corev1.NamespaceNodeLease).Get(node.Name)
		if err != nil {
			lease = nil
		}
		now := c.clock.Now()
		a := assess(c.health.get(node.Name), node, lease, now, c.opts.NodeMonitorGracePeriod, c.opts.NodeStartupGracePeriod)
		if !a.write {
			c.health.set(node.Name, a.health)
			return a, nil
		}
		updated, err := c.client.CoreV1().Nodes().UpdateStatus(ctx, a.node, metav1.UpdateOptions{})
		if err == nil {
			c.log.Info("node stopped posting status", "node", node.Name, "ready", a.current.Status)
			a.node = updated
			a.current = readyCondition(&updated.Status)
			if a.current == nil {
				return a, fmt.Errorf("node %s: status written without Ready", node.Name)
			}
			c.health.set(node.Name, &nodeHealth{
				status: &updated.Status, probe: a.health.probe, readyTransition: now, lease: a.health.lease,
			})
			return a, nil
		}
		c.health.set(node.Name, a.health)
		if attempt >= nodeHealthUpdateRetry || ctx.Err() != nil {
			return a, err
		}
		name := node.Name
		if node, err = c.client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); err != nil {
			if apierrors.IsNotFound(err) {
				return a, fmt.Errorf("node %s was deleted", name)
			}
			return a, err
		}
	}
}

// handleDisruption sets each zone's tainting rate from its state, and
// enters or leaves the mode in which every zone is down and nothing is
// tainted (Kubernetes' handleDisruption).
func (c *Controller) handleDisruption(ctx context.Context, zoneConds map[string][]*corev1.NodeCondition, nodes []*corev1.Node) {
	for zone := range c.zoneStates {
		if _, ok := zoneConds[zone]; !ok {
			c.metrics.observeZone(zone, 0, 0)
			delete(c.zoneStates, zone)
		}
	}
	for zone, conds := range zoneConds {
		unhealthy, _ := computeZoneState(conds, c.opts.UnhealthyZoneThreshold)
		c.metrics.observeZone(zone, len(conds), unhealthy)
	}
	p := planDisruption(c.zoneStates, zoneConds, c.opts)
	switch {
	case p.enterFull:
		c.log.Info("Controller detected that all Nodes are not-Ready. Entering master disruption mode.")
		for _, n := range nodes {
			c.markReachable(ctx, n)
		}
	case p.exitFull:
		c.log.Info("Controller detected that some Nodes are Ready. Exiting master disruption mode.")
		// The nodes were cut off from us, not dead: start their grace
		// periods afresh.
		now := c.clock.Now()
		for _, n := range nodes {
			if h := c.health.get(n.Name); h != nil {
				h.probe, h.readyTransition = now, now
				c.health.set(n.Name, h)
			}
		}
	}
	c.mu.Lock()
	for zone, rate := range p.rates {
		c.tainter(zone).swapLimiter(rate)
	}
	c.mu.Unlock()
	for zone, s := range p.states {
		if !p.enterFull && !p.exitFull {
			c.log.Info("zone changed state", "zone", zone, "state", s)
		}
		c.zoneStates[zone] = s
	}
}
