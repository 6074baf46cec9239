// Package gitsync is cairn's loop from a git push to the cluster's desired
// state: for every GitRepository it fetches the revision its ref names,
// loads the manifests under its path, checks them with the same engine as
// `cairn validate` (schemas, Kubernetes' validation, the revision's
// admission policies), asks the API server for a dry run of every change,
// and only when nothing is refused applies the revision in dependency
// order and prunes what left git. A refused revision changes nothing: the
// last applied one stays in force and the GitRepository's status lists
// every error with its file and line.
package gitsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/client-go/tools/record"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/manifest"
)

// DefaultInterval between fetches of a source that names none.
const DefaultInterval = 15 * time.Second

var gitRepositories = gitopsv1.SchemeGroupVersion.WithResource("gitrepositories")

// Config configures the controller.
type Config struct {
	// Client records events; Dynamic and Discovery reach every kind.
	Client    kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
	// CacheDir keeps the local clones.
	CacheDir string
	Logger   *slog.Logger
	// Registerer for gitsync's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// LeaderElect applies only while holding the Lease
	// kube-system/cairn-gitsync, so that several servers sharing one etcd
	// apply each revision once. Identity names this instance in it
	// (default hostname_uuid).
	LeaderElect bool
	Identity    string
	// LeaseDuration, RenewDeadline, RetryPeriod: 15s, 10s, 2s.
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// Lease gitsync campaigns for.
const (
	LeaseNamespace = "kube-system"
	LeaseName      = "cairn-gitsync"
)

// Controller runs one sync loop per GitRepository.
type Controller struct {
	cfg      Config
	log      *slog.Logger
	fetcher  *Fetcher
	applier  *Applier
	recorder record.EventRecorder
	events   record.EventBroadcaster
	informer cache.SharedIndexInformer
	metrics  *metrics

	mu      sync.Mutex
	ctx     context.Context // Run's, once it started
	sources map[string]*sourceLoop
	wg      sync.WaitGroup
}

// New builds the controller.
func New(cfg Config) (*Controller, error) {
	if cfg.Dynamic == nil || cfg.Discovery == nil || cfg.Client == nil {
		return nil, errors.New("gitsync: Client, Dynamic and Discovery are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cfg.Discovery))
	c := &Controller{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "gitsync"),
		fetcher: &Fetcher{Dir: filepath.Join(cfg.CacheDir, "git")},
		applier: &Applier{Dynamic: cfg.Dynamic, Mapper: mapper, Discovery: cfg.Discovery},
		events:  record.NewBroadcaster(),
		sources: map[string]*sourceLoop{},
		metrics: newMetrics(cfg.Registerer),
	}
	s := runtime.NewScheme()
	_ = scheme.AddToScheme(s)
	_ = gitopsv1.AddToScheme(s)
	c.recorder = c.events.NewRecorder(s, corev1.EventSource{Component: "gitsync"})
	if cfg.Identity == "" {
		host, _ := os.Hostname()
		c.cfg.Identity = host + "_" + uuid.NewString()
	}
	return c, nil
}

// Run follows the GitRepositories until ctx ends: at once, or with
// LeaderElect whenever this instance holds the lease. Each term starts
// afresh (informer, one loop per source).
func (c *Controller) Run(ctx context.Context) error {
	c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.cfg.Client.CoreV1().Events("")})
	defer c.events.Shutdown()
	if !c.cfg.LeaderElect {
		return c.term(ctx)
	}
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: LeaseNamespace, Name: LeaseName},
		Client:     c.cfg.Client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: c.cfg.Identity},
	}
	for ctx.Err() == nil {
		le, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: lock, LeaseDuration: orDefault(c.cfg.LeaseDuration, 15*time.Second),
			RenewDeadline: orDefault(c.cfg.RenewDeadline, 10*time.Second), RetryPeriod: orDefault(c.cfg.RetryPeriod, 2*time.Second),
			ReleaseOnCancel: true, Name: LeaseName,
			Callbacks: leaderelection.LeaderCallbacks{
				OnStartedLeading: func(ctx context.Context) {
					c.log.Info("leading: syncing sources", "identity", c.cfg.Identity)
					if err := c.term(ctx); err != nil && ctx.Err() == nil {
						c.log.Warn("gitsync term ended", "err", err)
					}
				},
				OnStoppedLeading: func() { c.log.Info("not leading: sources not synced here", "identity", c.cfg.Identity) },
			},
		})
		if err != nil {
			return fmt.Errorf("gitsync: %w", err)
		}
		le.Run(ctx)
	}
	return nil
}

// term follows the GitRepositories until ctx ends.
func (c *Controller) term(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	f := dynamicinformer.NewDynamicSharedInformerFactory(c.cfg.Dynamic, 0)
	inf := f.ForResource(gitRepositories).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.changed(obj) },
		UpdateFunc: func(_, obj any) { c.changed(obj) },
		DeleteFunc: func(obj any) { c.deleted(obj) },
	})
	c.mu.Lock()
	c.ctx = ctx
	c.informer = inf
	c.sources = map[string]*sourceLoop{}
	c.mu.Unlock()
	go inf.Run(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	c.log.Info("started")
	<-ctx.Done()
	c.wg.Wait()
	c.mu.Lock()
	c.ctx, c.informer = nil, nil
	c.mu.Unlock()
	return nil
}

// Trigger asks for an immediate sync of a source (the webhook); false if
// there is no such source.
func (c *Controller) Trigger(namespace, name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.sources[namespace+"/"+name]
	if l == nil {
		return false
	}
	l.poke()
	return true
}

func repoOf(obj any) (*gitopsv1.GitRepository, bool) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, false
	}
	var r gitopsv1.GitRepository
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, &r); err != nil {
		return nil, false
	}
	return &r, true
}

func (c *Controller) changed(obj any) {
	r, ok := repoOf(obj)
	if !ok {
		return
	}
	key := r.Namespace + "/" + r.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	l := c.sources[key]
	if l != nil && l.uid == string(r.UID) {
		l.update(r)
		return
	}
	if l != nil {
		l.stop()
	}
	if c.ctx == nil {
		return
	}
	l = newSourceLoop(c, r)
	c.sources[key] = l
	c.wg.Go(func() { l.run(c.ctx) })
}

func (c *Controller) deleted(obj any) {
	r, ok := repoOf(obj)
	if !ok {
		return
	}
	key := r.Namespace + "/" + r.Name
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.sources[key]; l != nil {
		l.stop()
		delete(c.sources, key)
	}
}

// sourceLoop syncs one GitRepository: at its interval, when poked, and
// when its spec changes.
type sourceLoop struct {
	c      *Controller
	uid    string
	wake   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	repo *gitopsv1.GitRepository

	// loaded is the last revision loaded and checked, reused while the
	// revision and the spec stay the same.
	loaded *loadedRevision
	syncs  atomic.Int64
}

type loadedRevision struct {
	hash       string
	generation int64
	objs       []*manifest.Object
	errs       []check.Finding
	warnings   []check.Finding
}

func newSourceLoop(c *Controller, r *gitopsv1.GitRepository) *sourceLoop {
	return &sourceLoop{c: c, uid: string(r.UID), repo: r, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

func (l *sourceLoop) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *sourceLoop) update(r *gitopsv1.GitRepository) {
	l.mu.Lock()
	old := l.repo
	l.repo = r
	l.mu.Unlock()
	if old.Generation != r.Generation {
		l.poke()
	}
}

func (l *sourceLoop) stop() {
	if l.cancel != nil {
		l.cancel()
	}
}

func (l *sourceLoop) current() *gitopsv1.GitRepository {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.repo.DeepCopy()
}

func (l *sourceLoop) run(ctx context.Context) {
	ctx, l.cancel = context.WithCancel(ctx)
	defer close(l.done)
	failures := 0
	for ctx.Err() == nil {
		r := l.current()
		wait := interval(r)
		if !r.Spec.Suspend {
			if err := l.c.sync(ctx, l, r); err != nil {
				failures++
				// Retry sooner than the interval after a failure to reach
				// the repository or the server, backing off.
				wait = min(wait, time.Duration(1<<min(failures, 6))*time.Second)
			} else {
				failures = 0
			}
		}
		select {
		case <-ctx.Done():
		case <-l.wake:
		case <-time.After(wait):
		}
	}
}

func interval(r *gitopsv1.GitRepository) time.Duration {
	if r.Spec.Interval != nil && r.Spec.Interval.Duration > 0 {
		return r.Spec.Interval.Duration
	}
	return DefaultInterval
}

// Errors that keep the cluster as it is.
var errRefused = errors.New("revision refused")

// sync runs one fetch, check and apply of a source and reports it in the
// source's status. A returned error means "try again soon".
func (c *Controller) sync(ctx context.Context, l *sourceLoop, r *gitopsv1.GitRepository) error {
	start := time.Now()
	src := Source{Namespace: r.Namespace, Name: r.Name}
	log := c.log.With("source", src.String())
	st := &gitopsv1.GitRepositoryStatus{}
	r.Status.DeepCopyInto(st)
	st.ObservedGeneration = r.Generation

	source := src.String()
	fail := func(reason string, err error) error {
		c.metrics.result.WithLabelValues(source, "failed").Inc()
		log.Warn("sync failed", "reason", reason, "err", err)
		setCondition(st, "Ready", metav1.ConditionFalse, reason, err.Error(), r.Generation)
		remember(st, gitopsv1.Attempt{Revision: st.LastAttemptedRevision, Result: "Failed", Message: err.Error()})
		c.writeStatus(ctx, r, st)
		return err
	}
	creds, err := c.credentials(ctx, r)
	if err != nil {
		return fail("CredentialsFailed", err)
	}
	t0 := time.Now()
	rev, err := c.fetcher.Fetch(ctx, r.Spec.URL, Ref{Branch: r.Spec.Ref.Branch, Tag: r.Spec.Ref.Tag, Commit: r.Spec.Ref.Commit}, creds)
	c.metrics.fetch.WithLabelValues(source).Observe(time.Since(t0).Seconds())
	if err != nil {
		return fail("FetchFailed", err)
	}
	st.LastAttemptedRevision = rev.Hash
	if r.Spec.Verify != nil {
		signer, reason, err := c.verify(ctx, r, rev)
		if err != nil && reason == "" {
			return fail("VerificationFailed", err)
		}
		if err != nil {
			setCondition(st, "Verified", metav1.ConditionFalse, reason, err.Error(), r.Generation)
			c.refuse(ctx, r, st, rev, reason, []check.Finding{{Message: err.Error(), Severity: check.Error}})
			l.syncs.Add(1)
			return nil
		}
		setCondition(st, "Verified", metav1.ConditionTrue, "Signed", fmt.Sprintf("revision %s signed by %s", rev.Short(), signer), r.Generation)
	}
	lr := l.loaded
	if lr == nil || lr.hash != rev.Hash || lr.generation != r.Generation {
		t0 := time.Now()
		lr = c.load(r, rev)
		c.metrics.check.WithLabelValues(source).Observe(time.Since(t0).Seconds())
		l.loaded = lr
	}
	st.Warnings = toSyncErrors(lr.warnings)
	defer l.syncs.Add(1)
	if len(lr.errs) > 0 {
		c.refuse(ctx, r, st, rev, "ValidationFailed", lr.errs)
		return nil
	}
	t0 = time.Now()
	out := c.applier.Apply(ctx, src, lr.objs, ApplyOptions{Revision: rev.Hash, Prune: r.Spec.Prune, AllowEmpty: r.Spec.AllowEmpty})
	c.metrics.apply.WithLabelValues(source).Observe(time.Since(t0).Seconds())
	if !out.Applied {
		c.refuse(ctx, r, st, rev, "ApplyFailed", out.Errors)
		return nil
	}
	changed := len(out.Created) + len(out.Updated) + len(out.Deleted)
	st.Errors = toSyncErrors(out.Errors)
	st.Inventory = out.Inventory
	st.Health = health(ctx, c.cfg.Dynamic, out.Workloads)
	c.metrics.result.WithLabelValues(source, "applied").Inc()
	if st.LastAppliedRevision != rev.Hash || changed > 0 {
		now := metav1.Now()
		st.LastAppliedTime = &now
		c.metrics.lastApplied.WithLabelValues(source).Set(float64(now.Unix()))
	}
	msg := fmt.Sprintf("revision %s applied: %d created, %d updated, %d unchanged, %d pruned",
		rev.Short(), len(out.Created), len(out.Updated), len(out.Unchanged), len(out.Deleted))
	if st.LastAppliedRevision != rev.Hash || changed > 0 {
		c.recorder.Event(repoRef(r), corev1.EventTypeNormal, "Applied", msg)
		log.Info("applied", "revision", rev.Short(), "created", len(out.Created), "updated", len(out.Updated),
			"unchanged", len(out.Unchanged), "pruned", len(out.Deleted), "took", time.Since(start).Round(time.Millisecond))
	}
	if st.LastAppliedRevision == rev.Hash && readyApplied(st) {
		// Writes while re-applying the revision already applied put back
		// what was changed or deleted out of band.
		c.driftCorrected(r, rev, out.Written)
	}
	resync := st.LastAppliedRevision == rev.Hash && changed == 0 && readyApplied(st)
	st.LastAppliedRevision = rev.Hash
	t := metav1.NewTime(rev.Time)
	st.Commit = &gitopsv1.CommitInfo{Author: rev.Author, Message: rev.Message, Time: &t}
	if !resync {
		// A resync that changed nothing keeps the message of the apply
		// that did, so an unchanged cluster costs no status write either.
		setCondition(st, "Ready", metav1.ConditionTrue, "Applied", msg, r.Generation)
		remember(st, gitopsv1.Attempt{Revision: rev.Hash, Result: "Applied", Message: msg})
		if hasConditionType(st, "Stalled") {
			setCondition(st, "Stalled", metav1.ConditionFalse, "Applied", msg, r.Generation)
		}
	}
	c.writeStatus(ctx, r, st)
	return nil
}

// load reads and checks a revision: every problem is collected, not
// only the first.
func (c *Controller) load(r *gitopsv1.GitRepository, rev *Revision) *loadedRevision {
	lr := &loadedRevision{hash: rev.Hash, generation: r.Generation}
	objs, errs := Load(rev.Commit, r.Spec.Path, LoadOptions{DefaultNamespace: r.Spec.DefaultNamespace, Namespaced: c.namespaced})
	lr.objs = objs
	for _, f := range errs {
		lr.errs = append(lr.errs, f)
	}
	var policies []*manifest.Object
	for _, o := range objs {
		if o.Kind == "ValidatingAdmissionPolicy" || o.Kind == "ValidatingAdmissionPolicyBinding" {
			policies = append(policies, o)
		}
	}
	checker, problems := check.New(policies, objs)
	for _, f := range problems {
		lr.errs = append(lr.errs, f)
	}
	for _, o := range objs {
		for _, f := range checker.Check(context.Background(), o) {
			if f.Severity == check.Error {
				lr.errs = append(lr.errs, f)
			} else {
				lr.warnings = append(lr.warnings, f)
			}
		}
	}
	lr.warnings = append(lr.warnings, crossCheck(objs, c.storageClassExists)...)
	sortFindings(lr.errs)
	sortFindings(lr.warnings)
	return lr
}

// storageClassExists asks the API server (errors count as existing: a
// warning must not come from a failed lookup).
func (c *Controller) storageClassExists(name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.cfg.Dynamic.Resource(schema.GroupVersionResource{Group: "storage.k8s.io", Version: "v1", Resource: "storageclasses"}).
		Get(ctx, name, metav1.GetOptions{})
	return !apierrors.IsNotFound(err)
}

func (c *Controller) namespaced(apiVersion, kind string) (bool, bool) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return true, false
	}
	m, err := c.applier.Mapper.RESTMapping(gv.WithKind(kind).GroupKind(), gv.Version)
	if err != nil {
		return true, false
	}
	return m.Scope.Name() == "namespace", true
}

func (c *Controller) refuse(ctx context.Context, r *gitopsv1.GitRepository, st *gitopsv1.GitRepositoryStatus, rev *Revision, reason string, errs []check.Finding) {
	c.metrics.result.WithLabelValues(r.Namespace+"/"+r.Name, "refused").Inc()
	st.Errors = toSyncErrors(errs)
	msg := fmt.Sprintf("revision %s refused, %d error(s); revision %s stays applied", rev.Short(), len(errs), shortHash(st.LastAppliedRevision))
	if len(errs) > 0 {
		msg += ": " + errs[0].String()
	}
	already := false
	for _, cond := range r.Status.Conditions {
		already = already || cond.Type == "Ready" && cond.Reason == reason && r.Status.LastAttemptedRevision == rev.Hash
	}
	if !already {
		c.recorder.Event(repoRef(r), corev1.EventTypeWarning, reason, msg)
		c.log.Warn("revision refused", "source", r.Namespace+"/"+r.Name, "revision", rev.Short(), "errors", len(errs))
	}
	setCondition(st, "Ready", metav1.ConditionFalse, reason, msg, r.Generation)
	// Retrying a refused revision cannot help: only a new commit (or a
	// change of the source) can.
	setCondition(st, "Stalled", metav1.ConditionTrue, reason, "revision "+rev.Short()+" is refused; a new commit is needed", r.Generation)
	remember(st, gitopsv1.Attempt{Revision: rev.Hash, Result: "Refused", Message: msg})
	c.writeStatus(ctx, r, st)
}

// MaxHistory is how many attempts a status remembers.
const MaxHistory = 10

// remember puts an attempt at the head of the history, unless it only
// repeats the latest one (a resync, a retry of the same failure).
func remember(st *gitopsv1.GitRepositoryStatus, a gitopsv1.Attempt) {
	if len(st.History) > 0 {
		last := st.History[0]
		if last.Revision == a.Revision && last.Result == a.Result && last.Message == a.Message {
			return
		}
	}
	a.Time = metav1.Now()
	st.History = append([]gitopsv1.Attempt{a}, st.History...)
	if len(st.History) > MaxHistory {
		st.History = st.History[:MaxHistory]
	}
}

// credentials reads the Secret spec.secretRef names (nil when none).
func (c *Controller) credentials(ctx context.Context, r *gitopsv1.GitRepository) (*Credentials, error) {
	var data map[string][]byte
	if ref := r.Spec.SecretRef; ref != nil {
		s, err := c.cfg.Client.CoreV1().Secrets(r.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading Secret %s/%s named by spec.secretRef: %w", r.Namespace, ref.Name, err)
		}
		data = s.Data
	}
	creds, err := CredentialsFromSecret(r.Spec.URL, data)
	if err != nil {
		return nil, fmt.Errorf("spec.secretRef: %w", err)
	}
	return creds, nil
}

// verify checks the revision's signature against the keys in the Secret
// spec.verify names. A refusal of the revision comes with its reason;
// an error without one (the Secret cannot be read) is a failure to retry.
func (c *Controller) verify(ctx context.Context, r *gitopsv1.GitRepository, rev *Revision) (signer, reason string, err error) {
	name := r.Spec.Verify.SecretRef.Name
	s, err := c.cfg.Client.CoreV1().Secrets(r.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return "", "", fmt.Errorf("reading Secret %s/%s named by spec.verify: %w", r.Namespace, name, err)
	}
	keys, err := KeysFromSecret(s.Data)
	if err != nil {
		return "", "", fmt.Errorf("verification Secret %s/%s: %w", r.Namespace, name, err)
	}
	signer, err = VerifyCommit(rev.Commit, keys)
	switch {
	case err == nil:
		return signer, "", nil
	case errors.Is(err, ErrUnsigned):
		return "", "Unsigned", err
	case errors.Is(err, ErrUnknownSigner):
		return "", "UntrustedSigner", err
	case errors.Is(err, ErrBadSignature):
		return "", "BadSignature", err
	case errors.Is(err, ErrMalformedSignature):
		return "", "MalformedSignature", err
	}
	return "", "", err
}

func shortHash(h string) string {
	if h == "" {
		return "(none)"
	}
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// MaxStatusErrors bounds the errors a status lists; the Ready message
// gives the full count.
const MaxStatusErrors = 100

func toSyncErrors(fs []check.Finding) []gitopsv1.SyncError {
	var out []gitopsv1.SyncError
	for _, f := range fs[:min(len(fs), MaxStatusErrors)] {
		out = append(out, gitopsv1.SyncError{File: f.File, Line: f.Line, Object: f.Object, Field: f.Path, Message: f.Message})
	}
	return out
}

func repoRef(r *gitopsv1.GitRepository) *corev1.ObjectReference {
	return &corev1.ObjectReference{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository",
		Namespace: r.Namespace, Name: r.Name, UID: r.UID, ResourceVersion: r.ResourceVersion}
}

func setCondition(st *gitopsv1.GitRepositoryStatus, typ string, status metav1.ConditionStatus, reason, msg string, gen int64) {
	now := metav1.Now()
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != typ {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.ObservedGeneration = status, reason, msg, gen
		return
	}
	st.Conditions = append(st.Conditions, metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg,
		ObservedGeneration: gen, LastTransitionTime: now})
}

// writeStatus writes the status when it changed; a conflict is left to
// the next sync.
func (c *Controller) writeStatus(ctx context.Context, r *gitopsv1.GitRepository, st *gitopsv1.GitRepositoryStatus) {
	if apiequality.Semantic.DeepEqual(&r.Status, st) {
		return
	}
	next := r.DeepCopy()
	next.Status = *st
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(next)
	if err != nil {
		return
	}
	obj := &unstructured.Unstructured{Object: u}
	obj.SetAPIVersion(gitopsv1.SchemeGroupVersion.String())
	obj.SetKind("GitRepository")
	_, err = c.cfg.Dynamic.Resource(gitRepositories).Namespace(r.Namespace).UpdateStatus(ctx, obj, metav1.UpdateOptions{})
	if err != nil && !apierrors.IsConflict(err) && ctx.Err() == nil {
		c.log.Warn("writing status", "source", r.Namespace+"/"+r.Name, "err", err)
	}
}

// source is a GitRepository as the informer last saw it.
func (c *Controller) source(namespace, name string) (*gitopsv1.GitRepository, bool) {
	c.mu.Lock()
	inf := c.informer
	c.mu.Unlock()
	if inf == nil {
		return nil, false
	}
	obj, ok, err := inf.GetIndexer().GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	return repoOf(obj)
}

// readyApplied: the source's Ready condition says its revision is applied.
func readyApplied(st *gitopsv1.GitRepositoryStatus) bool {
	for _, c := range st.Conditions {
		if c.Type == "Ready" {
			return c.Status == metav1.ConditionTrue && c.Reason == "Applied" && c.ObservedGeneration == st.ObservedGeneration
		}
	}
	return false
}

// Syncs counts the syncs of a source that got as far as an apply or a
// refusal (for tests and metrics).
func (c *Controller) Syncs(namespace, name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if l := c.sources[namespace+"/"+name]; l != nil {
		return int(l.syncs.Load())
	}
	return 0
}

// driftCorrected records, on each object and on the source, that git's
// state was put back after a change made outside git.
func (c *Controller) driftCorrected(r *gitopsv1.GitRepository, rev *Revision, written []Written) {
	for _, w := range written {
		what := "changed"
		if w.Created {
			what = "deleted"
		}
		ref := &corev1.ObjectReference{APIVersion: w.APIVersion, Kind: w.Kind, Namespace: w.Namespace, Name: w.Name}
		msg := fmt.Sprintf("%s/%s was %s outside git; restored from %s:%d of revision %s (source %s/%s)",
			w.Kind, w.Name, what, w.File, w.Line, rev.Short(), r.Namespace, r.Name)
		c.recorder.Event(ref, corev1.EventTypeWarning, "DriftCorrected", msg)
		c.recorder.Event(repoRef(r), corev1.EventTypeWarning, "DriftCorrected", msg)
		c.log.Warn("drift corrected", "source", r.Namespace+"/"+r.Name, "object", w.Kind+"/"+w.Namespace+"/"+w.Name, "was", what)
	}
}

func hasConditionType(st *gitopsv1.GitRepositoryStatus, typ string) bool {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return true
		}
	}
	return false
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
