package gitsync_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/gitsync"
)

// repo is a real git repository in a temporary directory.
type repo struct {
	t   *testing.T
	dir string
	r   *git.Repository
}

func newRepo(t *testing.T) *repo {
	dir := t.TempDir()
	r, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
	if err != nil {
		t.Fatal(err)
	}
	return &repo{t: t, dir: dir, r: r}
}

// commit writes files (content "" deletes one) and commits them.
func (r *repo) commit(msg string, files map[string]string) string {
	r.t.Helper()
	wt, err := r.r.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(r.dir, name)
		if content == "" {
			if _, err := wt.Remove(name); err != nil {
				r.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			r.t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{Author: &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Now()}, AllowEmptyCommits: true})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

type env struct {
	t     *testing.T
	ctx   context.Context
	admin kubernetes.Interface
	dyn   dynamic.Interface
	c     *gitsync.Controller
	reg   *prometheus.Registry
}

func start(t *testing.T) *env {
	s := apiservertest.Start(t, "", nil)
	cfg := s.RestConfig("gitsync")
	dyn := dynamic.NewForConfigOrDie(cfg)
	disc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	reg := prometheus.NewRegistry()
	c, err := gitsync.New(gitsync.Config{Client: s.Client("gitsync"), Dynamic: dyn, Discovery: disc, CacheDir: t.TempDir(),
		Logger: testLogger(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{t: t, ctx: ctx, admin: s.Client("admin"), dyn: dynamic.NewForConfigOrDie(s.RestConfig("admin")), c: c, reg: reg}
}

var gitRepositories = gitopsv1.SchemeGroupVersion.WithResource("gitrepositories")

func (e *env) createSource(name, url string) {
	e.t.Helper()
	r := &gitopsv1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: gitopsv1.GitRepositorySpec{URL: url, Ref: gitopsv1.GitRef{Branch: "main"}, Prune: true,
			DefaultNamespace: "default", Interval: &metav1.Duration{Duration: time.Hour}},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.dyn.Resource(gitRepositories).Namespace("default").Create(e.ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) source(name string) *gitopsv1.GitRepository {
	e.t.Helper()
	u, err := e.dyn.Resource(gitRepositories).Namespace("default").Get(e.ctx, name, metav1.GetOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var r gitopsv1.GitRepository
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
		e.t.Fatal(err)
	}
	return &r
}

// synced waits until the source attempted hash and returns it.
func (e *env) synced(name, hash string) *gitopsv1.GitRepository {
	e.t.Helper()
	var r *gitopsv1.GitRepository
	apiservertest.Eventually(e.t, 30*time.Second, "revision "+hash[:8]+" attempted", func() bool {
		e.c.Trigger("default", name)
		r = e.source(name)
		return r.Status.LastAttemptedRevision == hash && len(r.Status.Conditions) > 0
	})
	return r
}

func (e *env) configMap(ns, name string) (*corev1.ConfigMap, bool) {
	cm, err := e.admin.CoreV1().ConfigMaps(ns).Get(e.ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return cm, true
}

const appYAML = `apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: shop
data:
  color: blue
`

const webYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
`

// TestPushEditDeleteRefuse walks the loop the issue names: push → applied;
// edit → updated; delete a file → pruned; a bad commit (a schema error in
// one file, a policy violation in another) → nothing applied, both errors
// reported with file:line, the previous revision still in force; a fix →
// applied.
func TestPushEditDeleteRefuse(t *testing.T) {
	e := start(t)
	r := newRepo(t)
	h1 := r.commit("first", map[string]string{"app.yaml": appYAML, "web/deploy.yaml": webYAML, "README.md": "not a manifest",
		"web/svc.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: wbe\n  ports:\n  - port: 80\n"})
	e.createSource("apps", r.dir)

	st := e.synced("apps", h1)
	if cond := st.Status.Conditions[0]; cond.Status != metav1.ConditionTrue || st.Status.LastAppliedRevision != h1 {
		t.Fatalf("first revision not applied: %+v errors %+v", cond, st.Status.Errors)
	}
	cm, ok := e.configMap("shop", "settings")
	if !ok || cm.Data["color"] != "blue" {
		t.Fatalf("ConfigMap shop/settings: %+v", cm)
	}
	if cm.Labels[gitsync.LabelSource] != "default.apps" || cm.Annotations[gitsync.AnnotationFile] != "app.yaml:6" ||
		cm.Annotations[gitsync.AnnotationRevision] != h1 {
		t.Errorf("ownership metadata: labels %v annotations %v", cm.Labels, cm.Annotations)
	}
	d, err := e.admin.AppsV1().Deployments("default").Get(e.ctx, "web", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Fatalf("Deployment default/web: %v %v", d, err)
	}
	if st.Status.Commit == nil || st.Status.Commit.Message != "first" || !strings.Contains(st.Status.Commit.Author, "Ada") {
		t.Errorf("commit info %+v", st.Status.Commit)
	}
	// A doubt that does not stop the revision: the Service's selector
	// (a typo) matches no pod template.
	if w := st.Status.Warnings; len(w) != 1 || w[0].File != "web/svc.yaml" || w[0].Line != 6 || !strings.Contains(w[0].Message, "selects no pod template") {
		t.Errorf("warnings %+v", w)
	}
	// No controller runs here: the Deployment is counted, progressing.
	if h := st.Status.Health; h == nil || h.Workloads != 1 || h.Progressing != 1 || h.Healthy != 0 {
		t.Errorf("health %+v", h)
	}

	// Edit.
	h2 := r.commit("blue to green", map[string]string{"app.yaml": strings.Replace(appYAML, "blue", "green", 1)})
	st = e.synced("apps", h2)
	if cm, _ := e.configMap("shop", "settings"); cm.Data["color"] != "green" || st.Status.LastAppliedRevision != h2 {
		t.Fatalf("edit not applied: %v, status %+v", cm.Data, st.Status)
	}
	// The untouched Deployment was not rewritten.
	d2, _ := e.admin.AppsV1().Deployments("default").Get(e.ctx, "web", metav1.GetOptions{})
	if d2.ResourceVersion != d.ResourceVersion {
		t.Errorf("an unchanged Deployment was written: resourceVersion %s → %s", d.ResourceVersion, d2.ResourceVersion)
	}

	// Delete a file: its Deployment is pruned.
	h3 := r.commit("drop web", map[string]string{"web/deploy.yaml": ""})
	e.synced("apps", h3)
	apiservertest.Eventually(t, 10*time.Second, "web pruned", func() bool {
		_, err := e.admin.AppsV1().Deployments("default").Get(e.ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})

	// A bad commit: a schema error in one file, a policy violation in
	// another (the policy comes with the revision).
	bad := r.commit("bad", map[string]string{
		"app.yaml": strings.Replace(appYAML, "blue", "red", 1),
		"broken.yaml": `apiVersion: v1
kind: ConfigMap
metadata:
  name: broken
data:
  size: [1, 2]
`,
		"policy.yaml": `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: no-latest
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.spec.template.spec.containers.all(c, !c.image.endsWith(':latest'))"
    message: images must be pinned
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: no-latest
spec:
  policyName: no-latest
  validationActions: [Deny]
`,
		"web/deploy.yaml": strings.Replace(webYAML, "nginx:1.27", "nginx:latest", 1),
	})
	st = e.synced("apps", bad)
	if st.Status.LastAppliedRevision != h3 || st.Status.Conditions[0].Status != metav1.ConditionFalse {
		t.Fatalf("bad revision: applied %s, condition %+v", st.Status.LastAppliedRevision, st.Status.Conditions[0])
	}
	var schemaErr, policyErr bool
	for _, se := range st.Status.Errors {
		schemaErr = schemaErr || se.File == "broken.yaml" && se.Line == 6 && strings.Contains(se.Field, "data")
		policyErr = policyErr || se.File == "web/deploy.yaml" && se.Line > 0 && strings.Contains(se.Message, "images must be pinned")
	}
	if !hasCondition(st, "Stalled", metav1.ConditionTrue, "ValidationFailed", "a new commit is needed") {
		t.Errorf("a refused revision should stall the source: %+v", st.Status.Conditions)
	}
	if !schemaErr || !policyErr {
		t.Fatalf("want the schema error at broken.yaml:6 and the policy error in web/deploy.yaml; got %+v", st.Status.Errors)
	}
	// Nothing of it applied: the ConfigMap change in the same revision
	// did not land, no new objects.
	if cm, _ := e.configMap("shop", "settings"); cm.Data["color"] != "green" {
		t.Fatalf("a refused revision changed shop/settings: %v", cm.Data)
	}
	if _, ok := e.configMap("default", "broken"); ok {
		t.Fatal("a refused revision created default/broken")
	}
	if _, err := e.admin.AppsV1().Deployments("default").Get(e.ctx, "web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("a refused revision created web: %v", err)
	}

	// The fix.
	fixed := r.commit("fix", map[string]string{
		"broken.yaml":     "",
		"web/deploy.yaml": webYAML,
	})
	st = e.synced("apps", fixed)
	if st.Status.LastAppliedRevision != fixed || !hasCondition(st, "Ready", metav1.ConditionTrue, "Applied", "") ||
		!hasCondition(st, "Stalled", metav1.ConditionFalse, "Applied", "") {
		t.Fatalf("fix not applied: %+v %+v", st.Status.Conditions, st.Status.Errors)
	}
	if cm, _ := e.configMap("shop", "settings"); cm.Data["color"] != "red" {
		t.Fatalf("fix: shop/settings %v", cm.Data)
	}

	// The metrics saw it all.
	got := map[string]float64{}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					key += "/" + l.GetValue()
				}
			}
			got[key] += m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount()) + m.GetGauge().GetValue()
		}
	}
	for _, k := range []string{"gitsync_syncs_total/applied", "gitsync_syncs_total/refused", "gitsync_fetch_duration_seconds",
		"gitsync_validate_duration_seconds", "gitsync_apply_duration_seconds", "gitsync_last_applied_timestamp_seconds"} {
		if got[k] <= 0 {
			t.Errorf("metric %s: %v", k, got[k])
		}
	}
}

// TestDriftRestored: an owned object changed or deleted out of band is
// put back by the next sync.
func TestDriftRestored(t *testing.T) {
	e := start(t)
	r := newRepo(t)
	h := r.commit("first", map[string]string{"app.yaml": appYAML})
	e.createSource("apps", r.dir)
	if st := e.synced("apps", h); st.Status.LastAppliedRevision != h {
		t.Fatalf("not applied: %+v", st.Status)
	}
	cm, _ := e.configMap("shop", "settings")
	cm.Data["color"] = "hacked"
	cm.Data["extra"] = "kept"
	if _, err := e.admin.CoreV1().ConfigMaps("shop").Update(e.ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 10*time.Second, "drift restored", func() bool {
		e.c.Trigger("default", "apps")
		cm, _ := e.configMap("shop", "settings")
		return cm.Data["color"] == "blue"
	})
	if cm, _ := e.configMap("shop", "settings"); cm.Data["extra"] != "kept" {
		t.Errorf("a field git does not set was removed: %v", cm.Data)
	}
	apiservertest.Eventually(t, 10*time.Second, "a DriftCorrected event on the ConfigMap", func() bool {
		evs, err := e.admin.CoreV1().Events("shop").List(e.ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=settings"})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs.Items {
			if ev.Reason == "DriftCorrected" && strings.Contains(ev.Message, "was changed outside git; restored from app.yaml:6") {
				return true
			}
		}
		return false
	})
	if err := e.admin.CoreV1().ConfigMaps("shop").Delete(e.ctx, "settings", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 10*time.Second, "deleted object recreated", func() bool {
		e.c.Trigger("default", "apps")
		_, ok := e.configMap("shop", "settings")
		return ok
	})
}

func testLogger() *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// TestEmptyRevision: a revision without manifests does not prune
// everything unless spec.allowEmpty says so.
func TestEmptyRevision(t *testing.T) {
	e := start(t)
	r := newRepo(t)
	h1 := r.commit("first", map[string]string{"app.yaml": appYAML})
	e.createSource("apps", r.dir)
	e.synced("apps", h1)
	h2 := r.commit("everything gone", map[string]string{"app.yaml": ""})
	st := e.synced("apps", h2)
	if st.Status.LastAppliedRevision != h1 || !strings.Contains(st.Status.Conditions[0].Message, "allowEmpty") {
		t.Fatalf("an empty revision was applied: %+v", st.Status.Conditions)
	}
	if _, ok := e.configMap("shop", "settings"); !ok {
		t.Fatal("an empty revision pruned shop/settings")
	}
	u, err := e.dyn.Resource(gitRepositories).Namespace("default").Get(e.ctx, "apps", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := unstructured.SetNestedField(u.Object, true, "spec", "allowEmpty"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.dyn.Resource(gitRepositories).Namespace("default").Update(e.ctx, u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 10*time.Second, "allowEmpty prunes", func() bool {
		e.c.Trigger("default", "apps")
		_, ok := e.configMap("shop", "settings")
		return !ok && e.source("apps").Status.LastAppliedRevision == h2
	})
}
