package overview

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// Objects are the API objects a Snapshot is built from: what Gather reads,
// or what a test writes down.
type Objects struct {
	Server string
	// Readyz is the API server's /readyz answer: "ok", or what failed.
	Readyz            string
	ComponentStatuses []corev1.ComponentStatus
	GitRepositories   []gitopsv1.GitRepository
	Nodes             []corev1.Node
	// Pods need not include Succeeded and Failed ones; Build skips them.
	Pods         []corev1.Pod
	Deployments  []appsv1.Deployment
	StatefulSets []appsv1.StatefulSet
	DaemonSets   []appsv1.DaemonSet
	// Events need only be the Warning ones; Build skips the others.
	Events []corev1.Event
	// Unreadable names what could not be listed, with why.
	Unreadable []string
}
