package proxy

import (
	"bytes"
	"crypto/sha256"
	"slices"
	"strings"
)

// Applied is what a successful sync left in the tables, as far as the
// planner needs to know: a digest of every KUBE-SVC-* and KUBE-SEP-* chain's
// rules, of each top-level nat chain's and of the filter chains'. A nil
// *Applied means the tables are unknown and the next sync must be a full
// one.
type Applied struct {
	chains map[string][sha256.Size]byte
	top    map[string][sha256.Size]byte // top-level nat chains and "*filter"
	// services are the rules of the nat KUBE-SERVICES chain, which a
	// partial plan may edit rule by rule instead of rewriting.
	services map[string]bool
}

// Chains returns the service and endpoint chains the tables hold, sorted.
func (a *Applied) Chains() []string {
	if a == nil {
		return nil
	}
	out := make([]string, 0, len(a.chains))
	for c := range a.chains {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Restore is one planned iptables-restore transaction.
type Restore struct {
	// Text is the input of `iptables-restore --noflush`.
	Text []byte
	// Full is set when Text rewrites every chain of the ruleset.
	Full bool
	// Noop is set when the tables already hold the ruleset: a partial
	// plan found nothing changed, and Text need not be applied.
	Noop bool
	// Written are the KUBE-SVC-* and KUBE-SEP-* chains Text declares and
	// fills, in ruleset order.
	Written []string
	// WrittenTop are the chains of Ruleset.Top Text rewrites (or, for
	// KUBE-SERVICES with Edited, edits), and "*filter" when it rewrites the
	// filter chains. A full plan writes
	// them all; a partial one those whose rules changed.
	WrittenTop []string
	// Deleted are the stale chains Text deletes, sorted.
	Deleted []string
	// Rules counts the rules Text adds (-A and -I lines).
	Rules int
	// Edited is set when Text edits the nat KUBE-SERVICES chain rule by
	// rule (-D and -I lines) instead of rewriting it.
	Edited bool
	// Next is what the tables hold once Text is applied: the prev argument
	// of the next partial plan.
	Next *Applied
}

// Plan picks what one sync writes to move the tables to rs. With prev nil
// it plans a full sync: every chain of rs is declared (which flushes it)
// and refilled, and the KUBE-SVC-* and KUBE-SEP-* chains among existing
// that rs does not have are deleted. With prev, the state the previous
// successful plan left, it plans a partial sync as kube-proxy does, and
// one step further: every chain, the top-level ones and the filter chains
// included, is written only if it is new or its rules changed; unchanged
// ones are left out of the input entirely (declaring them would flush
// them), and chains prev has but rs has not are deleted. kube-proxy
// rewrites KUBE-SERVICES on every sync; skipping it when unchanged (an
// endpoint change leaves it alone) is most of what a partial sync at
// 10,000 Services costs. Stale chains
// among existing are deleted in either case. Plan is
// pure: it only reads its arguments.
func Plan(rs *Ruleset, prev *Applied, existing []string) Restore {
	next := &Applied{
		chains: make(map[string][sha256.Size]byte, len(rs.Services)),
		top:    make(map[string][sha256.Size]byte, len(rs.Top)+1),
	}
	r := Restore{Full: prev == nil, Next: next}
	changed := func(m map[string][sha256.Size]byte, name string, d [sha256.Size]byte) bool {
		if r.Full {
			return true
		}
		old, ok := m[name]
		return !ok || old != d
	}

	const filterKey = "*filter"
	var top []*Chain
	for i := range rs.Top {
		c := &rs.Top[i]
		d := sha256.Sum256(c.Rules)
		next.top[c.Name] = d
		if r.Full || changed(prev.top, c.Name, d) {
			top = append(top, c)
			r.WrittenTop = append(r.WrittenTop, c.Name)
		}
	}
	// KUBE-SERVICES holds one rule per service port, whose order does not
	// matter, and the jump to KUBE-NODEPORTS, which must stay last. When a
	// few service ports come or go, deleting and inserting their rules
	// costs far less than rewriting ten thousand rules.
	svcLines := ruleLines(rs.Top[0].Rules)
	next.services = make(map[string]bool, len(svcLines))
	for _, l := range svcLines {
		next.services[l] = true
	}
	var removed, added []string
	if len(top) > 0 && top[0].Name == ChainServices && prev != nil && prev.services != nil && len(next.services) == len(svcLines) {
		for l := range prev.services {
			if !next.services[l] {
				removed = append(removed, l)
			}
		}
		for _, l := range svcLines {
			if !prev.services[l] {
				added = append(added, l)
			}
		}
		lastRule := func(l string) bool { return strings.HasSuffix(l, " -j "+ChainNodePorts) }
		if !slices.ContainsFunc(removed, lastRule) && !slices.ContainsFunc(added, lastRule) && 4*(len(removed)+len(added)) < len(svcLines) {
			r.Edited = true
			slices.Sort(removed)
			top = top[1:]
		}
	}

	fd := sha256.Sum256(rs.Filter.Rules)
	next.top[filterKey] = fd
	writeFilter := r.Full || changed(prev.top, filterKey, fd)
	if writeFilter {
		r.WrittenTop = append(r.WrittenTop, filterKey)
	}

	var write []*Chain
	if r.Full {
		write = make([]*Chain, 0, len(rs.Services))
	}
	for i := range rs.Services {
		c := &rs.Services[i]
		d := c.digest
		if !c.hasDigest {
			d = sha256.Sum256(c.Rules)
		}
		next.chains[c.Name] = d
		if r.Full || changed(prev.chains, c.Name, d) {
			write = append(write, c)
		}
	}

	var stale []string
	isStale := func(c string) bool {
		_, keep := next.chains[c]
		return !keep && (strings.HasPrefix(c, svcChainPrefix) || strings.HasPrefix(c, sepChainPrefix))
	}
	for _, c := range existing {
		if isStale(c) {
			stale = append(stale, c)
		}
	}
	if prev != nil {
		for c := range prev.chains {
			if isStale(c) {
				stale = append(stale, c)
			}
		}
	}
	slices.Sort(stale)
	stale = slices.Compact(stale)
	r.Deleted = stale

	if !r.Full && len(write) == 0 && len(stale) == 0 && len(top) == 0 && !writeFilter && !r.Edited {
		r.Noop = true
		return r
	}

	size := 256 + len(rs.Filter.Rules) + 64*len(stale)
	for _, c := range top {
		size += len(c.Rules) + 32
	}
	for _, c := range write {
		size += len(c.Rules) + 40
	}
	var out bytes.Buffer
	out.Grow(size)
	if writeFilter {
		out.WriteString("*filter\n")
		out.WriteString(":" + ChainServices + " - [0:0]\n")
		out.WriteString(":" + ChainExternalServices + " - [0:0]\n")
		out.Write(rs.Filter.Rules)
		r.Rules += rs.Filter.Count
		out.WriteString("COMMIT\n")
	}
	if len(top) == 0 && len(write) == 0 && len(stale) == 0 && !r.Edited {
		r.Text = out.Bytes()
		return r
	}
	out.WriteString("*nat\n")
	declare := func(name string) {
		out.WriteByte(':')
		out.WriteString(name)
		out.WriteString(" - [0:0]\n")
	}
	for _, c := range top {
		declare(c.Name)
	}
	r.Written = make([]string, len(write))
	for i, c := range write {
		declare(c.Name)
		r.Written[i] = c.Name
	}
	// A stale chain is declared (which flushes it, dropping its jumps to
	// other stale chains) before it is deleted.
	for _, c := range stale {
		declare(c)
	}
	for _, c := range top {
		out.Write(c.Rules)
		r.Rules += c.Count
	}
	for _, c := range write {
		out.Write(c.Rules)
		r.Rules += c.Count
	}
	if r.Edited {
		// Deleted first, so that no rule jumps to a stale chain by the
		// time it is deleted; inserted at the top in reverse, so that they
		// keep their order, ahead of the jump to KUBE-NODEPORTS.
		for _, l := range removed {
			out.WriteString("-D ")
			out.WriteString(l[len("-A "):])
			out.WriteByte('\n')
		}
		for i := len(added) - 1; i >= 0; i-- {
			out.WriteString("-I " + ChainServices + " 1 ")
			out.WriteString(added[i][len("-A "+ChainServices+" "):])
			out.WriteByte('\n')
			r.Rules++
		}
	}
	for _, c := range stale {
		out.WriteString("-X " + c + "\n")
	}
	out.WriteString("COMMIT\n")
	r.Text = out.Bytes()
	return r
}

// ruleLines splits a chain's rules into lines without their newlines.
func ruleLines(rules []byte) []string {
	text := strings.TrimSuffix(string(rules), "\n")
	if text == "" {
		return nil
	}
	return strings.Split(text, "\n")
}
