package apiserver

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// applyPatch applies a JSON, merge or strategic merge patch to a document.
// Strategic merge patches need the Go type for their merge keys; cairn's own
// kinds take merge patches only, as kube-apiserver's CRDs do.
func applyPatch(pt types.PatchType, doc, patch []byte, dataStruct runtime.Object) ([]byte, error) {
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(patch)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("invalid JSON patch: %v", err))
		}
		out, err := p.Apply(doc)
		if err != nil {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnprocessableEntity, "patch", emptyGR, "", fmt.Sprintf("the JSON patch could not be applied: %v", err), 0, false)
		}
		return out, nil
	case types.MergePatchType:
		out, err := jsonpatch.MergePatch(doc, patch)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("invalid merge patch: %v", err))
		}
		return out, nil
	case types.StrategicMergePatchType:
		if isCairnKind(dataStruct) {
			return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", emptyGR, "", "strategic merge patch is not supported for gitops.cairn.dev kinds; use a merge patch", 0, false)
		}
		out, err := strategicpatch.StrategicMergePatch(doc, patch, dataStruct)
		if err != nil {
			return nil, badRequest(fmt.Sprintf("invalid strategic merge patch: %v", err))
		}
		return out, nil
	}
	return nil, apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", emptyGR, "", fmt.Sprintf("unsupported patch type %q", pt), 0, false)
}

func isCairnKind(obj runtime.Object) bool {
	_, ok := obj.(*gitopsv1.GitRepository)
	return ok
}

func patchType(r *http.Request) (types.PatchType, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return "", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", emptyGR, "", "a patch needs a Content-Type", 0, false)
	}
	switch pt := types.PatchType(mt); pt {
	case types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType:
		return pt, nil
	case types.ApplyYAMLPatchType, types.ApplyCBORPatchType:
		return "", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", emptyGR, "",
			"server-side apply is not served: cairn changes the cluster from git; use a merge or strategic merge patch", 0, false)
	default:
		return "", apierrors.NewGenericServerResponse(http.StatusUnsupportedMediaType, "patch", emptyGR, "", fmt.Sprintf("unsupported patch type %q", mt), 0, false)
	}
}

// patch applies the request's patch to the current object inside the
// optimistic-concurrency loop, so a concurrent writer makes it re-apply.
func (s *Server) patch(q *request, _ any) {
	pt, err := patchType(q.r)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	body, fv, err := q.readBody()
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	s.update(q, func(cur runtime.Object) (runtime.Object, error) {
		doc, err := json.Marshal(cur)
		if err != nil {
			return nil, err
		}
		patched, err := applyPatch(pt, doc, body, q.res.New())
		if err != nil {
			return nil, err
		}
		obj, warns, err := decodeBody(patched, q.res, q.res.New, q.res.GVK(), fv)
		if err != nil {
			return nil, err
		}
		q.warn(warns...)
		return obj, nil
	})
}

// --- scale ---

// scaleOf reads the autoscaling/v1 Scale of a workload.
func scaleOf(res *Resource, obj runtime.Object) (*autoscalingv1.Scale, error) {
	m, _ := meta.Accessor(obj)
	sc := &autoscalingv1.Scale{
		TypeMeta: metav1.TypeMeta{APIVersion: "autoscaling/v1", Kind: "Scale"},
		ObjectMeta: metav1.ObjectMeta{Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp()},
	}
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		sc.Spec.Replicas, sc.Status.Replicas, sel = deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.ReplicaSet:
		sc.Spec.Replicas, sc.Status.Replicas, sel = deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.StatefulSet:
		sc.Spec.Replicas, sc.Status.Replicas, sel = deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *corev1.ReplicationController:
		sc.Spec.Replicas, sc.Status.Replicas = deref(o.Spec.Replicas), o.Status.Replicas
		sel = &metav1.LabelSelector{MatchLabels: o.Spec.Selector}
	default:
		return nil, fmt.Errorf("apiserver: %s has no scale subresource", res.Kind)
	}
	if sel != nil {
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err == nil {
			sc.Status.Selector = s.String()
		}
	}
	return sc, nil
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	case *corev1.ReplicationController:
		o.Spec.Replicas = &n
	}
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func (s *Server) serveScale(q *request) {
	scaleNew := func() runtime.Object { return &autoscalingv1.Scale{} }
	scaleGVK := autoscalingv1.SchemeGroupVersion.WithKind("Scale")
	switch q.info.Verb {
	case "get":
		obj, err := q.store.Get(q.ctx, q.key(), q.r.URL.Query().Get("resourceVersion"))
		if err != nil {
			s.fail(q, err)
			return
		}
		sc, err := scaleOf(q.res, obj)
		if err != nil {
			s.fail(q, err)
			return
		}
		s.respond(q, http.StatusOK, sc)
	case "update", "patch":
		body, err := readBody(q.r)
		if err != nil {
			writeStatus(q.w, err)
			return
		}
		var pt types.PatchType
		if q.info.Verb == "patch" {
			if pt, err = patchType(q.r); err != nil {
				writeStatus(q.w, err)
				return
			}
		}
		q.info.Subresource = "scale"
		s.update(q, func(cur runtime.Object) (runtime.Object, error) {
			sc, err := scaleOf(q.res, cur)
			if err != nil {
				return nil, err
			}
			doc := body
			if pt != "" {
				curDoc, err := json.Marshal(sc)
				if err != nil {
					return nil, err
				}
				if doc, err = applyPatch(pt, curDoc, body, &autoscalingv1.Scale{}); err != nil {
					return nil, err
				}
			}
			obj, _, err := decodeBody(doc, q.res, scaleNew, scaleGVK, validationStrict)
			if err != nil {
				return nil, err
			}
			want := obj.(*autoscalingv1.Scale)
			if want.ResourceVersion != "" && want.ResourceVersion != sc.ResourceVersion {
				return nil, apierrors.NewConflict(q.res.GR(), q.info.Name, fmt.Errorf("the object has been modified; please apply your changes to the latest version and try again"))
			}
			if want.Spec.Replicas < 0 {
				return nil, apierrors.NewBadRequest("spec.replicas: must be greater than or equal to 0")
			}
			next := cur.DeepCopyObject()
			m, _ := meta.Accessor(next)
			m.SetResourceVersion("")
			setReplicas(next, want.Spec.Replicas)
			return next, nil
		})
	default:
		writeStatus(q.w, methodNotAllowed(q.info.Verb, q.res.GR()))
	}
}
