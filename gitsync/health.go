package gitsync

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// maxFailing bounds the failing workloads a status names.
const maxFailing = 10

// health reads each workload and sums up how the revision is doing.
func health(ctx context.Context, d dynamic.Interface, workloads []Written) *gitopsv1.Health {
	if len(workloads) == 0 {
		return nil
	}
	h := &gitopsv1.Health{Workloads: len(workloads)}
	for _, w := range workloads {
		gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: map[string]string{
			"Deployment": "deployments", "StatefulSet": "statefulsets", "DaemonSet": "daemonsets"}[w.Kind]}
		ref := w.Kind + "/" + w.Namespace + "/" + w.Name
		u, err := d.Resource(gvr).Namespace(w.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		var state, why string
		switch {
		case apierrors.IsNotFound(err):
			state, why = "failing", "missing"
		case err != nil:
			state, why = "failing", err.Error()
		default:
			state, why = workloadState(u)
		}
		switch state {
		case "healthy":
			h.Healthy++
		case "progressing":
			h.Progressing++
		default:
			if len(h.Failing) < maxFailing {
				h.Failing = append(h.Failing, ref+": "+why)
			}
		}
	}
	return h
}

// workloadState is healthy, progressing or failing, with why when not
// healthy, from a workload's status as kubectl rollout status reads it.
func workloadState(u *unstructured.Unstructured) (state, why string) {
	num := func(path ...string) int64 {
		v, _, _ := unstructured.NestedInt64(u.Object, path...)
		return v
	}
	if num("status", "observedGeneration") < u.GetGeneration() {
		return "progressing", "the controller has not seen the latest spec"
	}
	switch u.GetKind() {
	case "Deployment":
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Progressing" && m["reason"] == "ProgressDeadlineExceeded" {
				msg, _ := m["message"].(string)
				return "failing", msg
			}
		}
		want := int64(1)
		if v, ok, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); ok {
			want = v
		}
		updated, available, total := num("status", "updatedReplicas"), num("status", "availableReplicas"), num("status", "replicas")
		if updated == want && available == want && total == want {
			return "healthy", ""
		}
		return "progressing", fmt.Sprintf("%d of %d updated, %d available", updated, want, available)
	case "StatefulSet":
		want := int64(1)
		if v, ok, _ := unstructured.NestedInt64(u.Object, "spec", "replicas"); ok {
			want = v
		}
		ready := num("status", "readyReplicas")
		cur, _, _ := unstructured.NestedString(u.Object, "status", "currentRevision")
		upd, _, _ := unstructured.NestedString(u.Object, "status", "updateRevision")
		if ready == want && cur == upd {
			return "healthy", ""
		}
		return "progressing", fmt.Sprintf("%d of %d ready", ready, want)
	case "DaemonSet":
		want := num("status", "desiredNumberScheduled")
		if num("status", "numberAvailable") == want && num("status", "updatedNumberScheduled") == want {
			return "healthy", ""
		}
		return "progressing", fmt.Sprintf("%d of %d available", num("status", "numberAvailable"), want)
	}
	return "healthy", ""
}
