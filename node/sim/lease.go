package sim

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func (n *simNode) cachedLease() *coordinationv1.Lease {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.lease
}

func (n *simNode) setLease(l *coordinationv1.Lease) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.lease = l
}

// renewed is l held by the node and renewed at now, owned by its Node.
func (c *Cluster) renewed(n *simNode, l *coordinationv1.Lease, now time.Time) *coordinationv1.Lease {
	l = l.DeepCopy()
	l.Name, l.Namespace = n.name(), corev1.NamespaceNodeLease
	holder := n.name()
	secs := int32(c.cfg.LeaseDuration.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	renew := metav1.NewMicroTime(now)
	l.Spec.HolderIdentity = &holder
	l.Spec.LeaseDurationSeconds = &secs
	l.Spec.RenewTime = &renew
	if uid := n.nodeUID(); uid != "" {
		l.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Node", Name: n.name(), UID: uid,
		}}
	}
	return l
}

// syncLease renews the node's Lease in kube-node-lease, creating it when
// it is missing and re-reading it when someone else wrote it since.
func (c *Cluster) syncLease(ctx context.Context, n *simNode) error {
	leases := c.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	for attempt := 0; ; attempt++ {
		cur := n.cachedLease()
		var out *coordinationv1.Lease
		var err error
		if cur == nil {
			out, err = leases.Create(ctx, c.renewed(n, &coordinationv1.Lease{}, time.Now()), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				if cur, err = leases.Get(ctx, n.name(), metav1.GetOptions{}); err == nil {
					out, err = leases.Update(ctx, c.renewed(n, cur, time.Now()), metav1.UpdateOptions{})
				}
			}
		} else {
			out, err = leases.Update(ctx, c.renewed(n, cur, time.Now()), metav1.UpdateOptions{})
		}
		switch {
		case err == nil:
			n.setLease(out)
			c.stats.leaseRenewals.Add(1)
			return nil
		case (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt < 5:
			c.stats.conflicts.Add(1)
			n.setLease(nil)
			if apierrors.IsConflict(err) {
				got, gerr := leases.Get(ctx, n.name(), metav1.GetOptions{})
				if gerr == nil {
					n.setLease(got)
				}
			}
			continue
		}
		return fmt.Errorf("sim: node %s: renewing lease %s/%s: %w", n.name(), corev1.NamespaceNodeLease, n.name(), err)
	}
}
