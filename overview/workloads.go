package overview

import (
	"cmp"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func buildWorkloads(o Objects) Workloads {
	var all []Workload
	for _, d := range o.Deployments {
		w := Workload{Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Desired: 1,
			Updated: d.Status.UpdatedReplicas, Ready: d.Status.ReadyReplicas, Available: d.Status.AvailableReplicas}
		if d.Spec.Replicas != nil {
			w.Desired = *d.Spec.Replicas
		}
		switch {
		case d.Status.ObservedGeneration < d.Generation:
			w.Note = "rollout not yet observed"
		case d.Spec.Paused:
			w.Note = "paused"
		}
		for _, c := range d.Status.Conditions {
			if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse {
				w.Note = c.Reason
			}
		}
		// Old replicas still running mean the rollout has not finished.
		if d.Status.Replicas > w.Updated && w.Note == "" {
			w.Note = "old replicas remain"
		}
		all = append(all, w)
	}
	for _, s := range o.StatefulSets {
		w := Workload{Kind: "StatefulSet", Namespace: s.Namespace, Name: s.Name, Desired: 1,
			Updated: s.Status.UpdatedReplicas, Ready: s.Status.ReadyReplicas, Available: s.Status.AvailableReplicas}
		if s.Spec.Replicas != nil {
			w.Desired = *s.Spec.Replicas
		}
		if s.Status.ObservedGeneration < s.Generation {
			w.Note = "rollout not yet observed"
		}
		all = append(all, w)
	}
	for _, d := range o.DaemonSets {
		w := Workload{Kind: "DaemonSet", Namespace: d.Namespace, Name: d.Name, Desired: d.Status.DesiredNumberScheduled,
			Updated: d.Status.UpdatedNumberScheduled, Ready: d.Status.NumberReady, Available: d.Status.NumberAvailable}
		switch {
		case d.Status.ObservedGeneration < d.Generation:
			w.Note = "rollout not yet observed"
		case d.Status.NumberMisscheduled > 0:
			w.Note = "misscheduled pods"
		}
		all = append(all, w)
	}
	out := Workloads{Total: len(all)}
	for _, w := range all {
		if w.healthy() {
			out.Healthy++
			continue
		}
		out.Unhealthy = append(out.Unhealthy, w)
	}
	slices.SortFunc(out.Unhealthy, func(a, b Workload) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name), strings.Compare(a.Kind, b.Kind))
	})
	return out
}

// healthy is a finished rollout: every desired replica updated, ready and
// available, and nothing else noted.
func (w Workload) healthy() bool {
	return w.Note == "" && w.Updated >= w.Desired && w.Ready >= w.Desired && w.Available >= w.Desired
}
