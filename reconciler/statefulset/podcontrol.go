package statefulset

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
)

// execute carries out a plan's steps in order, the actions of a step in
// batches of 1, 2, 4, ... as Kubernetes' slowStartBatch, and stops at the
// first step with an error.
func (c *Controller) execute(ctx context.Context, set, updateSet *appsv1.StatefulSet, pl plan) error {
	for _, step := range pl.steps {
		if err := slowStartBatch(step, func(a action) error { return c.do(ctx, set, updateSet, a) }); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) do(ctx context.Context, set, updateSet *appsv1.StatefulSet, a action) error {
	switch a.kind {
	case actCreate:
		return c.createPod(ctx, set, a.pod)
	case actDelete:
		c.log.Debug("deleting pod", "statefulset", setKey(set), "pod", a.pod.Name, "why", a.why)
		return c.deletePodOf(ctx, set, a.pod)
	case actUpdate:
		return c.repairPod(ctx, updateSet, a.pod.DeepCopy())
	case actClaims:
		return c.createClaims(ctx, set, a.pod)
	case actClaimOwners:
		return c.updateClaimOwners(ctx, updateSet, a.pod)
	}
	return nil
}

// slowStartBatch runs fn for every action, in parallel batches doubling
// from 1, stopping after the first batch with an error.
func slowStartBatch(actions []action, fn func(action) error) error {
	for i, size := 0, 1; i < len(actions); i, size = i+size, size*2 {
		batch := actions[i:min(i+size, len(actions))]
		errs := make([]error, len(batch))
		var wg sync.WaitGroup
		for j, a := range batch {
			wg.Go(func() { errs[j] = fn(a) })
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// podEvent records Kubernetes' pod events: "create Pod web-0 in
// StatefulSet web successful" or "... failed error: ...".
func (c *Controller) podEvent(verb string, set *appsv1.StatefulSet, p *corev1.Pod, err error) {
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title, "%s Pod %s in StatefulSet %s successful", verb, p.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title, "%s Pod %s in StatefulSet %s failed error: %s", verb, p.Name, set.Name, err)
}

// claimEvent records Kubernetes' claim events: "create Claim
// data-web-0 Pod web-0 in StatefulSet web success".
func (c *Controller) claimEvent(verb string, set *appsv1.StatefulSet, p *corev1.Pod, claim string, err error) {
	title := strings.ToUpper(verb[:1]) + verb[1:]
	if err == nil {
		c.recorder.Eventf(set, corev1.EventTypeNormal, "Successful"+title, "%s Claim %s Pod %s in StatefulSet %s success", verb, claim, p.Name, set.Name)
		return
	}
	c.recorder.Eventf(set, corev1.EventTypeWarning, "Failed"+title, "%s Claim %s for Pod %s in StatefulSet %s failed error: %s", verb, claim, p.Name, set.Name, err)
}

// createClaims creates the pod's claims the cache does not show; a claim
// being deleted is an error, for the pod would lose its data with it.
func (c *Controller) createClaims(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	var errs []error
	for _, claim := range claimsFor(set, p) {
		existing, err := c.pvcLister.PersistentVolumeClaims(claim.Namespace).Get(claim.Name)
		switch {
		case apierrors.IsNotFound(err):
			setClaimOwners(set, p, &claim)
			_, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Create(ctx, &claim, metav1.CreateOptions{})
			if err != nil {
				errs = append(errs, fmt.Errorf("failed to create PVC %s: %w", claim.Name, err))
			}
			if !apierrors.IsAlreadyExists(err) {
				c.claimEvent("create", set, p, claim.Name, err)
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("failed to retrieve PVC %s: %w", claim.Name, err))
			c.claimEvent("create", set, p, claim.Name, err)
		case existing.DeletionTimestamp != nil:
			errs = append(errs, fmt.Errorf("pvc %s is being deleted", claim.Name))
		}
	}
	return errors.Join(errs...)
}

// createPod creates the pod's claims, then the pod. A pod that already
// exists is the cache lagging behind an earlier create: no event, and
// the error retries the sync once the cache has caught up.
func (c *Controller) createPod(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	if err := c.createClaims(ctx, set, p); err != nil {
		c.podEvent("create", set, p, err)
		return err
	}
	_, err := c.client.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return err
	}
	c.podEvent("create", set, p, err)
	return err
}

func (c *Controller) deletePodOf(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	err := c.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		// Already gone: what the delete wanted.
		return nil
	}
	c.podEvent("delete", set, p, err)
	return err
}

// repairPod restores a pod's identity labels and its claims' volumes,
// creating missing claims, as Kubernetes' UpdateStatefulPod.
func (c *Controller) repairPod(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	attempted := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		consistent := true
		if !identityMatches(set, p) {
			updateIdentity(set, p)
			consistent = false
		}
		if !storageMatches(set, p) {
			updateStorage(set, p)
			consistent = false
			if err := c.createClaims(ctx, set, p); err != nil {
				c.podEvent("update", set, p, err)
				return err
			}
		}
		if consistent {
			return nil
		}
		attempted = true
		_, err := c.client.CoreV1().Pods(p.Namespace).Update(ctx, p, metav1.UpdateOptions{})
		if err == nil {
			return nil
		}
		if fresh, gerr := c.podLister.Pods(p.Namespace).Get(p.Name); gerr == nil {
			p = fresh.DeepCopy()
		}
		return err
	})
	if attempted {
		c.podEvent("update", set, p, err)
	}
	return err
}

// updateClaimOwners gives the pod's existing claims the owners the
// retention policy wants.
func (c *Controller) updateClaimOwners(ctx context.Context, set *appsv1.StatefulSet, p *corev1.Pod) error {
	var errs []error
	for _, want := range claimsFor(set, p) {
		cached, err := c.pvcLister.PersistentVolumeClaims(want.Namespace).Get(want.Name)
		if err != nil {
			continue
		}
		claim := cached.DeepCopy()
		if !setClaimOwners(set, p, claim) {
			continue
		}
		if _, err := c.client.CoreV1().PersistentVolumeClaims(claim.Namespace).Update(ctx, claim, metav1.UpdateOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("updating owners of PVC %s: %w", claim.Name, err))
			c.claimEvent("update", set, p, claim.Name, err)
		}
	}
	return errors.Join(errs...)
}
