package daemonset

import (
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// resolve finds the DaemonSet a controller reference names, if it is
// still the same object (same UID).
func (c *Controller) resolve(ns string, ref *metav1.OwnerReference) *appsv1.DaemonSet {
	if ref == nil || ref.Kind != dsKind.Kind || ref.APIVersion != dsKind.GroupVersion().String() {
		return nil
	}
	ds, err := c.dsLister.DaemonSets(ns).Get(ref.Name)
	if err != nil || ds.UID != ref.UID {
		return nil
	}
	return ds
}

// matching lists the DaemonSets whose selector matches an orphan's labels.
func (c *Controller) matching(ns string, lbls map[string]string) []*appsv1.DaemonSet {
	if len(lbls) == 0 {
		return nil
	}
	all, err := c.dsLister.DaemonSets(ns).List(labels.Everything())
	if err != nil {
		return nil
	}
	var out []*appsv1.DaemonSet
	for _, ds := range all {
		sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(lbls)) {
			continue
		}
		out = append(out, ds)
	}
	return out
}

// revisionChanged enqueues the owner of a revision added, changed or
// deleted, or the DaemonSets that may adopt it.
func (c *Controller) revisionChanged(obj any) {
	r, ok := controller.Object[*appsv1.ControllerRevision](obj)
	if !ok {
		return
	}
	if ref := metav1.GetControllerOf(r); ref != nil {
		if ds := c.resolve(r.Namespace, ref); ds != nil {
			c.queue.Add(dsKey(ds))
		}
		return
	}
	for _, ds := range c.matching(r.Namespace, r.Labels) {
		c.queue.Add(dsKey(ds))
	}
}

func (c *Controller) addPod(obj any) {
	p := obj.(*corev1.Pod)
	if p.DeletionTimestamp != nil {
		// A restarted controller sees pods already being deleted.
		c.deletePod(p)
		return
	}
	if ref := metav1.GetControllerOf(p); ref != nil {
		if ds := c.resolve(p.Namespace, ref); ds != nil {
			c.exp.creationObserved(dsKey(ds))
			c.queue.Add(dsKey(ds))
		}
		return
	}
	for _, ds := range c.matching(p.Namespace, p.Labels) {
		c.queue.Add(dsKey(ds))
	}
}

func (c *Controller) updatePod(old, cur any) {
	op, cp := old.(*corev1.Pod), cur.(*corev1.Pod)
	if op.ResourceVersion == cp.ResourceVersion {
		return
	}
	if cp.DeletionTimestamp != nil {
		c.deletePod(cp)
		return
	}
	curRef, oldRef := metav1.GetControllerOf(cp), metav1.GetControllerOf(op)
	if oldRef != nil && (curRef == nil || oldRef.UID != curRef.UID) {
		if ds := c.resolve(op.Namespace, oldRef); ds != nil {
			c.queue.Add(dsKey(ds))
		}
	}
	if curRef != nil {
		ds := c.resolve(cp.Namespace, curRef)
		if ds == nil {
			return
		}
		c.queue.Add(dsKey(ds))
		// A pod that just became ready becomes available minReadySeconds
		// later: look again then.
		if !isReady(op) && isReady(cp) && ds.Spec.MinReadySeconds > 0 {
			c.queue.AddAfter(dsKey(ds), time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if !labels.Equals(op.Labels, cp.Labels) || oldRef != nil {
		for _, ds := range c.matching(cp.Namespace, cp.Labels) {
			c.queue.Add(dsKey(ds))
		}
	}
}

// deletePod counts a pod gone (or going) toward its DaemonSet's expected
// deletions. A pod is deleted once but may be reported twice (marked for
// deletion, then gone); the count may go below zero, which satisfies the
// expectations just the same, as in Kubernetes.
func (c *Controller) deletePod(obj any) {
	p, ok := controller.Object[*corev1.Pod](obj)
	if !ok {
		return
	}
	ds := c.resolve(p.Namespace, metav1.GetControllerOf(p))
	if ds == nil {
		return
	}
	c.exp.deletionObserved(dsKey(ds))
	c.queue.Add(dsKey(ds))
}

// forEachDaemonSet calls fn for every DaemonSet.
func (c *Controller) forEachDaemonSet(fn func(*appsv1.DaemonSet)) {
	all, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range all {
		fn(ds)
	}
}

// addNode enqueues the DaemonSets that should run on a new node.
func (c *Controller) addNode(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	c.forEachDaemonSet(func(ds *appsv1.DaemonSet) {
		if run, _ := NodeShouldRunDaemonPod(n, ds); run {
			c.queue.Add(dsKey(ds))
		}
	})
}

// updateNode enqueues the DaemonSets whose placement on the node changed
// with its labels or taints, the only node fields eligibility reads.
func (c *Controller) updateNode(old, cur any) {
	on, cn := old.(*corev1.Node), cur.(*corev1.Node)
	if apiequality.Semantic.DeepEqual(on.Labels, cn.Labels) && apiequality.Semantic.DeepEqual(on.Spec.Taints, cn.Spec.Taints) {
		return
	}
	c.forEachDaemonSet(func(ds *appsv1.DaemonSet) {
		oldRun, oldCont := NodeShouldRunDaemonPod(on, ds)
		curRun, curCont := NodeShouldRunDaemonPod(cn, ds)
		if oldRun != curRun || oldCont != curCont {
			c.queue.Add(dsKey(ds))
		}
	})
}

// deleteNode enqueues the DaemonSets that counted the node: their
// desired number changes, and unscheduled pods pinned to it must go.
func (c *Controller) deleteNode(obj any) {
	n, ok := controller.Object[*corev1.Node](obj)
	if !ok {
		return
	}
	c.forEachDaemonSet(func(ds *appsv1.DaemonSet) {
		if _, cont := NodeShouldRunDaemonPod(n, ds); cont {
			c.queue.Add(dsKey(ds))
		}
	})
}
