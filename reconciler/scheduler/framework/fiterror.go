package framework

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// NoNodeAvailableMsg starts every FitError, as in kube-scheduler.
const NoNodeAvailableMsg = "0/%v nodes are available"

// ErrNoNodesAvailable is returned when the snapshot has no node at all.
var ErrNoNodesAvailable = errors.New("no nodes available to schedule pods")

// Diagnosis records why no node fits a pod.
type Diagnosis struct {
	// NodeToStatus holds the status of each node a filter rejected.
	NodeToStatus map[string]*Status
	// AbsentNodesStatus is the status of the nodes not in NodeToStatus:
	// those a PreFilter plugin ruled out by narrowing the cycle to other
	// nodes, or every node when a PreFilter plugin rejected the pod. Nil
	// when there are none.
	AbsentNodesStatus *Status
	// UnschedulablePlugins are the plugins that rejected the pod on some
	// node (or in PreFilter).
	UnschedulablePlugins map[string]bool
	// PreFilterMsg is the message of the PreFilter plugin that rejected
	// the pod, if one did.
	PreFilterMsg string
}

// FitError says why no node fits a pod.
type FitError struct {
	Pod         *corev1.Pod
	NumAllNodes int
	Diagnosis   Diagnosis
}

// Error is kube-scheduler's message, word for word: "0/N nodes are
// available: " followed by the PreFilter message, or by each filter reason
// with the number of nodes it was given for, sorted as strings and joined
// with ", ", and a full stop.
func (e *FitError) Error() string {
	msg := fmt.Sprintf(NoNodeAvailableMsg+":", e.NumAllNodes)
	if e.Diagnosis.PreFilterMsg != "" {
		return msg + " " + e.Diagnosis.PreFilterMsg + "."
	}
	counts := map[string]int{}
	for _, s := range e.Diagnosis.NodeToStatus {
		for _, r := range s.Reasons() {
			counts[r]++
		}
	}
	if absent := e.NumAllNodes - len(e.Diagnosis.NodeToStatus); absent > 0 {
		for _, r := range e.Diagnosis.AbsentNodesStatus.Reasons() {
			counts[r] += absent
		}
	}
	reasons := make([]string, 0, len(counts))
	for r, n := range counts {
		reasons = append(reasons, fmt.Sprintf("%v %v", n, r))
	}
	sort.Strings(reasons)
	if len(reasons) > 0 {
		msg += " " + strings.Join(reasons, ", ") + "."
	}
	return msg
}

func (d *Diagnosis) addPluginStatus(s *Status) {
	if s.Plugin() == "" || !s.IsRejected() {
		return
	}
	if d.UnschedulablePlugins == nil {
		d.UnschedulablePlugins = map[string]bool{}
	}
	d.UnschedulablePlugins[s.Plugin()] = true
}
