package apiserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/apiserver/storage"
	"github.com/cairn-dev/cairn/policies"
)

// deleteOptions reads metav1.DeleteOptions from the body and the query.
func deleteOptions(r *http.Request) (metav1.DeleteOptions, error) {
	var opts metav1.DeleteOptions
	if r.Body != nil {
		body, err := readBody(r)
		if err != nil {
			return opts, err
		}
		switch {
		case bytes.HasPrefix(body, protobufMagic):
			if _, _, err := protoCodec().Decode(body, nil, &opts); err != nil {
				return opts, badRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
			}
		case len(body) > 0:
			if err := json.Unmarshal(body, &opts); err != nil {
				return opts, badRequest(fmt.Sprintf("invalid DeleteOptions: %v", err))
			}
		}
	}
	q := r.URL.Query()
	if v := q.Get("gracePeriodSeconds"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, badRequest("gracePeriodSeconds must be an integer")
		}
		opts.GracePeriodSeconds = &n
	}
	if v := q.Get("propagationPolicy"); v != "" {
		p := metav1.DeletionPropagation(v)
		opts.PropagationPolicy = &p
	}
	if v := q.Get("orphanDependents"); v != "" {
		b := isTrue(v)
		opts.OrphanDependents = &b
	}
	if opts.PropagationPolicy != nil {
		switch *opts.PropagationPolicy {
		case metav1.DeletePropagationOrphan, metav1.DeletePropagationBackground, metav1.DeletePropagationForeground:
		default:
			return opts, badRequest(fmt.Sprintf("propagationPolicy %q is not one of Orphan, Background, Foreground", *opts.PropagationPolicy))
		}
	}
	return opts, nil
}

func (s *Server) delete(q *request) {
	opts, err := deleteOptions(q.r)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	out, code, err := s.deleteOne(q, q.key(), opts)
	if err != nil {
		s.fail(q, err)
		return
	}
	s.respond(q, code, out)
}

// deleteOne deletes an object now, or marks it for deletion when
// finalizers or a graceful pod termination must run first.
func (s *Server) deleteOne(q *request, key string, opts metav1.DeleteOptions) (runtime.Object, int, error) {
	precondition := func(cur runtime.Object) error {
		if opts.Preconditions == nil {
			return nil
		}
		m, _ := meta.Accessor(cur)
		if uid := opts.Preconditions.UID; uid != nil && *uid != m.GetUID() {
			return apierrors.NewConflict(q.res.GR(), m.GetName(), fmt.Errorf("Precondition failed: UID in precondition: %v, UID in object meta: %v", *uid, m.GetUID()))
		}
		if rv := opts.Preconditions.ResourceVersion; rv != nil && *rv != m.GetResourceVersion() {
			return apierrors.NewConflict(q.res.GR(), m.GetName(), fmt.Errorf("Precondition failed: ResourceVersion in precondition: %v, ResourceVersion in object meta: %v", *rv, m.GetResourceVersion()))
		}
		return nil
	}
	cur, err := q.store.Get(q.ctx, key, "")
	if err != nil {
		return nil, 0, err
	}
	if err := precondition(cur); err != nil {
		return nil, 0, err
	}
	m, _ := meta.Accessor(cur)
	attrs := admissionAttributes(policies.Delete, q.res, q.info.Subresource, m.GetNamespace(), m.GetName(), nil, cur, q.user, q.dryRun)
	if err := s.admitDelete(q, attrs); err != nil {
		return nil, 0, err
	}
	if q.dryRun {
		return cur, http.StatusOK, nil
	}
	if s.needsGracefulDelete(cur, opts) {
		out, err := q.store.GuaranteedUpdate(q.ctx, key, func(c runtime.Object) (storage.Update, error) {
			if err := precondition(c); err != nil {
				return storage.Update{}, err
			}
			if !s.needsGracefulDelete(c, opts) {
				return storage.Update{Object: c, Delete: true, Releases: s.alloc.releasesFor(c)}, nil
			}
			markDeleting(c, opts)
			return storage.Update{Object: c}, nil
		})
		if err != nil {
			return nil, 0, err
		}
		return out, http.StatusOK, nil
	}
	out, err := q.store.Delete(q.ctx, key, storage.DeleteOptions{Precondition: precondition, Releases: s.alloc.releasesFor(cur)})
	if errors.Is(err, storage.ErrConflict) {
		return nil, 0, err
	}
	if err != nil {
		return nil, 0, err
	}
	return out, http.StatusOK, nil
}

// admitDelete runs the admission plugins on a delete: no object to
// default or validate, only to allow or refuse.
func (s *Server) admitDelete(q *request, a *policies.Attributes) error {
	for _, p := range s.cfg.Mutating {
		if err := p.Admit(q.ctx, a); err != nil {
			return admissionError(p.Name(), err)
		}
	}
	for _, p := range s.cfg.Validating {
		res, err := p.Validate(q.ctx, a)
		q.warn(res.Warnings...)
		if err != nil {
			return admissionError(p.Name(), err)
		}
	}
	return nil
}

// needsGracefulDelete: the object has finalizers (or gets one from the
// propagation policy), is a namespace, or is a pod running on a node with
// a grace period left.
func (s *Server) needsGracefulDelete(obj runtime.Object, opts metav1.DeleteOptions) bool {
	m, _ := meta.Accessor(obj)
	if len(m.GetFinalizers()) > 0 || orphanOrForeground(opts) {
		return true
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		return len(o.Spec.Finalizers) > 0
	case *corev1.Pod:
		if o.Spec.NodeName == "" || o.Status.Phase == corev1.PodSucceeded || o.Status.Phase == corev1.PodFailed {
			return false
		}
		return podGrace(o, opts) > 0
	}
	return false
}

func orphanOrForeground(opts metav1.DeleteOptions) bool {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy != metav1.DeletePropagationBackground
	}
	return opts.OrphanDependents != nil && *opts.OrphanDependents
}

func podGrace(p *corev1.Pod, opts metav1.DeleteOptions) int64 {
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if p.Spec.TerminationGracePeriodSeconds != nil {
		grace = *p.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	if p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds < grace {
		grace = *p.DeletionGracePeriodSeconds // a second delete may only shorten it
	}
	if grace < 0 {
		grace = 0
	}
	return grace
}

// markDeleting sets deletionTimestamp and the finalizers the propagation
// policy asks for, as kube-apiserver's BeforeDelete does.
func markDeleting(obj runtime.Object, opts metav1.DeleteOptions) {
	m, _ := meta.Accessor(obj)
	nowT := time.Now()
	var grace int64
	if p, ok := obj.(*corev1.Pod); ok {
		grace = podGrace(p, opts)
	}
	if m.GetDeletionTimestamp() == nil || grace > 0 {
		ts := metav1.NewTime(nowT.Add(time.Duration(grace) * time.Second))
		if old := m.GetDeletionTimestamp(); old == nil || ts.Before(old) {
			m.SetDeletionTimestamp(&ts)
		}
		m.SetDeletionGracePeriodSeconds(&grace)
	}
	if opts.PropagationPolicy != nil || opts.OrphanDependents != nil {
		fin := ""
		switch {
		case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationForeground:
			fin = metav1.FinalizerDeleteDependents
		case opts.PropagationPolicy != nil && *opts.PropagationPolicy == metav1.DeletePropagationOrphan,
			opts.PropagationPolicy == nil && opts.OrphanDependents != nil && *opts.OrphanDependents:
			fin = metav1.FinalizerOrphanDependents
		}
		if fin != "" && !hasString(m.GetFinalizers(), fin) {
			m.SetFinalizers(append(m.GetFinalizers(), fin))
		}
	}
	if ns, ok := obj.(*corev1.Namespace); ok {
		ns.Status.Phase = corev1.NamespaceTerminating
	}
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func (s *Server) deleteCollection(q *request) {
	opts, err := deleteOptions(q.r)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	_, pred, err := selection(q.r, q.res)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	result, err := q.store.List(q.ctx, q.res.ListPrefix(q.info.Namespace), storage.ListOptions{Predicate: pred})
	if err != nil {
		s.fail(q, err)
		return
	}
	deleted := make([]runtime.Object, 0, len(result.Items))
	for _, item := range result.Items {
		m, _ := meta.Accessor(item)
		out, _, err := s.deleteOne(q, q.res.Key(m.GetNamespace(), m.GetName()), opts)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			s.fail(q, err)
			return
		}
		deleted = append(deleted, out)
	}
	list, err := s.newList(q.res)
	if err != nil {
		s.fail(q, err)
		return
	}
	_ = meta.SetList(list, deleted)
	s.respond(q, http.StatusOK, list)
}
