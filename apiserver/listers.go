package apiserver

import (
	"context"
	"errors"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

// lister reads objects for the admission plugins from the watch cache,
// falling back to etcd when the cache has not seen an object yet (a
// namespace created a moment ago), as kube-apiserver's admission does.
type lister struct{ s *Server }

func (l lister) get(ctx context.Context, group, resource, namespace, name string) (runtime.Object, error) {
	res := l.s.reg.lookup(group, "v1", resource)
	st := l.s.stores[res]
	key := res.Key(namespace, name)
	obj, err := st.Get(ctx, key, "0")
	if errors.Is(err, storage.ErrNotFound) {
		obj, err = st.Get(ctx, key, "")
	}
	if errors.Is(err, storage.ErrNotFound) {
		return nil, apierrors.NewNotFound(res.GR(), name)
	}
	return obj, err
}

// GetNamespace implements builtin.NamespaceGetter.
func (l lister) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	obj, err := l.get(ctx, "", "namespaces", "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Namespace), nil
}

// GetPod implements builtin.PodGetter.
func (l lister) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	obj, err := l.get(ctx, "", "pods", namespace, name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Pod), nil
}

// GetNode implements builtin.NodeGetter.
func (l lister) GetNode(ctx context.Context, name string) (*corev1.Node, error) {
	obj, err := l.get(ctx, "", "nodes", "", name)
	if err != nil {
		return nil, err
	}
	return obj.(*corev1.Node), nil
}

// LimitRanges implements builtin.LimitRangeLister.
func (l lister) LimitRanges(ctx context.Context, namespace string) ([]*corev1.LimitRange, error) {
	res := l.s.reg.lookup("", "v1", "limitranges")
	st := l.s.stores[res]
	// A pod created right after its namespace's LimitRange must get its
	// defaults: the cache first catches up with the LimitRange writes
	// this server made (at once when there were none lately).
	if err := st.WaitWrites(ctx); err != nil {
		return nil, err
	}
	list, err := st.List(ctx, res.ListPrefix(namespace), storage.ListOptions{ResourceVersion: "0"})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.LimitRange, 0, len(list.Items))
	for _, it := range list.Items {
		out = append(out, it.(*corev1.LimitRange))
	}
	return out, nil
}
