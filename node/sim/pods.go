package sim

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// nodeNameIndex indexes the pod informer by spec.nodeName.
const nodeNameIndex = "spec.nodeName"

// podState is what the simulator remembers of a pod between syncs.
type podState struct {
	firstSeen  time.Time   // for StartDelay
	started    time.Time   // when this process started it
	deleteSeen time.Time   // for StopDelay
	failure    *podFailure // set by FailPod
	deleted    bool        // the final delete was sent
}

type podFailure struct {
	at              time.Time
	reason, message string
}

// podState returns the pod's state, creating it first seen at now.
func (c *Cluster) podState(uid types.UID, now time.Time) *podState {
	c.podMu.Lock()
	defer c.podMu.Unlock()
	st := c.podStates[uid]
	if st == nil {
		st = &podState{firstSeen: now}
		c.podStates[uid] = st
	}
	return st
}

// newPodInformer makes the one pod informer of every node, indexed by
// node name; startPodInformer picks its field selector and starts it.
func (c *Cluster) newPodInformer() {
	pods := c.client.CoreV1().Pods("")
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = c.podSelector
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = c.podSelector
			return pods.Watch(ctx, o)
		},
	}
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{
		nodeNameIndex: func(obj any) ([]string, error) {
			if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
				return []string{p.Spec.NodeName}, nil
			}
			return nil, nil
		},
	})
	_ = inf.SetTransform(func(obj any) (any, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			p.ManagedFields = nil
		}
		return obj, nil
	})
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.podChanged,
		UpdateFunc: func(_, obj any) { c.podChanged(obj) },
		DeleteFunc: c.podGone,
	})
	c.podInformer = inf
}

// startPodInformer starts the pod informer. It watches bound pods only
// (spec.nodeName!=) when the server can select on that, all pods
// otherwise; the handlers keep those of simulated nodes.
func (c *Cluster) startPodInformer(ctx context.Context, wg *sync.WaitGroup) error {
	sel := fields.OneTermNotEqualSelector("spec.nodeName", "").String()
	err := retryTransient(ctx, func() error {
		_, err := c.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: sel, Limit: 1})
		return err
	})
	switch {
	case apierrors.IsBadRequest(err):
		c.log.Info("the server cannot select pods on spec.nodeName!=; watching all pods", "err", err)
		sel = ""
	case err != nil:
		return fmt.Errorf("sim: listing pods: %w", err)
	}
	c.podSelector = sel
	wg.Go(func() { c.podInformer.RunWithContext(ctx) })
	return nil
}

func (c *Cluster) podChanged(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || c.lookup(p.Spec.NodeName) == nil {
		return
	}
	c.podQueue.Add(p.Namespace + "/" + p.Name)
}

func (c *Cluster) podGone(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if n := c.lookup(p.Spec.NodeName); n != nil {
		n.releaseIP(p.UID)
	}
	c.podMu.Lock()
	delete(c.podStates, p.UID)
	c.podMu.Unlock()
}

// queueNodePods queues every known pod of a node.
func (c *Cluster) queueNodePods(node string) {
	if c.podInformer == nil {
		return
	}
	objs, _ := c.podInformer.GetIndexer().ByIndex(nodeNameIndex, node)
	for _, obj := range objs {
		p := obj.(*corev1.Pod)
		c.podQueue.Add(p.Namespace + "/" + p.Name)
	}
}

// reservePodIPs records the IPs running pods already have, before any pod
// gets a new one, so a restarted simulator hands out no IP twice.
func (c *Cluster) reservePodIPs() {
	for _, obj := range c.podInformer.GetIndexer().List() {
		p := obj.(*corev1.Pod)
		n := c.lookup(p.Spec.NodeName)
		if n == nil || p.Spec.HostNetwork || p.Status.PodIP == "" || terminal(p.Status.Phase) {
			continue
		}
		n.mu.Lock()
		n.pods.reserve(p.UID, p.Status.PodIP)
		n.mu.Unlock()
	}
}

func (n *simNode) releaseIP(uid types.UID) {
	n.mu.Lock()
	n.pods.release(uid)
	n.mu.Unlock()
}

// podIP is the pod's IP: the node's for host-network pods, the one it
// already has, or a new one from the node's range.
func (n *simNode) podIP(p *corev1.Pod) (string, error) {
	if p.Spec.HostNetwork {
		return n.ip.String(), nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if p.Status.PodIP != "" {
		n.pods.reserve(p.UID, p.Status.PodIP)
		return p.Status.PodIP, nil
	}
	return n.pods.get(p.UID)
}

func terminal(phase corev1.PodPhase) bool {
	return phase == corev1.PodSucceeded || phase == corev1.PodFailed
}

func (c *Cluster) podWorker(ctx context.Context) {
	for {
		key, quit := c.podQueue.Get()
		if quit {
			return
		}
		after, err := c.syncPod(ctx, key)
		switch {
		case err != nil && ctx.Err() == nil:
			c.stats.errors.Add(1)
			c.log.Warn("pod sync failed", "pod", key, "err", err)
			c.podQueue.AddRateLimited(key)
		case err == nil:
			c.podQueue.Forget(key)
			if after > 0 {
				c.podQueue.AddAfter(key, after)
			}
		}
		c.podQueue.Done(key)
	}
}

// syncPod brings one pod's status to what it should be now and returns
// how long until it changes by itself (0: not by itself).
func (c *Cluster) syncPod(ctx context.Context, key string) (time.Duration, error) {
	obj, ok, err := c.podInformer.GetIndexer().GetByKey(key)
	if err != nil || !ok {
		return 0, nil
	}
	pod := obj.(*corev1.Pod)
	n := c.lookup(pod.Spec.NodeName)
	if n == nil {
		return 0, nil
	}
	n.writing.RLock()
	defer n.writing.RUnlock()
	if !n.ready.Load() || n.isPaused() {
		return 0, nil // ResumeHeartbeats and AddNode queue the node's pods again
	}
	now := time.Now()
	st := c.podState(pod.UID, now)
	c.podMu.Lock()
	state := *st
	c.podMu.Unlock()

	if pod.DeletionTimestamp != nil {
		return c.stopPod(ctx, n, pod, st, state, now)
	}
	if terminal(pod.Status.Phase) {
		n.releaseIP(pod.UID)
		return 0, nil
	}
	if pod.Status.StartTime == nil && c.cfg.StartDelay > 0 {
		if wait := state.firstSeen.Add(c.cfg.StartDelay).Sub(now); wait > 0 {
			return wait, nil
		}
	}
	plan, perr := planFor(pod)
	if perr != nil {
		c.log.Warn("ignoring a bad annotation", "pod", key, "node", n.name(), "err", perr)
	}
	ip, err := n.podIP(pod)
	if err != nil {
		return 0, fmt.Errorf("sim: pod %s on node %s: %w", key, n.name(), err)
	}
	if pod.Status.StartTime == nil && state.started.IsZero() {
		c.podMu.Lock()
		st.started = now
		c.podMu.Unlock()
		state.started = now
	}
	want, after := desiredPodStatus(pod, plan, podRun{now: now, started: state.started, hostIP: n.ip.String(), podIP: ip, failure: state.failure})
	if apiequality.Semantic.DeepEqual(pod.Status, want) {
		return after, nil
	}
	if err := c.writePodStatus(ctx, n, pod, want); err != nil {
		return 0, err
	}
	if terminal(want.Phase) {
		n.releaseIP(pod.UID)
	}
	return after, nil
}

// writePodStatus writes pods/status at the resourceVersion the pod was read
// at; a conflict is retried once the informer has the newer pod.
func (c *Cluster) writePodStatus(ctx context.Context, n *simNode, pod *corev1.Pod, want corev1.PodStatus) error {
	next := pod.DeepCopy()
	next.Status = want
	_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	switch {
	case err == nil:
		c.stats.podStatus.Add(1)
		c.log.Debug("pod status written", "pod", pod.Namespace+"/"+pod.Name, "node", n.name(), "phase", want.Phase)
		return nil
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		c.stats.conflicts.Add(1)
	}
	return fmt.Errorf("sim: pod %s/%s on node %s: writing status: %w", pod.Namespace, pod.Name, n.name(), err)
}

// stopPod finishes a deleted pod as the kubelet does: after StopDelay its
// containers are stopped and it is deleted with grace period 0 and a UID
// precondition. A pod with finalizers first gets its stopped status, for
// whoever holds the finalizer.
func (c *Cluster) stopPod(ctx context.Context, n *simNode, pod *corev1.Pod, st *podState, state podState, now time.Time) (time.Duration, error) {
	if state.deleted {
		return 0, nil
	}
	if state.deleteSeen.IsZero() {
		c.podMu.Lock()
		st.deleteSeen = now
		c.podMu.Unlock()
		state.deleteSeen = now
	}
	if !terminal(pod.Status.Phase) && c.cfg.StopDelay > 0 {
		if wait := state.deleteSeen.Add(c.cfg.StopDelay).Sub(now); wait > 0 {
			return wait, nil
		}
	}
	if len(pod.Finalizers) > 0 && !terminal(pod.Status.Phase) {
		ip := pod.Status.PodIP
		if ip == "" {
			ip = n.ip.String()
		}
		want, _ := desiredPodStatus(pod, podPlan{}, podRun{now: now, hostIP: n.ip.String(), podIP: ip, stopped: true})
		if err := c.writePodStatus(ctx, n, pod, want); err != nil {
			return 0, err
		}
	}
	zero := int64(0)
	uid := pod.UID
	err := c.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return 0, fmt.Errorf("sim: pod %s/%s on node %s: final delete: %w", pod.Namespace, pod.Name, n.name(), err)
	}
	c.podMu.Lock()
	st.deleted = true
	c.podMu.Unlock()
	c.stats.podDeletes.Add(1)
	n.releaseIP(pod.UID)
	return 0, nil
}
