package apiserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/apiserver/storage"
	"github.com/cairn-dev/cairn/apiserver/validation"
	"github.com/cairn-dev/cairn/defaults"
	"github.com/cairn-dev/cairn/policies"
)

var emptyGR = schema.GroupResource{}

// request is one resource request being served.
type request struct {
	w        http.ResponseWriter
	r        *http.Request
	ctx      context.Context
	info     *requestInfo
	res      *Resource
	store    *storage.Resource
	user     auth.User
	dryRun   bool
	warnings []string
	out      outputFormat
	// protobufBody: the object came as protobuf, decoded into its Go
	// type, which already holds it to the schema's fields and types.
	protobufBody bool
}

func (q *request) key() string { return q.res.Key(q.info.Namespace, q.info.Name) }

func (q *request) warn(msgs ...string) { q.warnings = append(q.warnings, msgs...) }

func (s *Server) serveResource(w http.ResponseWriter, r *http.Request, info *requestInfo, res *Resource) {
	if info.Subresource == "log" && res.Log {
		// A log is text, whatever the Accept header says (podlog.go).
		s.servePodLog(w, r, info, res)
		return
	}
	out, err := negotiate(r)
	if err != nil {
		writeStatus(w, err)
		return
	}
	q := &request{w: w, r: r, ctx: r.Context(), info: info, res: res, store: s.stores[res],
		user: userFrom(r.Context()), out: out}
	if dr := r.URL.Query()["dryRun"]; len(dr) > 0 {
		for _, v := range dr {
			if v != "All" {
				writeStatus(w, badRequest(fmt.Sprintf("unsupported dryRun value %q: only All is supported", v)))
				return
			}
		}
		q.dryRun = true
	}
	gr := res.GR()
	if res.Computed {
		switch {
		case info.Subresource == "" && info.Verb == "get":
			s.getComputed(q)
		case info.Subresource == "" && info.Verb == "list":
			s.listComputed(q)
		default:
			writeStatus(w, methodNotAllowed(info.Verb, gr))
		}
		return
	}
	switch info.Subresource {
	case "":
		switch info.Verb {
		case "get":
			s.get(q)
		case "list":
			s.list(q)
		case "watch":
			s.watch(q)
		case "create":
			s.create(q)
		case "update":
			s.update(q, nil)
		case "patch":
			s.patch(q, nil)
		case "delete":
			s.delete(q)
		case "deletecollection":
			s.deleteCollection(q)
		default:
			writeStatus(w, methodNotAllowed(info.Verb, gr))
		}
		return
	case "status":
		if res.Status {
			switch info.Verb {
			case "get":
				s.get(q)
			case "update":
				s.update(q, nil)
			case "patch":
				s.patch(q, nil)
			default:
				writeStatus(w, methodNotAllowed(info.Verb, gr))
			}
			return
		}
	case "scale":
		if res.Scale {
			s.serveScale(q)
			return
		}
	case "binding":
		if res.Binding {
			if info.Verb != "create" {
				writeStatus(w, methodNotAllowed(info.Verb, gr))
				return
			}
			s.bind(q)
			return
		}
	case "finalize":
		if res.Finalize && info.Verb == "update" {
			s.update(q, nil)
			return
		}
	}
	writeStatus(w, apierrors.NewNotFound(gr, info.Name+"/"+info.Subresource))
}

func (s *Server) respond(q *request, code int, obj runtime.Object) {
	for _, msg := range q.warnings {
		q.w.Header().Add("Warning", fmt.Sprintf("299 - %q", msg))
	}
	if q.out.kind == outputProtobuf {
		if data, ok := encodeProtobuf(obj); ok {
			q.w.Header().Set("Content-Type", protobufMediaType)
			q.w.WriteHeader(code)
			_, _ = q.w.Write(data)
			return
		}
	}
	out, err := s.transform(q, obj)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	writeJSON(q.w, code, out)
}

func (s *Server) fail(q *request, err error) {
	writeStatus(q.w, toAPIError(err, q.res.GR(), q.info.Name))
}

func readBody(r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, badRequest(fmt.Sprintf("reading the request body: %v", err))
	}
	if len(data) > maxBodyBytes {
		return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", maxBodyBytes))
	}
	return data, nil
}

// --- get / list ---

func (s *Server) get(q *request) {
	obj, err := q.store.Get(q.ctx, q.key(), q.r.URL.Query().Get("resourceVersion"))
	if err != nil {
		s.fail(q, err)
		return
	}
	s.respond(q, http.StatusOK, obj)
}

func (s *Server) list(q *request) {
	opts, pred, err := selection(q.r, q.res)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	result, err := q.store.List(q.ctx, q.res.ListPrefix(q.info.Namespace), storage.ListOptions{
		ResourceVersion: opts.ResourceVersion, ResourceVersionMatch: string(opts.ResourceVersionMatch),
		Limit: opts.Limit, Continue: opts.Continue, Predicate: pred,
	})
	if err != nil {
		s.fail(q, err)
		return
	}
	list, err := s.newList(q.res)
	if err != nil {
		s.fail(q, err)
		return
	}
	if err := meta.SetList(list, result.Items); err != nil {
		s.fail(q, err)
		return
	}
	lm, _ := meta.ListAccessor(list)
	lm.SetResourceVersion(strconv.FormatInt(result.ResourceVersion, 10))
	lm.SetContinue(result.Continue)
	lm.SetRemainingItemCount(result.RemainingItemCount)
	s.respond(q, http.StatusOK, list)
}

func (s *Server) newList(res *Resource) (runtime.Object, error) {
	gvk := res.GroupVersion().WithKind(res.Kind + "List")
	list, err := s.scheme.New(gvk)
	if err != nil {
		return nil, err
	}
	list.GetObjectKind().SetGroupVersionKind(gvk)
	return list, nil
}

// readObject reads and decodes the request body as an object of the
// resource's kind, keeping the decoder's warnings for the response.
func (s *Server) readObject(q *request) (runtime.Object, error) {
	body, fv, err := q.readBody()
	if err != nil {
		return nil, err
	}
	obj, warns, err := decodeBody(body, q.res, q.res.New, q.res.GVK(), fv)
	if err != nil {
		return nil, s.explainDecodeError(q, body, err)
	}
	q.warn(warns...)
	return obj, nil
}

// readBody reads the body and the client's field validation choice.
func (q *request) readBody() ([]byte, fieldValidation, error) {
	body, err := readBody(q.r)
	if err != nil {
		return nil, "", err
	}
	q.protobufBody = bytes.HasPrefix(body, protobufMagic)
	fv, err := parseFieldValidation(q.r)
	if err != nil {
		return nil, "", badRequest(err.Error())
	}
	return body, fv, nil
}

// --- create ---

func (s *Server) create(q *request) {
	obj, err := s.readObject(q)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	m, _ := meta.Accessor(obj)
	if q.res.Namespaced {
		if m.GetNamespace() == "" {
			m.SetNamespace(q.info.Namespace)
		} else if q.info.Namespace != "" && m.GetNamespace() != q.info.Namespace {
			writeStatus(q.w, badRequest("the namespace of the provided object does not match the namespace sent on the request"))
			return
		}
		if m.GetNamespace() == "" {
			writeStatus(q.w, badRequest("a namespace is required to create a "+q.res.Kind))
			return
		}
	} else {
		m.SetNamespace("")
	}
	generated := false
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(m.GetGenerateName() + utilrand.String(5))
		generated = true
	}
	q.info.Name = m.GetName()
	if m.GetName() == "" {
		writeStatus(q.w, apierrors.NewInvalid(q.res.GVK().GroupKind(), "", field.ErrorList{
			field.Required(field.NewPath("metadata", "name"), "name or generateName is required")}))
		return
	}
	m.SetUID(types.UID(uuid.NewString()))
	m.SetCreationTimestamp(metav1.Now())
	m.SetResourceVersion("")
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	if hasField(obj, "Spec") {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if q.res.ResetStatusOnCreate {
		resetField(obj, "Status")
	}
	prepareCreate(obj)
	defaults.Apply(obj)
	attrs := admissionAttributes(policies.Create, q.res, "", m.GetNamespace(), m.GetName(), obj, nil, q.user, q.dryRun)
	if err := s.admit(q, attrs, nil); err != nil {
		writeStatus(q.w, err)
		return
	}
	base := obj // allocation fills in a copy, so a retry starts afresh
	for attempt := 0; ; attempt++ {
		obj := base.DeepCopyObject()
		claims, err := s.alloc.claimsFor(q.ctx, s.stores, obj, nil)
		if err != nil {
			writeStatus(q.w, err)
			return
		}
		if q.dryRun {
			s.respond(q, http.StatusCreated, obj)
			return
		}
		out, err := q.store.Create(q.ctx, q.key(), obj, storage.CreateOptions{Claims: claims})
		if errors.Is(err, storage.ErrClaimed) && attempt < 10 {
			s.alloc.noteTaken(err)
			if explicitAllocation(base, err) {
				writeStatus(q.w, allocationConflict(q.res, base, err))
				return
			}
			continue
		}
		if errors.Is(err, storage.ErrExists) && generated {
			writeStatus(q.w, apierrors.NewAlreadyExists(q.res.GR(), m.GetName()))
			return
		}
		if err != nil {
			s.fail(q, err)
			return
		}
		s.alloc.noteClaims(claims)
		s.respond(q, http.StatusCreated, out)
		return
	}
}

// admit runs the built-in validation and the admission plugins, in the
// order of the seed: mutating admission, validation, validating admission.
func (s *Server) admit(q *request, a *policies.Attributes, old runtime.Object) error {
	for _, p := range s.cfg.Mutating {
		if err := p.Admit(q.ctx, a); err != nil {
			return admissionError(p.Name(), err)
		}
	}
	m, _ := meta.Accessor(a.Object)
	// The JSON Schema catches what JSON can say and Go types cannot hold
	// (unknown fields, wrong types); a protobuf body was decoded into the
	// Go type, so it has neither, and Kubernetes' validation below still
	// runs. Components speak protobuf and write pod status thousands of
	// times a second; people and gitsync send JSON and get the schema.
	if !q.protobufBody {
		if errs := s.schemaErrors(a.Object, q.res); len(errs) > 0 {
			return apierrors.NewInvalid(q.res.GVK().GroupKind(), m.GetName(), errs)
		}
	}
	if errs := validation.Validate(a.Object, old); len(errs) > 0 {
		return apierrors.NewInvalid(q.res.GVK().GroupKind(), m.GetName(), errs)
	}
	for _, p := range s.cfg.Validating {
		res, err := p.Validate(q.ctx, a)
		q.warn(res.Warnings...)
		for k, v := range res.AuditAnnotations {
			s.log.Info("admission audit", "plugin", p.Name(), "key", k, "value", v,
				"user", a.User.Name, "resource", a.Resource.Resource, "namespace", a.Namespace, "name", a.Name)
		}
		if err != nil {
			return admissionError(p.Name(), err)
		}
	}
	return nil
}

func admissionError(plugin string, err error) error {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		return err
	}
	return apierrors.NewForbidden(emptyGR, "", fmt.Errorf("admission plugin %s: %w", plugin, err))
}

// prepareCreate sets the fields kube-apiserver's strategies set on create.
func prepareCreate(obj runtime.Object) {
	normalize(obj)
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: qosClass(&o.Spec)}
	case *corev1.Namespace:
		o.Status.Phase = corev1.NamespaceActive
	case *corev1.PersistentVolumeClaim:
		o.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}
	case *corev1.PersistentVolume:
		o.Status = corev1.PersistentVolumeStatus{Phase: corev1.VolumePending}
	}
}

// normalize does what kube-apiserver's conversion does on every write:
// a Secret's stringData is write-only, merged into data.
func normalize(obj runtime.Object) {
	if s, ok := obj.(*corev1.Secret); ok && len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
		s.StringData = nil
	}
}

// --- update and patch ---

// errNoChange aborts an update that would store the same object again.
type errNoChange struct{ current runtime.Object }

func (e errNoChange) Error() string { return "no change" }

// update replaces an object (or its status) with the request body; when
// mutate is set it computes the new object from the current one instead
// (patch, scale).
func (s *Server) update(q *request, mutate func(cur runtime.Object) (runtime.Object, error)) {
	var newObj runtime.Object
	if mutate == nil {
		obj, err := s.readObject(q)
		if err != nil {
			writeStatus(q.w, err)
			return
		}
		m, _ := meta.Accessor(obj)
		if m.GetName() != "" && m.GetName() != q.info.Name {
			writeStatus(q.w, badRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), q.info.Name)))
			return
		}
		if q.res.Namespaced && m.GetNamespace() != "" && m.GetNamespace() != q.info.Namespace {
			writeStatus(q.w, badRequest("the namespace of the provided object does not match the namespace sent on the request"))
			return
		}
		newObj = obj
		mutate = func(runtime.Object) (runtime.Object, error) { return newObj.DeepCopyObject(), nil }
	}
	var claimed []storage.Claim
	tryUpdate := func(cur runtime.Object) (storage.Update, error) {
		next, err := mutate(cur)
		if err != nil {
			return storage.Update{}, err
		}
		up, err := s.prepareUpdate(q, cur, next)
		claimed = up.Claims
		return up, err
	}
	if q.dryRun {
		cur, err := q.store.Get(q.ctx, q.key(), "")
		if err != nil {
			s.fail(q, err)
			return
		}
		up, err := tryUpdate(cur.DeepCopyObject())
		var nc errNoChange
		if errors.As(err, &nc) {
			s.respond(q, http.StatusOK, nc.current)
			return
		}
		if err != nil {
			s.fail(q, err)
			return
		}
		s.respond(q, http.StatusOK, up.Object)
		return
	}
	for attempt := 0; ; attempt++ {
		out, err := q.store.GuaranteedUpdate(q.ctx, q.key(), tryUpdate)
		var nc errNoChange
		switch {
		case errors.As(err, &nc):
			s.respond(q, http.StatusOK, nc.current)
			return
		case errors.Is(err, storage.ErrClaimed) && attempt < 10:
			s.alloc.noteTaken(err)
			continue
		case err != nil:
			s.fail(q, err)
			return
		}
		s.alloc.noteClaims(claimed)
		if q.info.Subresource == "scale" {
			sc, err := scaleOf(q.res, out)
			if err != nil {
				s.fail(q, err)
				return
			}
			s.respond(q, http.StatusOK, sc)
			return
		}
		s.respond(q, http.StatusOK, out)
		return
	}
}

// prepareUpdate merges the requested object with the current one as
// kube-apiserver's strategies do, then defaults, admits and validates it.
func (s *Server) prepareUpdate(q *request, cur, next runtime.Object) (storage.Update, error) {
	cm, _ := meta.Accessor(cur)
	nm, err := meta.Accessor(next)
	if err != nil {
		return storage.Update{}, badRequest(err.Error())
	}
	if rv := nm.GetResourceVersion(); rv != "" && rv != cm.GetResourceVersion() {
		return storage.Update{}, apierrors.NewConflict(q.res.GR(), q.info.Name,
			errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	}
	if uid := nm.GetUID(); uid != "" && uid != cm.GetUID() {
		return storage.Update{}, apierrors.NewConflict(q.res.GR(), q.info.Name,
			fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", uid, cm.GetUID()))
	}
	switch q.info.Subresource {
	case "status":
		merged := cur.DeepCopyObject()
		copyField(merged, next, "Status")
		next = merged
		nm, _ = meta.Accessor(next)
	case "finalize":
		merged := cur.DeepCopyObject()
		copyField(merged, next, "Spec") // namespace spec holds only finalizers
		next = merged
		nm, _ = meta.Accessor(next)
	default:
		if q.res.Status {
			copyField(next, cur, "Status")
		}
	}
	// System fields are the server's.
	nm.SetName(cm.GetName())
	nm.SetNamespace(cm.GetNamespace())
	nm.SetUID(cm.GetUID())
	nm.SetCreationTimestamp(cm.GetCreationTimestamp())
	nm.SetDeletionTimestamp(cm.GetDeletionTimestamp())
	nm.SetDeletionGracePeriodSeconds(cm.GetDeletionGracePeriodSeconds())
	nm.SetGeneration(cm.GetGeneration())
	nm.SetResourceVersion(cm.GetResourceVersion())
	if cm.GetDeletionTimestamp() != nil && len(nm.GetFinalizers()) > len(cm.GetFinalizers()) {
		return storage.Update{}, apierrors.NewInvalid(q.res.GVK().GroupKind(), q.info.Name, field.ErrorList{
			field.Forbidden(field.NewPath("metadata", "finalizers"), "no new finalizers can be added if the object is being deleted")})
	}
	normalize(next)
	prepareServiceUpdate(next, cur)
	defaults.Apply(next)
	if hasField(next, "Spec") && !apiequality.Semantic.DeepEqual(fieldOf(cur, "Spec"), fieldOf(next, "Spec")) {
		nm.SetGeneration(cm.GetGeneration() + 1)
	}
	next.GetObjectKind().SetGroupVersionKind(q.res.GVK())
	// Admission runs on no-op updates too: a refused write is refused even
	// when it would change nothing.
	attrs := admissionAttributes(policies.Update, q.res, q.info.Subresource, nm.GetNamespace(), nm.GetName(), next, cur, q.user, q.dryRun)
	if err := s.admit(q, attrs, cur); err != nil {
		return storage.Update{}, err
	}
	if apiequality.Semantic.DeepEqual(cur, next) {
		return storage.Update{}, errNoChange{current: cur}
	}
	if nm.GetDeletionTimestamp() != nil && len(nm.GetFinalizers()) == 0 && !isGracefulPod(next) && !namespaceHeld(next) {
		return storage.Update{Object: next, Delete: true, Releases: s.alloc.releasesFor(cur)}, nil
	}
	claims, err := s.alloc.claimsFor(q.ctx, s.stores, next, cur)
	if err != nil {
		return storage.Update{}, err
	}
	return storage.Update{Object: next, Claims: claims, Releases: s.alloc.releasesOnUpdate(cur, next)}, nil
}

// --- reflection helpers over k8s.io/api structs ---

func structOf(obj runtime.Object) reflect.Value {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	return v
}

func hasField(obj runtime.Object, name string) bool {
	v := structOf(obj)
	return v.Kind() == reflect.Struct && v.FieldByName(name).IsValid()
}

func fieldOf(obj runtime.Object, name string) any {
	v := structOf(obj)
	if v.Kind() != reflect.Struct {
		return nil
	}
	f := v.FieldByName(name)
	if !f.IsValid() {
		return nil
	}
	return f.Interface()
}

func copyField(dst, src runtime.Object, name string) {
	d, sv := structOf(dst), structOf(src)
	if d.Kind() != reflect.Struct || sv.Kind() != reflect.Struct {
		return
	}
	df, sf := d.FieldByName(name), sv.FieldByName(name)
	if df.IsValid() && sf.IsValid() && df.CanSet() {
		df.Set(sf)
	}
}

func resetField(obj runtime.Object, name string) {
	v := structOf(obj)
	if v.Kind() != reflect.Struct {
		return
	}
	if f := v.FieldByName(name); f.IsValid() && f.CanSet() {
		f.Set(reflect.Zero(f.Type()))
	}
}

// namespaceHeld: a namespace being deleted stays while spec.finalizers
// (the namespace controller's "kubernetes") remain, whatever updates it
// gets meanwhile; the finalize call that empties them deletes it, as
// Kubernetes' ShouldDeleteNamespaceDuringUpdate.
func namespaceHeld(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

func isGracefulPod(obj runtime.Object) bool {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.DeletionTimestamp == nil {
		return false
	}
	return p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds > 0 && p.Spec.NodeName != "" &&
		p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}

func now() metav1.Time { return metav1.NewTime(time.Now()) }
