package deployment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// claimReplicaSets is Kubernetes' ReplicaSetControllerRefManager.ClaimReplicaSets
// over every ReplicaSet of the namespace: keep the ones the Deployment
// controls that still match its selector, release those that no longer
// match, adopt matching orphans; ones controlled by others are left alone.
func (c *Controller) claimReplicaSets(ctx context.Context, d *appsv1.Deployment) ([]*appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s has an invalid label selector: %w", d.Namespace, d.Name, err)
	}
	all, err := c.rsLister.ReplicaSets(d.Namespace).List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var out []*appsv1.ReplicaSet
	var errs []error
	canAdopt, checked := d.DeletionTimestamp == nil, false
	for _, rs := range all {
		match := sel.Matches(labels.Set(rs.Labels))
		ref := metav1.GetControllerOf(rs)
		switch {
		case ref != nil && ref.UID == d.UID:
			if match {
				out = append(out, rs)
				continue
			}
			if d.DeletionTimestamp != nil {
				continue
			}
			if err := c.setOwners(ctx, rs, without(rs.OwnerReferences, d.UID)); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("releasing replica set %s: %w", rs.Name, err))
			}
		case ref != nil:
			// Controlled by someone else.
		case !match || rs.DeletionTimestamp != nil || !canAdopt:
		default:
			if !checked {
				// Adopt only if the Deployment is still there and not being
				// deleted, read past the cache: a stale cache must not make
				// a deleted Deployment take ReplicaSets.
				checked = true
				fresh, err := c.client.AppsV1().Deployments(d.Namespace).Get(ctx, d.Name, metav1.GetOptions{})
				if err != nil || fresh.UID != d.UID || fresh.DeletionTimestamp != nil {
					canAdopt = false
					if err != nil {
						errs = append(errs, err)
					}
					continue
				}
			}
			refs := append(append([]metav1.OwnerReference(nil), rs.OwnerReferences...), *metav1.NewControllerRef(d, deploymentKind))
			if err := c.setOwners(ctx, rs, refs); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("adopting replica set %s: %w", rs.Name, err))
				}
				continue
			}
			out = append(out, rs)
		}
	}
	return out, errors.Join(errs...)
}

func without(refs []metav1.OwnerReference, uid types.UID) []metav1.OwnerReference {
	out := []metav1.OwnerReference{}
	for _, r := range refs {
		if r.UID != uid {
			out = append(out, r)
		}
	}
	return out
}

// setOwners replaces a ReplicaSet's ownerReferences, conditional on the
// resourceVersion the decision was made on.
func (c *Controller) setOwners(ctx context.Context, rs *appsv1.ReplicaSet, refs []metav1.OwnerReference) error {
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"ownerReferences": refs, "uid": rs.UID, "resourceVersion": rs.ResourceVersion,
	}})
	if err != nil {
		return err
	}
	_, err = c.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}

// podMap groups the Deployment's pods by the claimed ReplicaSet that
// controls them; Recreate needs it to see that no old pod still runs.
func (c *Controller) podMap(d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) map[types.UID][]*corev1.Pod {
	out := map[types.UID][]*corev1.Pod{}
	for _, rs := range rsList {
		out[rs.UID] = nil
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return out
	}
	pods, err := c.podList.Pods(d.Namespace).List(sel)
	if err != nil {
		return out
	}
	for _, p := range pods {
		ref := metav1.GetControllerOf(p)
		if ref == nil {
			continue
		}
		if _, ok := out[ref.UID]; ok {
			out[ref.UID] = append(out[ref.UID], p)
		}
	}
	return out
}
