package gitsync

import (
	"encoding/json"
)

// Nodes are the kubelet's: a Node in git that already exists contributes
// only what an administrator sets — labels, annotations, taints and
// unschedulable (kubectl cordon) — and never its status or the rest of
// its spec. A Node that does not exist yet (a machine registered with
// --register-node=false) is created whole from git.
func isNode(it *item) bool { return it.gk.Group == "" && it.gk.Kind == "Node" }

// adminNode narrows a desired Node to the administrator's fields.
func adminNode(desired map[string]any) map[string]any {
	out := map[string]any{"apiVersion": desired["apiVersion"], "kind": desired["kind"]}
	md, _ := desired["metadata"].(map[string]any)
	omd := map[string]any{}
	for _, k := range []string{"name", "labels", "annotations"} {
		if v, ok := md[k]; ok {
			omd[k] = v
		}
	}
	out["metadata"] = omd
	spec, _ := desired["spec"].(map[string]any)
	ospec := map[string]any{}
	for _, k := range []string{"taints", "unschedulable"} {
		if v, ok := spec[k]; ok {
			ospec[k] = v
		}
	}
	if len(ospec) > 0 {
		out["spec"] = ospec
	}
	return out
}

// mergeTaints is the taint list a Node should hold: the live taints that
// git never set (the node lifecycle controller's not-ready, unreachable,
// pressure taints) kept as they are, the ones git set before and no longer
// does removed, and git's own taints, by key and effect.
func mergeTaints(live, lastApplied, desired []any) []any {
	type id struct{ key, effect string }
	idOf := func(t any) id {
		m, _ := t.(map[string]any)
		k, _ := m["key"].(string)
		e, _ := m["effect"].(string)
		return id{k, e}
	}
	want := map[id]any{}
	for _, t := range desired {
		want[idOf(t)] = t
	}
	ours := map[id]bool{}
	for _, t := range lastApplied {
		ours[idOf(t)] = true
	}
	var out []any
	placed := map[id]bool{}
	for _, t := range live {
		i := idOf(t)
		if d, ok := want[i]; ok {
			if contains(t, d) {
				out = append(out, t) // keeps timeAdded
			} else {
				out = append(out, d)
			}
			placed[i] = true
			continue
		}
		if ours[i] {
			continue // git set it, git dropped it
		}
		out = append(out, t)
	}
	for _, t := range desired {
		if !placed[idOf(t)] {
			out = append(out, t)
		}
	}
	return out
}

// nodeModified is what a live Node should hold after git's change: the
// administrator's fields, taints merged.
func nodeModified(it *item, last string) ([]byte, error) {
	mod := decodeNumbers(it.body).(map[string]any)
	spec, _ := mod["spec"].(map[string]any)
	var desired []any
	if spec != nil {
		desired, _ = spec["taints"].([]any)
	}
	var lastTaints []any
	if last != "" {
		if l, ok := decodeNumbers([]byte(last)).(map[string]any); ok {
			if ls, ok := l["spec"].(map[string]any); ok {
				lastTaints, _ = ls["taints"].([]any)
			}
		}
	}
	liveSpec, _ := it.live.Object["spec"].(map[string]any)
	liveTaints, _ := liveSpec["taints"].([]any)
	merged := mergeTaints(liveTaints, lastTaints, desired)
	if len(merged) > 0 || len(liveTaints) > 0 {
		if spec == nil {
			spec = map[string]any{}
			mod["spec"] = spec
		}
		spec["taints"] = merged
	}
	return json.Marshal(mod)
}
