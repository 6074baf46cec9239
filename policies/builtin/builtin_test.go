package builtin

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/policies"
)

// --- fakes ---

type fakeNamespaces map[string]*corev1.Namespace

func (f fakeNamespaces) GetNamespace(_ context.Context, name string) (*corev1.Namespace, error) {
	if ns, ok := f[name]; ok {
		return ns, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
}

type fakeLimitRanges struct {
	items map[string][]*corev1.LimitRange
	err   error
}

func (f fakeLimitRanges) LimitRanges(_ context.Context, namespace string) ([]*corev1.LimitRange, error) {
	return f.items[namespace], f.err
}

// --- helpers ---

var (
	podGVK  = schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	podGVR  = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	pvcGVK  = schema.GroupVersionKind{Version: "v1", Kind: "PersistentVolumeClaim"}
	pvcGVR  = schema.GroupVersionResource{Version: "v1", Resource: "persistentvolumeclaims"}
	nsGVK   = schema.GroupVersionKind{Version: "v1", Kind: "Namespace"}
	nsGVR   = schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	cmGVK   = schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}
	cmGVR   = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	nodeGVK = schema.GroupVersionKind{Version: "v1", Kind: "Node"}
	nodeGVR = schema.GroupVersionResource{Version: "v1", Resource: "nodes"}
	leaseGV = schema.GroupVersion{Group: "coordination.k8s.io", Version: "v1"}
	evGVR   = schema.GroupVersionResource{Version: "v1", Resource: "events"}
)

func rl(kv ...string) corev1.ResourceList {
	out := corev1.ResourceList{}
	for i := 0; i < len(kv); i += 2 {
		out[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return out
}

func container(name string, requests, limits corev1.ResourceList) corev1.Container {
	return corev1.Container{Name: name, Image: "nginx", Resources: corev1.ResourceRequirements{Requests: requests, Limits: limits}}
}

func pod(name string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"}, Spec: corev1.PodSpec{Containers: containers}}
}

func createPod(p *corev1.Pod) *policies.Attributes {
	return &policies.Attributes{Operation: policies.Create, Kind: podGVK, Resource: podGVR,
		Namespace: p.Namespace, Name: p.Name, Object: p}
}

func limitRange(name string, items ...corev1.LimitRangeItem) *corev1.LimitRange {
	return &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "team"},
		Spec: corev1.LimitRangeSpec{Limits: items}}
}

// wantStatus checks err against an expected HTTP code and message ("" and
// 0 for success).
func wantStatus(t *testing.T, err error, code int32, msg string) {
	t.Helper()
	if code == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("want *StatusError %d %q, got %T %v", code, msg, err, err)
	}
	if se.ErrStatus.Code != code {
		t.Errorf("code = %d, want %d (%v)", se.ErrStatus.Code, code, err)
	}
	if msg != "" && se.ErrStatus.Message != msg {
		t.Errorf("message =\n  %q\nwant\n  %q", se.ErrStatus.Message, msg)
	}
}

// --- LimitRanger ---

func TestLimitRangerSeedExample(t *testing.T) {
	// The seed's LimitRange, as written in git (not yet defaulted by the API
	// server) and as the API server stores it.
	raw := limitRange("mem-limit-range", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: rl("memory", "512Mi")})
	stored := raw.DeepCopy()
	stored.Spec.Limits[0].DefaultRequest = rl("memory", "512Mi")
	for name, lr := range map[string]*corev1.LimitRange{"raw": raw, "stored": stored} {
		t.Run(name, func(t *testing.T) {
			plugin := LimitRanger(fakeLimitRanges{items: map[string][]*corev1.LimitRange{"team": {lr}}})
			p := pod("web", container("web", nil, nil))
			if err := plugin.Admit(context.Background(), createPod(p)); err != nil {
				t.Fatal(err)
			}
			c := p.Spec.Containers[0]
			if got := c.Resources.Limits.Memory().String(); got != "512Mi" {
				t.Errorf("limit = %s, want 512Mi", got)
			}
			if got := c.Resources.Requests.Memory().String(); got != "512Mi" {
				t.Errorf("request = %s, want 512Mi", got)
			}
			want := "LimitRanger plugin set: memory request for container web; memory limit for container web"
			if got := p.Annotations["kubernetes.io/limit-ranger"]; got != want {
				t.Errorf("annotation = %q, want %q", got, want)
			}
			if lr.Spec.Limits[0].DefaultRequest != nil && name == "raw" {
				t.Errorf("lister's LimitRange was changed")
			}
		})
	}
}

func TestLimitRangerLimitOnlyDefault(t *testing.T) {
	// A container that states its request gets only the limit.
	lr := limitRange("mem-limit-range", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: rl("memory", "512Mi")})
	plugin := LimitRanger(fakeLimitRanges{items: map[string][]*corev1.LimitRange{"team": {lr}}})
	p := pod("web", container("web", rl("memory", "256Mi"), nil))
	p.Spec.InitContainers = []corev1.Container{container("setup", nil, nil)}
	if err := plugin.Admit(context.Background(), createPod(p)); err != nil {
		t.Fatal(err)
	}
	want := "LimitRanger plugin set: memory limit for container web; memory request for init container setup; memory limit for init container setup"
	if got := p.Annotations["kubernetes.io/limit-ranger"]; got != want {
		t.Errorf("annotation = %q, want %q", got, want)
	}
	if got := p.Spec.Containers[0].Resources.Requests.Memory().String(); got != "256Mi" {
		t.Errorf("request changed to %s", got)
	}
}

func TestLimitRangerUnstructured(t *testing.T) {
	lr := limitRange("mem-limit-range", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: rl("memory", "512Mi")})
	plugin := LimitRanger(fakeLimitRanges{items: map[string][]*corev1.LimitRange{"team": {lr}}})
	p := pod("web", container("web", nil, nil))
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: m}
	a := &policies.Attributes{Operation: policies.Create, Kind: podGVK, Resource: podGVR, Namespace: "team", Name: "web", Object: u}
	if err := plugin.Admit(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	cs, _, _ := unstructured.NestedSlice(u.Object, "spec", "containers")
	lim, _, _ := unstructured.NestedString(cs[0].(map[string]any), "resources", "limits", "memory")
	if lim != "512Mi" {
		t.Errorf("unstructured limit = %q", lim)
	}
	if u.GetAnnotations()["kubernetes.io/limit-ranger"] == "" {
		t.Errorf("no annotation on unstructured pod")
	}
}

func TestLimitRangerConstraints(t *testing.T) {
	ctr := func(items ...corev1.LimitRangeItem) []*corev1.LimitRange {
		return []*corev1.LimitRange{limitRange("lr", items...)}
	}
	always := corev1.ContainerRestartPolicyAlways
	tests := []struct {
		name   string
		ranges []*corev1.LimitRange
		pod    *corev1.Pod
		code   int32
		msg    string
	}{
		{
			name:   "limit over container max",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")}),
			pod:    pod("big", container("web", rl("memory", "2Gi"), rl("memory", "2Gi"))),
			code:   http.StatusForbidden,
			msg:    `pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi`,
		},
		{
			name:   "within container max, limit defaulted from max",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")}),
			pod:    pod("ok", container("web", nil, nil)),
		},
		{
			name:   "request under container min",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m")}),
			pod:    pod("small", container("web", rl("cpu", "50m"), nil)),
			code:   http.StatusForbidden,
			msg:    `pods "small" is forbidden: minimum cpu usage per Container is 100m, but request is 50m`,
		},
		{
			name:   "limit under container min",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Min: rl("cpu", "100m")}),
			pod:    pod("small", container("web", rl("cpu", "200m"), rl("cpu", "50m"))),
			code:   http.StatusForbidden,
			msg:    `pods "small" is forbidden: minimum cpu usage per Container is 100m, but limit is 50m`,
		},
		{
			name:   "init container checked too",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1")}),
			pod: func() *corev1.Pod {
				p := pod("init", container("web", rl("cpu", "1"), rl("cpu", "1")))
				p.Spec.InitContainers = []corev1.Container{container("setup", rl("cpu", "2"), rl("cpu", "2"))}
				return p
			}(),
			code: http.StatusForbidden,
			msg:  `pods "init" is forbidden: maximum cpu usage per Container is 1, but limit is 2`,
		},
		{
			name:   "container ratio exceeded",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("cpu", "2")}),
			pod:    pod("ratio", container("web", rl("cpu", "250m"), rl("cpu", "1"))),
			code:   http.StatusForbidden,
			msg:    `pods "ratio" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000`,
		},
		{
			name:   "container ratio within",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("cpu", "2")}),
			pod:    pod("ratio", container("web", rl("cpu", "500m"), rl("cpu", "1"))),
		},
		{
			name:   "ratio without limit",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, MaxLimitRequestRatio: rl("memory", "1.5")}),
			pod:    pod("ratio", container("web", rl("memory", "1Gi"), nil)),
			code:   http.StatusForbidden,
			msg:    `pods "ratio" is forbidden: memory max limit to request ratio per Container is 1500m, but no limit is specified or limit is 0`,
		},
		{
			name:   "pod max on the sum of containers",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("memory", "1Gi")}),
			pod:    pod("sum", container("a", rl("memory", "600Mi"), rl("memory", "600Mi")), container("b", rl("memory", "600Mi"), rl("memory", "600Mi"))),
			code:   http.StatusForbidden,
			msg:    `pods "sum" is forbidden: maximum memory usage per Pod is 1Gi, but limit is 1200Mi`,
		},
		{
			name:   "pod max with a container without limit",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("memory", "1Gi")}),
			pod:    pod("nolimit", container("a", rl("memory", "100Mi"), nil)),
			code:   http.StatusForbidden,
			msg:    `pods "nolimit" is forbidden: maximum memory usage per Pod is 1Gi.  No limit is specified`,
		},
		{
			name:   "pod sum within",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("memory", "1Gi")}),
			pod:    pod("sum", container("a", rl("memory", "500Mi"), rl("memory", "500Mi")), container("b", rl("memory", "500Mi"), rl("memory", "500Mi"))),
		},
		{
			name:   "pod min on the sum",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Min: rl("cpu", "500m")}),
			pod:    pod("sum", container("a", rl("cpu", "200m"), nil), container("b", rl("cpu", "200m"), nil)),
			code:   http.StatusForbidden,
			msg:    `pods "sum" is forbidden: minimum cpu usage per Pod is 500m, but request is 400m`,
		},
		{
			name:   "pod sums count sidecars and the largest init container",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("cpu", "2")}),
			pod: func() *corev1.Pod {
				p := pod("side", container("web", rl("cpu", "1"), rl("cpu", "1")))
				side := container("proxy", rl("cpu", "500m"), rl("cpu", "500m"))
				side.RestartPolicy = &always
				p.Spec.InitContainers = []corev1.Container{side, container("setup", rl("cpu", "2"), rl("cpu", "2"))}
				return p
			}(),
			code: http.StatusForbidden,
			msg:  `pods "side" is forbidden: maximum cpu usage per Pod is 2, but limit is 2500m`,
		},
		{
			name:   "pod ratio",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypePod, MaxLimitRequestRatio: rl("memory", "2")}),
			pod:    pod("ratio", container("a", rl("memory", "100Mi"), rl("memory", "300Mi")), container("b", rl("memory", "100Mi"), rl("memory", "300Mi"))),
			code:   http.StatusForbidden,
			msg:    `pods "ratio" is forbidden: memory max limit to request ratio per Pod is 2, but provided ratio is 3.000000`,
		},
		{
			name:   "several violations aggregate",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("cpu", "1", "memory", "1Gi")}),
			pod:    pod("two", container("web", rl("cpu", "2", "memory", "2Gi"), rl("cpu", "2", "memory", "2Gi"))),
			code:   http.StatusForbidden,
			msg:    `pods "two" is forbidden: [maximum cpu usage per Container is 1, but limit is 2, maximum memory usage per Container is 1Gi, but limit is 2Gi]`,
		},
		{
			name: "multiple LimitRanges: defaults of one satisfy another's max",
			ranges: []*corev1.LimitRange{
				limitRange("max", corev1.LimitRangeItem{Type: corev1.LimitTypePod, Max: rl("memory", "1Gi")}),
				limitRange("defaults", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Default: rl("memory", "256Mi")}),
			},
			pod: pod("multi", container("web", nil, nil)),
		},
		{
			name: "multiple LimitRanges: the stricter one refuses",
			ranges: []*corev1.LimitRange{
				limitRange("loose", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "4Gi")}),
				limitRange("strict", corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")}),
			},
			pod:  pod("multi", container("web", rl("memory", "2Gi"), rl("memory", "2Gi"))),
			code: http.StatusForbidden,
			msg:  `pods "multi" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi`,
		},
		{
			name:   "generateName used when name is empty",
			ranges: ctr(corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")}),
			pod: func() *corev1.Pod {
				p := pod("", container("web", rl("memory", "2Gi"), rl("memory", "2Gi")))
				p.GenerateName = "web-"
				return p
			}(),
			code: http.StatusForbidden,
			msg:  `pods "web-" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plugin := LimitRanger(fakeLimitRanges{items: map[string][]*corev1.LimitRange{"team": tc.ranges}})
			wantStatus(t, plugin.Admit(context.Background(), createPod(tc.pod)), tc.code, tc.msg)
		})
	}
}

func TestLimitRangerScope(t *testing.T) {
	lr := []*corev1.LimitRange{limitRange("lr",
		corev1.LimitRangeItem{Type: corev1.LimitTypeContainer, Max: rl("memory", "1Gi")},
		corev1.LimitRangeItem{Type: corev1.LimitTypePersistentVolumeClaim, Min: rl("storage", "1Gi"), Max: rl("storage", "10Gi")},
	)}
	plugin := LimitRanger(fakeLimitRanges{items: map[string][]*corev1.LimitRange{"team": lr}})
	big := pod("big", container("web", rl("memory", "2Gi"), rl("memory", "2Gi")))
	pvc := func(size string) *corev1.PersistentVolumeClaim {
		return &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data", Namespace: "team"},
			Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: rl("storage", size)}}}
	}
	deleting := big.DeepCopy()
	deleting.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	tests := []struct {
		name string
		a    *policies.Attributes
		code int32
		msg  string
	}{
		{"pod update is not checked", &policies.Attributes{Operation: policies.Update, Kind: podGVK, Resource: podGVR, Namespace: "team", Name: "big", Object: big.DeepCopy(), OldObject: big.DeepCopy()}, 0, ""},
		{"pod status is not checked", &policies.Attributes{Operation: policies.Update, Kind: podGVK, Resource: podGVR, Subresource: "status", Namespace: "team", Name: "big", Object: big.DeepCopy(), OldObject: big.DeepCopy()}, 0, ""},
		{"pod resize is checked", &policies.Attributes{Operation: policies.Update, Kind: podGVK, Resource: podGVR, Subresource: "resize", Namespace: "team", Name: "big", Object: big.DeepCopy(),
			OldObject: pod("big", container("web", rl("memory", "1Gi"), rl("memory", "1Gi")))}, http.StatusForbidden, `pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi`},
		{"resize keeping a stored value is allowed", &policies.Attributes{Operation: policies.Update, Kind: podGVK, Resource: podGVR, Subresource: "resize", Namespace: "team", Name: "big", Object: big.DeepCopy(), OldObject: big.DeepCopy()}, 0, ""},
		{"pod being deleted is not checked", &policies.Attributes{Operation: policies.Update, Kind: podGVK, Resource: podGVR, Subresource: "resize", Namespace: "team", Name: "big", Object: big.DeepCopy(), OldObject: deleting}, 0, ""},
		{"pod delete is not checked", &policies.Attributes{Operation: policies.Delete, Kind: podGVK, Resource: podGVR, Namespace: "team", Name: "big", OldObject: big.DeepCopy()}, 0, ""},
		{"pvc over max", &policies.Attributes{Operation: policies.Create, Kind: pvcGVK, Resource: pvcGVR, Namespace: "team", Name: "data", Object: pvc("20Gi")}, http.StatusForbidden,
			`persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`},
		{"pvc under min", &policies.Attributes{Operation: policies.Create, Kind: pvcGVK, Resource: pvcGVR, Namespace: "team", Name: "data", Object: pvc("500Mi")}, http.StatusForbidden,
			`persistentvolumeclaims "data" is forbidden: minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi`},
		{"pvc within", &policies.Attributes{Operation: policies.Create, Kind: pvcGVK, Resource: pvcGVR, Namespace: "team", Name: "data", Object: pvc("5Gi")}, 0, ""},
		{"pvc expand over max", &policies.Attributes{Operation: policies.Update, Kind: pvcGVK, Resource: pvcGVR, Namespace: "team", Name: "data", Object: pvc("20Gi"), OldObject: pvc("5Gi")}, http.StatusForbidden,
			`persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi`},
		{"pvc update keeping its stored size", &policies.Attributes{Operation: policies.Update, Kind: pvcGVK, Resource: pvcGVR, Namespace: "team", Name: "data", Object: pvc("20Gi"), OldObject: pvc("20Gi")}, 0, ""},
		{"other kinds untouched", &policies.Attributes{Operation: policies.Create, Kind: cmGVK, Resource: cmGVR, Namespace: "team", Name: "c", Object: &corev1.ConfigMap{}}, 0, ""},
		{"other namespace has no LimitRange", createPod(func() *corev1.Pod { p := big.DeepCopy(); p.Namespace = "other"; return p }()), 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantStatus(t, plugin.Admit(context.Background(), tc.a), tc.code, tc.msg)
		})
	}

	t.Run("lister error", func(t *testing.T) {
		failing := LimitRanger(fakeLimitRanges{err: errors.New("boom")})
		wantStatus(t, failing.Admit(context.Background(), createPod(big.DeepCopy())), http.StatusForbidden, "")
	})
}
