package builtin

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/policies"
)

// defaultTolerationSeconds is kube-apiserver's default for both
// --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds.
const defaultTolerationSeconds int64 = 300

var podResource = schema.GroupResource{Resource: "pods"}

// DefaultTolerationSeconds is Kubernetes' DefaultTolerationSeconds plugin:
// on pod create and update it adds the tolerations
// node.kubernetes.io/not-ready:NoExecute and
// node.kubernetes.io/unreachable:NoExecute (operator Exists,
// tolerationSeconds 300) unless the pod already tolerates that taint (a
// toleration with the key or an empty key, and the effect NoExecute or an
// empty effect). Subresources are not affected.
func DefaultTolerationSeconds() policies.Mutating { return defaultTolerations{} }

type defaultTolerations struct{}

func (defaultTolerations) Name() string { return "DefaultTolerationSeconds" }

func (defaultTolerations) Admit(_ context.Context, a *policies.Attributes) error {
	if a.Operation != policies.Create && a.Operation != policies.Update {
		return nil
	}
	if a.Resource.GroupResource() != podResource || a.Subresource != "" {
		return nil
	}
	pod, ok := typed[corev1.Pod](a.Object)
	if !ok {
		return apierrors.NewBadRequest(fmt.Sprintf("expected *api.Pod but got %T", a.Object))
	}
	notReady, unreachable := false, false
	for _, t := range pod.Spec.Tolerations {
		if t.Effect != corev1.TaintEffectNoExecute && t.Effect != "" {
			continue
		}
		if t.Key == corev1.TaintNodeNotReady || t.Key == "" {
			notReady = true
		}
		if t.Key == corev1.TaintNodeUnreachable || t.Key == "" {
			unreachable = true
		}
	}
	if notReady && unreachable {
		return nil
	}
	if !notReady {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, toleration(corev1.TaintNodeNotReady))
	}
	if !unreachable {
		pod.Spec.Tolerations = append(pod.Spec.Tolerations, toleration(corev1.TaintNodeUnreachable))
	}
	return writeBack(a.Object, pod)
}

func toleration(key string) corev1.Toleration {
	seconds := defaultTolerationSeconds
	return corev1.Toleration{
		Key:               key,
		Operator:          corev1.TolerationOpExists,
		Effect:            corev1.TaintEffectNoExecute,
		TolerationSeconds: &seconds,
	}
}
