package overview

import (
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// Limits of how much one screen lists.
const (
	// MaxSourceErrors errors are kept per source; the rest are counted.
	MaxSourceErrors = 3
	// MaxPods not-ready pods are listed.
	MaxPods = 5
	// MaxEvents warnings are listed.
	MaxEvents = 10
	// EventWindow is how far back a warning is recent.
	EventWindow = 10 * time.Minute
)

// Build computes the Snapshot of objects as of now. It does no I/O, so
// the same objects and instant always give the same Snapshot.
func Build(o Objects, now time.Time) Snapshot {
	s := Snapshot{Server: o.Server, Time: now.UTC(), Unreadable: o.Unreadable}
	s.Sources = buildSources(o.GitRepositories)
	s.ControlPlane = buildControlPlane(o, s.Sources)
	s.Nodes, s.Pods = buildNodesAndPods(o.Nodes, o.Pods)
	s.Workloads = buildWorkloads(o)
	s.Events = buildEvents(o.Events, now)
	s.Verdict = verdict(s)
	return s
}

func buildControlPlane(o Objects, sources []Source) []Component {
	api := Component{Name: "apiserver", Healthy: o.Readyz == "ok", Message: o.Readyz}
	if api.Healthy {
		api.Message = "ready"
	}
	out := []Component{api}
	for _, cs := range o.ComponentStatuses {
		c := Component{Name: cs.Name}
		for _, cond := range cs.Conditions {
			if cond.Type != "Healthy" {
				continue
			}
			c.Healthy = cond.Status == "True"
			c.Message = cond.Message
			if !c.Healthy && cond.Error != "" {
				c.Message = cond.Error
			}
		}
		if c.Healthy && strings.HasPrefix(c.Name, "etcd-") {
			// etcd's own health JSON says nothing a person needs.
			c.Message = "member healthy"
		}
		out = append(out, c)
	}
	slices.SortStableFunc(out[1:], func(a, b Component) int { return strings.Compare(a.Name, b.Name) })
	out = append(out, gitsyncComponent(sources))
	return out
}

// gitsyncComponent judges gitsync by its work: it is healthy when every
// source it follows applied cleanly.
func gitsyncComponent(sources []Source) Component {
	c := Component{Name: "gitsync", Healthy: true}
	bad := 0
	for _, s := range sources {
		if s.Ready != "True" && !s.Suspended {
			bad++
		}
	}
	switch {
	case len(sources) == 0:
		c.Message = "no git sources"
	case bad == 0:
		c.Message = fmt.Sprintf("%d of %d sources ready", len(sources), len(sources))
	default:
		c.Healthy = false
		c.Message = fmt.Sprintf("%d of %d sources not ready", bad, len(sources))
	}
	return c
}

func buildSources(repos []gitopsv1.GitRepository) []Source {
	out := make([]Source, 0, len(repos))
	for _, r := range repos {
		st := r.Status
		s := Source{Namespace: r.Namespace, Name: r.Name, Ready: "Unknown", Suspended: r.Spec.Suspend,
			Revision: shortRevision(st.LastAppliedRevision), TotalErrors: len(st.Errors)}
		if st.LastAppliedTime != nil {
			t := st.LastAppliedTime.UTC()
			s.AppliedAt = &t
		}
		if st.Commit != nil {
			s.Author = st.Commit.Author
			s.Subject, _, _ = strings.Cut(strings.TrimSpace(st.Commit.Message), "\n")
			s.Subject = strings.TrimSpace(s.Subject)
		}
		if c := findCondition(st.Conditions, "Ready"); c != nil {
			s.Ready, s.Reason, s.ReadyMessage = string(c.Status), c.Reason, c.Message
		}
		for _, e := range st.Errors[:min(len(st.Errors), MaxSourceErrors)] {
			s.Errors = append(s.Errors, SourceError{File: e.File, Line: e.Line, Message: errorText(e)})
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b Source) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return out
}

// errorText puts the object and field in front of the message when the
// message does not already name them, as `cairn validate` prints them.
func errorText(e gitopsv1.SyncError) string {
	msg := e.Message
	if e.Field != "" && !strings.Contains(msg, e.Field) {
		msg = e.Field + ": " + msg
	}
	if e.Object != "" && !strings.Contains(msg, e.Object) {
		msg = e.Object + ": " + msg
	}
	return msg
}

func shortRevision(rev string) string {
	// Revisions may be "main@sha1:<hex>" or bare hex; people want the hex.
	if i := strings.LastIndexAny(rev, ":@/"); i >= 0 {
		rev = rev[i+1:]
	}
	return rev[:min(len(rev), 12)]
}

func findCondition(conds []metav1.Condition, typ string) *metav1.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

func verdict(s Snapshot) Verdict {
	var p []string
	for _, c := range s.ControlPlane {
		if !c.Healthy {
			p = append(p, c.Name+" unhealthy")
		}
	}
	if s.Nodes.Total == 0 {
		p = append(p, "no nodes")
	}
	if s.Nodes.NotReady > 0 {
		p = append(p, plural(s.Nodes.NotReady, "node not ready", "nodes not ready"))
	}
	if s.Nodes.Pressure > 0 {
		p = append(p, plural(s.Nodes.Pressure, "node under pressure", "nodes under pressure"))
	}
	if n := len(s.Workloads.Unhealthy); n > 0 {
		p = append(p, plural(n, "workload unhealthy", "workloads unhealthy"))
	}
	if s.Pods.NotReady > 0 {
		p = append(p, plural(s.Pods.NotReady, "pod not ready", "pods not ready"))
	}
	if n := len(s.Unreadable); n > 0 {
		p = append(p, plural(n, "list could not be read", "lists could not be read"))
	}
	return Verdict{OK: len(p) == 0, Problems: p}
}
