package controller

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// PodControllerIndex indexes pods by their controller's UID, and orphans
// by "orphan/<namespace>", as Kubernetes' PodControllerUIDIndex: a
// controller's sync then looks at its own pods and its namespace's
// orphans instead of every pod of the namespace.
const PodControllerIndex = "controllerUID"

func podControllerKeys(obj any) ([]string, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	for i := range p.OwnerReferences {
		if r := &p.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return []string{string(r.UID)}, nil
		}
	}
	return []string{orphanKey(p.Namespace)}, nil
}

func orphanKey(ns string) string { return "orphan/" + ns }

// AddPodControllerIndex adds the index to a pod informer unless another
// controller sharing the informer already did; call it before the
// informer starts.
func AddPodControllerIndex(inf cache.SharedIndexInformer) error {
	if _, ok := inf.GetIndexer().GetIndexers()[PodControllerIndex]; ok {
		return nil
	}
	return inf.AddIndexers(cache.Indexers{PodControllerIndex: podControllerKeys})
}

// PodsControlledOrOrphaned lists the pods whose controller has uid and
// the orphans of namespace ns: the pods a controller may claim.
func PodsControlledOrOrphaned(idx cache.Indexer, ns string, uid types.UID) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, key := range []string{string(uid), orphanKey(ns)} {
		objs, err := idx.ByIndex(PodControllerIndex, key)
		if err != nil {
			return nil, fmt.Errorf("pod index: %w", err)
		}
		for _, o := range objs {
			if p, ok := o.(*corev1.Pod); ok && p.Namespace == ns {
				out = append(out, p)
			}
		}
	}
	return out, nil
}
