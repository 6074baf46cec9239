package replicaset

import (
	"context"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
)

// owners is the kind the controller manages, seen as ReplicaSets: the
// ReplicaSets themselves, or ReplicationControllers converted to and fro
// (Kubernetes' replication manager is the ReplicaSet controller run on
// converted objects too).
type owners interface {
	kind() schema.GroupVersionKind
	informer() cache.SharedIndexInformer
	// get and list read the informer's cache.
	get(ns, name string) (*appsv1.ReplicaSet, error)
	list(ns string) ([]*appsv1.ReplicaSet, error)
	// getLive reads past the cache.
	getLive(ctx context.Context, ns, name string) (*appsv1.ReplicaSet, error)
	updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error)
}

// replicaSets is owners for apps/v1 ReplicaSets.
type replicaSets struct {
	client kubernetes.Interface
	inf    cache.SharedIndexInformer
	lister appslisters.ReplicaSetLister
}

func newReplicaSets(client kubernetes.Interface, factory informers.SharedInformerFactory) *replicaSets {
	inf := factory.Apps().V1().ReplicaSets()
	return &replicaSets{client: client, inf: inf.Informer(), lister: inf.Lister()}
}

func (r *replicaSets) kind() schema.GroupVersionKind       { return rsKind }
func (r *replicaSets) informer() cache.SharedIndexInformer { return r.inf }

func (r *replicaSets) get(ns, name string) (*appsv1.ReplicaSet, error) {
	return r.lister.ReplicaSets(ns).Get(name)
}

func (r *replicaSets) list(ns string) ([]*appsv1.ReplicaSet, error) {
	return r.lister.ReplicaSets(ns).List(labels.Everything())
}

func (r *replicaSets) getLive(ctx context.Context, ns, name string) (*appsv1.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (r *replicaSets) updateStatus(ctx context.Context, rs *appsv1.ReplicaSet) (*appsv1.ReplicaSet, error) {
	return r.client.AppsV1().ReplicaSets(rs.Namespace).UpdateStatus(ctx, rs, metav1.UpdateOptions{})
}
