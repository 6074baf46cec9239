package nodelifecycle

import (
	corev1 "k8s.io/api/core/v1"
)

// ZoneState is the health of a zone, as Kubernetes' node lifecycle
// controller sees it.
type ZoneState string

// Zone states.
const (
	StateNormal            ZoneState = "Normal"
	StateFullDisruption    ZoneState = "FullDisruption"
	StatePartialDisruption ZoneState = "PartialDisruption"
)

// LabelExcludeDisruption keeps a node out of its zone's health, as
// Kubernetes' node.kubernetes.io/exclude-disruption.
const LabelExcludeDisruption = "node.kubernetes.io/exclude-disruption"

// zoneKey is Kubernetes' GetZoneKey: region and zone joined by a NUL,
// which neither holds, so that "a:b"+"c" and "a"+"b:c" stay apart; "" for
// a node without either label.
func zoneKey(n *corev1.Node) string {
	l := n.Labels
	if l == nil {
		return ""
	}
	zone, ok := l[corev1.LabelTopologyZone]
	if !ok {
		zone = l[corev1.LabelFailureDomainBetaZone]
	}
	region, ok := l[corev1.LabelTopologyRegion]
	if !ok {
		region = l[corev1.LabelFailureDomainBetaRegion]
	}
	if region == "" && zone == "" {
		return ""
	}
	return region + ":\x00:" + zone
}

func excludedFromDisruption(n *corev1.Node) bool {
	_, ok := n.Labels[LabelExcludeDisruption]
	return ok
}

// computeZoneState is Kubernetes' ComputeZoneState over the Ready
// conditions of a zone's nodes (nil: never reported): FullDisruption when
// none is ready, PartialDisruption when more than two and at least
// threshold of them are not, Normal otherwise. It also returns how many
// are not ready.
func computeZoneState(ready []*corev1.NodeCondition, threshold float32) (int, ZoneState) {
	readyNodes, notReady := 0, 0
	for _, c := range ready {
		if c != nil && c.Status == corev1.ConditionTrue {
			readyNodes++
		} else {
			notReady++
		}
	}
	switch {
	case readyNodes == 0 && notReady > 0:
		return notReady, StateFullDisruption
	case notReady > 2 && float32(notReady)/float32(notReady+readyNodes) >= threshold:
		return notReady, StatePartialDisruption
	default:
		return notReady, StateNormal
	}
}

// zoneRate is the tainting rate of a zone of size nodes in state s:
// the normal rate when it is healthy or fully down (a zone that lost
// everything is probably really gone), the secondary rate when it is
// partly down and large, none when it is partly down and small (a few
// nodes lost in a small zone more likely share a network problem than
// all fail).
func zoneRate(s ZoneState, size int, o Options) float32 {
	switch s {
	case StatePartialDisruption:
		if size > o.LargeClusterSizeThreshold {
			return o.SecondaryNodeEvictionRate
		}
		return 0
	default:
		return o.NodeEvictionRate
	}
}

// disruptionPlan is what handleDisruption decides from the zones' states.
type disruptionPlan struct {
	// enterFull: every zone is fully down; stop tainting, lift the
	// NoExecute taints, the control plane is probably the one cut off.
	enterFull bool
	// exitFull: some node is ready again after a full disruption; every
	// node gets a fresh probe time and every zone its rate again.
	exitFull bool
	// rates to set, by zone, and the zones' new states.
	rates  map[string]float32
	states map[string]ZoneState
}

// planDisruption is the pure part of Kubernetes' handleDisruption: prev
// are the zones' states after the last pass (the zones no longer seen are
// dropped by the caller), conds the Ready conditions by zone seen now.
func planDisruption(prev map[string]ZoneState, conds map[string][]*corev1.NodeCondition, o Options) disruptionPlan {
	p := disruptionPlan{rates: map[string]float32{}, states: map[string]ZoneState{}}
	next := map[string]ZoneState{}
	allFull := true
	for zone, c := range conds {
		_, s := computeZoneState(c, o.UnhealthyZoneThreshold)
		if s != StateFullDisruption {
			allFull = false
		}
		next[zone] = s
	}
	wasFull := true
	for zone, s := range prev {
		if _, seen := conds[zone]; !seen {
			continue
		}
		if s != StateFullDisruption {
			wasFull = false
			break
		}
	}
	for zone := range conds {
		if _, ok := prev[zone]; !ok {
			// A zone not seen before starts Initial, so that it gets its
			// rate below.
			wasFull = false
		}
	}
	if allFull && wasFull {
		return p
	}
	switch {
	case allFull:
		p.enterFull = true
		for zone := range conds {
			p.rates[zone] = 0
			p.states[zone] = StateFullDisruption
		}
	case wasFull:
		p.exitFull = true
		for zone, s := range next {
			p.rates[zone] = zoneRate(s, len(conds[zone]), o)
			p.states[zone] = s
		}
	default:
		for zone, s := range next {
			if prev[zone] == s {
				continue
			}
			p.rates[zone] = zoneRate(s, len(conds[zone]), o)
			p.states[zone] = s
		}
	}
	return p
}
