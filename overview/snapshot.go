// Package overview answers "is my cluster OK?" on one screen: Gather reads
// what the answer needs from the API in a handful of list calls, Build
// turns those objects into a Snapshot (pure, so it is tested on fixed
// objects), and Render draws a Snapshot as text.
package overview

import "time"

// Snapshot is everything the status screen shows, computed at one instant.
// It is also what `cairn status -o json` prints, so its field names are a
// contract with scripts.
type Snapshot struct {
	// Server is the API server's address as the kubeconfig names it.
	Server string `json:"server"`
	// Time is the instant the ages and the event window are measured from.
	Time         time.Time   `json:"time"`
	ControlPlane []Component `json:"controlPlane"`
	Sources      []Source    `json:"sources"`
	Nodes        Nodes       `json:"nodes"`
	Pods         Pods        `json:"pods"`
	Workloads    Workloads   `json:"workloads"`
	Events       Events      `json:"events"`
	// Unreadable lists what could not be read (forbidden, timed out), so
	// a partial answer says it is partial.
	Unreadable []string `json:"unreadable,omitempty"`
	Verdict    Verdict  `json:"verdict"`
}

// Component is one control-plane part and whether it is healthy.
type Component struct {
	Name    string `json:"name"`
	Healthy bool   `json:"healthy"`
	Message string `json:"message,omitempty"`
}

// Source is one GitRepository and its last sync.
type Source struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Revision is the applied commit, shortened to 12 hex digits.
	Revision  string     `json:"revision,omitempty"`
	AppliedAt *time.Time `json:"appliedAt,omitempty"`
	Author    string     `json:"author,omitempty"`
	// Subject is the first line of the commit message.
	Subject string `json:"subject,omitempty"`
	// Ready is the Ready condition's status: True, False or Unknown.
	Ready        string `json:"ready"`
	Reason       string `json:"reason,omitempty"`
	ReadyMessage string `json:"readyMessage,omitempty"`
	Suspended    bool   `json:"suspended,omitempty"`
	// Errors are the first MaxSourceErrors problems; TotalErrors counts
	// them all.
	Errors      []SourceError `json:"errors,omitempty"`
	TotalErrors int           `json:"totalErrors,omitempty"`
}

// SourceError is one problem of a revision, located in its file.
type SourceError struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

// Nodes counts the nodes and describes each one; the renderer decides
// whether to list them or summarise.
type Nodes struct {
	Total    int    `json:"total"`
	Ready    int    `json:"ready"`
	NotReady int    `json:"notReady"`
	Cordoned int    `json:"cordoned"`
	Pressure int    `json:"pressure"`
	Items    []Node `json:"items"`
}

// Node is one node's health and how full it is.
type Node struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	// NotReadyReason is the Ready condition's reason when it is not True
	// ("NodeStatusUnknown", "KubeletNotReady"; "NoCondition" when absent).
	NotReadyReason string `json:"notReadyReason,omitempty"`
	// Pressure lists the pressure conditions that are True.
	Pressure []string `json:"pressure,omitempty"`
	Cordoned bool     `json:"cordoned,omitempty"`
	Pods     int      `json:"pods"`
	// CPU is in millicores, Memory in bytes.
	CPU    Usage `json:"cpu"`
	Memory Usage `json:"memory"`
}

// Usage is what the pods on a node request next to what it can give.
type Usage struct {
	Requested   int64 `json:"requested"`
	Allocatable int64 `json:"allocatable"`
}

// Fraction is Requested over Allocatable (0 when nothing is allocatable).
func (u Usage) Fraction() float64 {
	if u.Allocatable <= 0 {
		return 0
	}
	return float64(u.Requested) / float64(u.Allocatable)
}

// Healthy is a node that is Ready without pressure.
func (n Node) Healthy() bool { return n.Ready && len(n.Pressure) == 0 }

// Pods counts the pods that have not finished.
type Pods struct {
	Total       int `json:"total"`
	Running     int `json:"running"`
	Pending     int `json:"pending"`
	Unscheduled int `json:"unscheduled"`
	NotReady    int `json:"notReady"`
	// NotReadyItems are the first MaxPods pods that are not ready,
	// oldest first: the ones most likely stuck.
	NotReadyItems []Pod `json:"notReadyItems,omitempty"`
}

// Pod is a pod that is not ready, and why as far as its status says.
type Pod struct {
	Namespace string    `json:"namespace"`
	Name      string    `json:"name"`
	Phase     string    `json:"phase"`
	Reason    string    `json:"reason,omitempty"`
	Node      string    `json:"node,omitempty"`
	Created   time.Time `json:"created"`
}

// Workloads lists the unhealthy Deployments, StatefulSets and DaemonSets
// and counts the healthy ones.
type Workloads struct {
	Total     int        `json:"total"`
	Healthy   int        `json:"healthy"`
	Unhealthy []Workload `json:"unhealthy,omitempty"`
}

// Workload is one controller's rollout progress.
type Workload struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Desired   int32  `json:"desired"`
	Updated   int32  `json:"updated"`
	Ready     int32  `json:"ready"`
	Available int32  `json:"available"`
	// Note says what else is wrong: a stale observedGeneration, a
	// failed Progressing condition.
	Note string `json:"note,omitempty"`
}

// Events are the recent Warning events, deduplicated, newest first.
type Events struct {
	// WindowSeconds is how far back events count.
	WindowSeconds int64 `json:"windowSeconds"`
	// Total counts distinct warnings in the window; Items holds the
	// newest MaxEvents of them.
	Total int     `json:"total"`
	Items []Event `json:"items,omitempty"`
}

// Event is one warning, its repetitions folded into Count.
type Event struct {
	Last time.Time `json:"last"`
	// Kind, Namespace and Name say which object the event is about.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
	Message   string `json:"message"`
	Count     int32  `json:"count"`
}

// Verdict is the answer: OK, or the list of what is wrong.
type Verdict struct {
	OK       bool     `json:"ok"`
	Problems []string `json:"problems,omitempty"`
}
