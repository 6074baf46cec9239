package overview

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Options say how a Snapshot is drawn.
type Options struct {
	// Color adds ANSI colours; Unicode uses ✓ ✗ █ ░ … instead of ASCII.
	Color, Unicode bool
	// Width is how many columns a line may take.
	Width int
}

// Limits of the lists drawn on one screen.
const (
	// ListNodesUpTo nodes are drawn one per line; more are summarised.
	ListNodesUpTo = 20
	// MostLoaded nodes are shown in a summary.
	MostLoaded = 5
	// MaxListed problem nodes and workloads are drawn before "and N more".
	MaxListed = 10
)

// Render draws s as text.
func Render(w io.Writer, s Snapshot, opt Options) error {
	if opt.Width <= 0 {
		opt.Width = 100
	}
	r := renderer{screen: screen{opt: opt}, s: s}
	r.header()
	r.controlPlane()
	r.sources()
	r.nodes()
	r.pods()
	r.workloads()
	r.events()
	r.unreadable()
	r.verdict()
	return r.write(w)
}

// JSON writes s as indented JSON, for scripts.
func JSON(w io.Writer, s Snapshot) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

type renderer struct {
	screen
	s Snapshot
}

// marks are the verdicts in front of lines: ASCII, then Unicode.
var marks = map[style][2]string{good: {"ok", "✓"}, bad: {"XX", "✗"}, warn: {"!!", "!"}}

// mark is the verdict in front of a line: a glyph on a terminal, two
// letters in ASCII that still stand out in a log or an email.
func (r *renderer) mark(st style) span {
	m := marks[st][0]
	if r.opt.Unicode {
		m = marks[st][1]
	}
	return styled(st, m+" ")
}

func (r *renderer) section(title string, rest ...span) {
	r.blank()
	r.add(append([]span{styled(heading, title)}, rest...)...)
}

// more says how many were left out, indented under the list it ends.
func (r *renderer) more(indent, n int) {
	if n > 0 {
		r.add(txt(strings.Repeat(" ", indent)), styled(dim, fmt.Sprintf("and %s more", count(n))))
	}
}

func (r *renderer) header() {
	title := "cairn status"
	sep := " - "
	if r.opt.Unicode {
		sep = " · "
	}
	r.add(styled(heading, title), styled(dim, sep+r.s.Server+sep+r.s.Time.Format("2006-01-02 15:04:05 MST")))
}

func (r *renderer) controlPlane() {
	r.section("CONTROL PLANE")
	w := 0
	for _, c := range r.s.ControlPlane {
		w = max(w, len(c.Name))
	}
	for _, c := range r.s.ControlPlane {
		st := good
		if !c.Healthy {
			st = bad
		}
		r.add(txt("  "), r.mark(st), txt(pad(c.Name, w+2)), styled(dimUnless(!c.Healthy), c.Message))
	}
}

// dimUnless keeps the eye on the lines that need attention.
func dimUnless(important bool) style {
	if important {
		return plain
	}
	return dim
}

func (r *renderer) sources() {
	if len(r.s.Sources) == 0 {
		r.section("GIT SOURCES", styled(dim, "  none"))
		return
	}
	r.section("GIT SOURCES")
	for _, src := range r.s.Sources {
		st := good
		switch {
		case src.Suspended:
			st = warn
		case src.Ready != "True":
			st = bad
		}
		rev := src.Revision
		if rev == "" {
			rev = "never applied"
		}
		line := []span{txt("  "), r.mark(st), txt(src.Namespace + "/" + src.Name + "  "), styled(heading, rev)}
		if src.AppliedAt != nil {
			line = append(line, txt("  applied "+age(r.s.Time.Sub(*src.AppliedAt))+" ago"))
		}
		if src.Author != "" {
			line = append(line, txt("  by "+src.Author))
		}
		if src.Subject != "" {
			line = append(line, styled(dim, `  "`+src.Subject+`"`))
		}
		r.add(line...)
		cond := "Ready=" + src.Ready
		if src.Reason != "" {
			cond += " " + src.Reason
		}
		if src.Suspended {
			cond += " (suspended)"
		}
		msg := ""
		if src.ReadyMessage != "" && src.Ready != "True" {
			msg = ": " + firstLine(src.ReadyMessage)
		}
		condStyle := st
		if st == good {
			condStyle = dim
		}
		r.add(txt("       "), styled(condStyle, cond), txt(msg))
		for _, e := range src.Errors {
			loc := e.File
			if e.Line > 0 {
				loc += fmt.Sprintf(":%d", e.Line)
			}
			if loc != "" {
				loc += ": "
			}
			r.add(txt("       "), styled(bad, loc), txt(firstLine(e.Message)))
		}
		r.more(7, src.TotalErrors-len(src.Errors))
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

func (r *renderer) nodes() {
	n := r.s.Nodes
	sep := r.sep()
	head := []span{txt("  " + fmt.Sprintf("%s of %s ready", count(n.Ready), count(n.Total)))}
	if n.NotReady > 0 {
		head = append(head, txt(sep), styled(bad, count(n.NotReady)+" not ready"))
	}
	if n.Cordoned > 0 {
		head = append(head, txt(sep), styled(warn, count(n.Cordoned)+" cordoned"))
	}
	if n.Pressure > 0 {
		head = append(head, txt(sep), styled(bad, count(n.Pressure)+" under pressure"))
	}
	r.section("NODES", head...)
	if n.Total == 0 {
		r.add(txt("  "), r.mark(bad), txt("no nodes: nothing can run"))
		return
	}
	if len(n.Items) <= ListNodesUpTo {
		r.nodeLines(n.Items, n.Items, "  ", 0)
		return
	}
	r.nodeSummary(n.Items)
}

func (r *renderer) sep() string {
	if r.opt.Unicode {
		return " · "
	}
	return ", "
}

// nodeLines draws one line per node, indented, with "and N more" past
// limit (none when limit is 0). The columns are as wide as the widest of
// all, so that lists drawn one after another line up.
func (r *renderer) nodeLines(nodes, all []Node, indent string, limit int) {
	shown := nodes
	if limit > 0 && len(shown) > limit {
		shown = shown[:limit]
	}
	nameW, stateW := 0, 0
	for _, n := range all {
		nameW = max(nameW, len(n.Name))
		stateW = max(stateW, len(nodeState(n)))
	}
	for _, n := range shown {
		st := good
		switch {
		case !n.Healthy():
			st = bad
		case n.Cordoned:
			st = warn
		}
		stateStyle := st
		if st == good {
			stateStyle = plain
		}
		line := []span{txt(indent), r.mark(st), txt(pad(n.Name, nameW+2)), styled(stateStyle, pad(nodeState(n), stateW+2))}
		line = append(line, r.usage("cpu", n.CPU)...)
		line = append(line, txt("  "))
		line = append(line, r.usage("mem", n.Memory)...)
		line = append(line, styled(dim, "  "+plural(n.Pods, "pod", "pods")))
		r.add(line...)
	}
	r.more(len(indent)+3, len(nodes)-len(shown))
}

func nodeState(n Node) string {
	parts := []string{"Ready"}
	if !n.Ready {
		parts[0] = "NotReady"
		if n.NotReadyReason != "" {
			parts[0] += "(" + n.NotReadyReason + ")"
		}
	}
	if n.Cordoned {
		parts = append(parts, "cordoned")
	}
	parts = append(parts, n.Pressure...)
	return strings.Join(parts, ",")
}

func (r *renderer) usage(name string, u Usage) []span {
	f := u.Fraction()
	return []span{txt(name + " "), styled(loadStyle(f), bar(f, r.opt.Unicode)), txt(" " + percent(f))}
}

// nodeSummary stands in for a thousand lines: the cluster's totals, the
// nodes closest to full, and every node that needs attention.
func (r *renderer) nodeSummary(nodes []Node) {
	var cpu, mem Usage
	for _, n := range nodes {
		cpu.Requested += n.CPU.Requested
		cpu.Allocatable += n.CPU.Allocatable
		mem.Requested += n.Memory.Requested
		mem.Allocatable += n.Memory.Allocatable
	}
	line := []span{txt("  requested of allocatable  ")}
	line = append(line, r.usage("cpu", cpu)...)
	line = append(line, txt("  "))
	line = append(line, r.usage("mem", mem)...)
	r.add(line...)

	var loaded, notReady, pressure, cordoned []Node
	for _, n := range nodes {
		switch {
		case !n.Ready:
			notReady = append(notReady, n)
		case len(n.Pressure) > 0:
			pressure = append(pressure, n)
		case n.Cordoned:
			cordoned = append(cordoned, n)
		}
		// Not-ready nodes take no new pods and are listed on their own.
		if n.Ready {
			loaded = append(loaded, n)
		}
	}
	slices.SortStableFunc(loaded, func(a, b Node) int {
		return cmp.Compare(max(b.CPU.Fraction(), b.Memory.Fraction()), max(a.CPU.Fraction(), a.Memory.Fraction()))
	})
	loaded = loaded[:min(len(loaded), MostLoaded)]
	// The columns line up across the groups.
	all := slices.Concat(loaded, notReady[:min(len(notReady), MaxListed)],
		pressure[:min(len(pressure), MaxListed)], cordoned[:min(len(cordoned), MaxListed)])
	for _, g := range []struct {
		title string
		nodes []Node
	}{{"most loaded", loaded}, {"not ready", notReady}, {"under pressure", pressure}, {"cordoned", cordoned}} {
		if len(g.nodes) == 0 {
			continue
		}
		r.add(styled(dim, "  "+g.title+":"))
		r.nodeLines(g.nodes, all, "    ", MaxListed)
	}
}

func (r *renderer) pods() {
	p := r.s.Pods
	sep := r.sep()
	head := []span{txt("  " + plural(p.Total, "pod", "pods") + sep + count(p.Running) + " running")}
	if p.Pending > 0 {
		pending := count(p.Pending) + " pending"
		if p.Unscheduled > 0 {
			pending += fmt.Sprintf(" (%s unscheduled)", count(p.Unscheduled))
		}
		head = append(head, txt(sep), styled(warn, pending))
	}
	if p.NotReady > 0 {
		head = append(head, txt(sep), styled(bad, count(p.NotReady)+" not ready"))
	} else {
		head = append(head, txt(sep), styled(good, "all ready"))
	}
	r.section("PODS", head...)
	nameW := 0
	for _, q := range p.NotReadyItems {
		nameW = max(nameW, len(q.Namespace)+1+len(q.Name))
	}
	for _, q := range p.NotReadyItems {
		why := q.Phase
		if q.Reason != "" {
			why += " " + q.Reason
		}
		where := "unscheduled"
		if q.Node != "" {
			where = "on " + q.Node
		}
		r.add(txt("  "), r.mark(warn), txt(pad(q.Namespace+"/"+q.Name, nameW+2)), styled(warn, why),
			styled(dim, "  "+where+"  "+age(r.s.Time.Sub(q.Created))+" old"))
	}
	r.more(5, p.NotReady-len(p.NotReadyItems))
}

func (r *renderer) workloads() {
	wl := r.s.Workloads
	sep := r.sep()
	head := []span{txt(fmt.Sprintf("  %s healthy", count(wl.Healthy)))}
	if n := len(wl.Unhealthy); n > 0 {
		head = append(head, txt(sep), styled(bad, count(n)+" unhealthy"))
	}
	r.section("WORKLOADS", head...)
	shown := wl.Unhealthy[:min(len(wl.Unhealthy), MaxListed)]
	nameW := 0
	for _, w := range shown {
		nameW = max(nameW, len(w.Kind)+1+len(w.Namespace)+1+len(w.Name))
	}
	for _, w := range shown {
		progress := fmt.Sprintf("updated %d/%d  ready %d/%d  available %d/%d", w.Updated, w.Desired, w.Ready, w.Desired, w.Available, w.Desired)
		line := []span{txt("  "), r.mark(bad), txt(pad(w.Kind+" "+w.Namespace+"/"+w.Name, nameW+2)), txt(progress)}
		if w.Note != "" {
			line = append(line, styled(warn, "  "+w.Note))
		}
		r.add(line...)
	}
	r.more(5, len(wl.Unhealthy)-len(shown))
}

func (r *renderer) events() {
	ev := r.s.Events
	window := age(time.Duration(ev.WindowSeconds) * time.Second)
	if ev.Total == 0 {
		r.section("WARNINGS", styled(dim, "  none in the last "+window))
		return
	}
	r.section("WARNINGS", txt("  "+plural(ev.Total, "in the last "+window, "distinct in the last "+window)))
	for _, e := range ev.Items {
		obj := e.Kind + " " + e.Name
		if e.Namespace != "" {
			obj = e.Kind + " " + e.Namespace + "/" + e.Name
		}
		reason := e.Reason
		if e.Count > 1 {
			reason += fmt.Sprintf(" x%d", e.Count)
		}
		r.add(txt("  "), styled(dim, pad(age(r.s.Time.Sub(e.Last)), 4)+"  "), txt(obj+"  "), styled(warn, reason), txt("  "+e.Message))
	}
	r.more(2, ev.Total-len(ev.Items))
}

func (r *renderer) unreadable() {
	if len(r.s.Unreadable) == 0 {
		return
	}
	r.section("COULD NOT READ")
	for _, u := range r.s.Unreadable {
		r.add(txt("  "), r.mark(warn), txt(u))
	}
}

// verdict is the last line, the one answer; it wraps rather than being
// cut, since every problem it names matters.
func (r *renderer) verdict() {
	r.blank()
	if r.s.Verdict.OK {
		r.add(r.mark(good), styled(good, "OK"))
		return
	}
	words := append([]string{"NOT OK:"}, r.s.Verdict.Problems...)
	line := []span{r.mark(bad), styled(bad, words[0])}
	used := 3 + len(words[0])
	for i, p := range words[1:] {
		text := " " + p
		if i < len(words)-2 {
			text += ";"
		}
		if used+len(text) > r.opt.Width && used > 12 {
			r.add(line...)
			line = []span{txt("  ")}
			used = 2
		}
		line = append(line, txt(text))
		used += len(text)
	}
	r.add(line...)
}
