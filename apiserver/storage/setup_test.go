package storage

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// testCodec is a JSON codec for core/v1 objects built from client-go's scheme.
type testCodec struct {
	enc runtime.Encoder
	dec runtime.Decoder
}

func newTestCodec() Codec {
	return testCodec{
		enc: scheme.Codecs.LegacyCodec(corev1.SchemeGroupVersion),
		dec: scheme.Codecs.UniversalDeserializer(),
	}
}

func (c testCodec) Encode(obj runtime.Object) ([]byte, error) { return runtime.Encode(c.enc, obj) }
func (c testCodec) Decode(data []byte) (runtime.Object, error) {
	return runtime.Decode(c.dec, data)
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// startEtcd starts a single-member embedded etcd in t.TempDir() and returns a
// client for it; both are closed when the test ends.
func startEtcd(t testing.TB) (*Embedded, *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, EmbeddedConfig{Dir: t.TempDir(), Logger: quietLog})
	if err != nil {
		t.Fatalf("StartEmbedded: %v", err)
	}
	t.Cleanup(e.Close)
	c, err := NewClient(e.Endpoints(), nil)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return e, c
}

// testEnv is a store over a fresh etcd with configmaps opened.
type testEnv struct {
	client *clientv3.Client
	store  *Store
	cms    *Resource
	ctx    context.Context
}

func newEnv(t testing.TB, opts Options) *testEnv {
	t.Helper()
	_, c := startEtcd(t)
	if opts.Logger == nil {
		opts.Logger = quietLog
	}
	s := New(c, newTestCodec(), opts)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r, err := s.Open(ctx, "/registry/configmaps/", func() runtime.Object { return &corev1.ConfigMap{} }, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return &testEnv{client: c, store: s, cms: r, ctx: ctx}
}

func cm(ns, name string, labels map[string]string, data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Data:       data,
	}
}

func cmKey(ns, name string) string { return "/registry/configmaps/" + ns + "/" + name }

func rvOf(t testing.TB, obj runtime.Object) int64 {
	t.Helper()
	acc, err := meta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	rv, err := strconv.ParseInt(acc.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q: %v", acc.GetResourceVersion(), err)
	}
	return rv
}

func nameOf(obj runtime.Object) string {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return ""
	}
	return acc.GetName()
}

// mustCreate creates a configmap and returns it with its resourceVersion.
func (env *testEnv) mustCreate(t testing.TB, c *corev1.ConfigMap) *corev1.ConfigMap {
	t.Helper()
	out, err := env.cms.Create(env.ctx, cmKey(c.Namespace, c.Name), c, CreateOptions{})
	if err != nil {
		t.Fatalf("Create %s/%s: %v", c.Namespace, c.Name, err)
	}
	return out.(*corev1.ConfigMap)
}

func mustFieldSelector(t testing.TB, s string) fields.Selector {
	t.Helper()
	sel, err := fields.ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

func mustLabelSelector(t testing.TB, s string) labels.Selector {
	t.Helper()
	sel, err := labels.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}
