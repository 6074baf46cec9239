package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/apiserver/storage"
	"github.com/cairn-dev/cairn/defaults"
)

// bootstrap creates what a new cluster starts with, and is safe to re-run
// on every start: the four system namespaces, the bootstrap RBAC policy,
// and the kubernetes Service with Endpoints pointing at this server.
func (s *Server) bootstrap(ctx context.Context, port int) error {
	if err := s.alloc.load(ctx, s.store); err != nil {
		return err
	}
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		if err := s.createIfMissing(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return err
		}
	}
	for _, obj := range auth.BootstrapPolicy() {
		if err := s.createIfMissing(ctx, obj); err != nil {
			return err
		}
	}
	if err := s.ensureJoinToken(ctx); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: s.alloc.first().String(),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))}},
		},
	}
	if err := s.createIfMissing(ctx, svc); err != nil {
		return err
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: advertiseIP(s.cfg.AdvertiseAddress)}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	return s.upsertInternal(ctx, ep)
}

func advertiseIP(addr string) string {
	if ip := net.ParseIP(addr); ip != nil {
		return ip.String()
	}
	return "127.0.0.1"
}

func (s *Server) resourceFor(obj runtime.Object) (*Resource, error) {
	gvks, _, err := s.scheme.ObjectKinds(obj)
	if err != nil {
		return nil, err
	}
	for _, r := range s.reg.all {
		if r.GVK() == gvks[0] {
			obj.GetObjectKind().SetGroupVersionKind(gvks[0])
			return r, nil
		}
	}
	return nil, fmt.Errorf("apiserver: %s is not served", gvks[0])
}

// createIfMissing stores an object the server itself creates, filling the
// fields a create through the API would.
func (s *Server) createIfMissing(ctx context.Context, obj runtime.Object) error {
	res, err := s.resourceFor(obj)
	if err != nil {
		return err
	}
	m, _ := meta.Accessor(obj)
	m.SetUID(types.UID(uuid.NewString()))
	m.SetCreationTimestamp(metav1.NewTime(time.Now()))
	if hasField(obj, "Spec") {
		m.SetGeneration(1)
	}
	prepareCreate(obj)
	defaults.Apply(obj)
	claims, err := s.alloc.claimsFor(ctx, s.stores, obj, nil)
	if err != nil {
		return err
	}
	_, err = s.stores[res].Create(ctx, res.Key(m.GetNamespace(), m.GetName()), obj, storage.CreateOptions{Claims: claims})
	if errors.Is(err, storage.ErrExists) || errors.Is(err, storage.ErrClaimed) {
		return nil
	}
	if err == nil {
		s.alloc.noteClaims(claims)
	}
	return err
}

// upsertInternal creates an object or replaces an existing one's content.
func (s *Server) upsertInternal(ctx context.Context, obj runtime.Object) error {
	res, err := s.resourceFor(obj)
	if err != nil {
		return err
	}
	m, _ := meta.Accessor(obj)
	key := res.Key(m.GetNamespace(), m.GetName())
	_, err = s.stores[res].GuaranteedUpdate(ctx, key, func(cur runtime.Object) (storage.Update, error) {
		cm, _ := meta.Accessor(cur)
		m.SetUID(cm.GetUID())
		m.SetCreationTimestamp(cm.GetCreationTimestamp())
		defaults.Apply(obj)
		return storage.Update{Object: obj.DeepCopyObject()}, nil
	})
	if errors.Is(err, storage.ErrNotFound) {
		return s.createIfMissing(ctx, obj)
	}
	return err
}

// writeKubeconfigs writes a kubeconfig for each built-in identity into the
// data dir, with a fresh client certificate from the cluster CA.
func (s *Server) writeKubeconfigs() error {
	for _, id := range auth.Identities() {
		cert, key, err := s.ca.IssueClient(id.User, 365*24*time.Hour)
		if err != nil {
			return err
		}
		if err := auth.WriteKubeconfig(filepath.Join(s.cfg.DataDir, id.File), auth.Kubeconfig{
			Server: "https://" + s.addr, CAPEM: s.ca.CertPEM(), UserName: id.User.Name, CertPEM: cert, KeyPEM: key,
		}); err != nil {
			return err
		}
	}
	return nil
}
