package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// spreadSnapshot: zone a holds 2 web pods, zone b 1, zone c (a tainted
// node) none; x1 has no zone. A terminating web pod and a web pod in
// another namespace do not count.
func spreadSnapshot() *Snapshot {
	terminating := newPod("old").on("b2").label("app", "web")
	terminating.p.DeletionTimestamp = &metav1.Time{}
	return NewSnapshot(
		nodes(newNode("a1").zone("a"), newNode("a2").zone("a"), newNode("b1").zone("b"), newNode("b2").zone("b"),
			newNode("c1").zone("c").taint("dedicated", "db", corev1.TaintEffectNoSchedule), newNode("x1")),
		pods(
			newPod("w1").on("a1").label("app", "web").label("version", "v1"),
			newPod("w2").on("a1").label("app", "web").label("version", "v1"),
			newPod("w3").on("b1").label("app", "web").label("version", "v2"),
			terminating,
			newPod("w4").ns("other").on("c1").label("app", "web"),
		))
}

func spreadConstraint(key string, maxSkew int32, when corev1.UnsatisfiableConstraintAction, app string) corev1.TopologySpreadConstraint {
	return corev1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
	}
}

func TestPodTopologySpreadFilter(t *testing.T) {
	const (
		skew    = "Unschedulable: node(s) didn't match pod topology spread constraints"
		nolabel = "UnschedulableAndUnresolvable: node(s) didn't match pod topology spread constraints (missing required label)"
	)
	honor, ignore := corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore
	with := func(f func(*corev1.TopologySpreadConstraint)) corev1.TopologySpreadConstraint {
		c := spreadConstraint(zoneKey, 1, corev1.DoNotSchedule, "web")
		f(&c)
		return c
	}
	three := int32(3)
	web := newPod("p").label("app", "web").spread(spreadConstraint(zoneKey, 1, corev1.DoNotSchedule, "web"))
	tests := []struct {
		name string
		pod  *corev1.Pod
		fail map[string]string // a1..c1 and x1 not listed pass
	}{
		// Counts a=2, b=1, c=0: minimum 0. a: 2+1-0 > 1; b: 1+1-0 > 1.
		{"maxSkew 1", web.obj(), nil},
		{"maxSkew 2", newPod("p").label("app", "web").spread(with(func(c *corev1.TopologySpreadConstraint) { c.MaxSkew = 2 })).obj(),
			map[string]string{"b1": "", "b2": ""}},
		// With the tainted node left out, domains are a=2, b=1: minimum 1.
		{"nodeTaintsPolicy Honor leaves out the tainted zone", newPod("p").label("app", "web").spread(with(func(c *corev1.TopologySpreadConstraint) {
			c.NodeTaintsPolicy = &honor
		})).obj(), map[string]string{"b1": "", "b2": ""}},
		// Two eligible domains, fewer than minDomains 3: minimum taken as 0.
		{"minDomains above the eligible domains", newPod("p").label("app", "web").spread(with(func(c *corev1.TopologySpreadConstraint) {
			c.NodeTaintsPolicy = &honor
			c.MinDomains = &three
		})).obj(), nil},
		// Required node affinity to zones a and b leaves zone c out (Honor
		// is the default): minimum 1.
		{"nodeAffinityPolicy Honor by default", newPod("p").label("app", "web").
			requiredNodeTerms(nodeReq(zoneKey, corev1.NodeSelectorOpIn, "a", "b")).
			spread(spreadConstraint(zoneKey, 1, corev1.DoNotSchedule, "web")).obj(), map[string]string{"b1": "", "b2": ""}},
		{"nodeAffinityPolicy Ignore counts zone c", newPod("p").label("app", "web").
			requiredNodeTerms(nodeReq(zoneKey, corev1.NodeSelectorOpIn, "a", "b")).
			spread(with(func(c *corev1.TopologySpreadConstraint) { c.NodeAffinityPolicy = &ignore })).obj(), nil},
		// Only version v2 counts: a=0, b=1, c=0.
		{"matchLabelKeys", newPod("p").label("app", "web").label("version", "v2").spread(with(func(c *corev1.TopologySpreadConstraint) {
			c.MatchLabelKeys = []string{"version"}
		})).obj(), map[string]string{"a1": "", "a2": "", "b1": skew, "b2": skew}},
		// Nothing matches and the pod does not match itself: skew 0.
		{"selector not matching the pod", newPod("p").label("app", "web").spread(spreadConstraint(zoneKey, 1, corev1.DoNotSchedule, "db")).obj(),
			map[string]string{"a1": "", "a2": "", "b1": "", "b2": ""}},
	}
	snap := spreadSnapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pre, got := filterNodes(t, &PodTopologySpread{}, tc.pod, snap)
			if pre != "" {
				t.Fatalf("PreFilter: %s", pre)
			}
			want := map[string]string{"a1": skew, "a2": skew, "b1": skew, "b2": skew, "c1": "", "x1": nolabel}
			for k, v := range tc.fail {
				want[k] = v
			}
			if !equalMaps(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
	if pre, _ := filterNodes(t, &PodTopologySpread{}, newPod("p").obj(), snap); pre != "skip" {
		t.Errorf("no constraints: PreFilter %q, want skip", pre)
	}
	soft := newPod("p").spread(spreadConstraint(zoneKey, 1, corev1.ScheduleAnyway, "web")).obj()
	if pre, _ := filterNodes(t, &PodTopologySpread{}, soft, snap); pre != "skip" {
		t.Errorf("only ScheduleAnyway: PreFilter %q, want skip", pre)
	}
}

func TestPodTopologySpreadScore(t *testing.T) {
	snap := spreadSnapshot()
	// Zones a, b, c hold 2, 1, 0 web pods; x1 has no zone and is ignored.
	// Weight ln(3 zones + 2) = 1.609: raw a 3, b 2, c 0. Reversed over
	// [0, 3]: a 0, b 100*(3-2)/3 = 33, c 100.
	p := newPod("p").label("app", "web").spread(spreadConstraint(zoneKey, 1, corev1.ScheduleAnyway, "web")).obj()
	got := scoreNodes(t, &PodTopologySpread{}, p, snap)
	if want := map[string]int64{"a1": 0, "a2": 0, "b1": 33, "b2": 33, "c1": 100, "x1": 0}; !equalMaps(got, want) {
		t.Errorf("zone: got %v, want %v", got, want)
	}
	// By hostname, weight ln(6+2) = 2.079: a1 has 2 (raw 4), b1 1 (raw 2),
	// the others none (terminating and other-namespace pods do not
	// count). Over [0, 4]: a1 0, b1 50, the rest 100.
	p = newPod("p").label("app", "web").spread(spreadConstraint(corev1.LabelHostname, 1, corev1.ScheduleAnyway, "web")).obj()
	got = scoreNodes(t, &PodTopologySpread{}, p, snap)
	if want := map[string]int64{"a1": 0, "a2": 100, "b1": 50, "b2": 100, "c1": 100, "x1": 100}; !equalMaps(got, want) {
		t.Errorf("hostname: got %v, want %v", got, want)
	}
	hard := newPod("p").spread(spreadConstraint(zoneKey, 1, corev1.DoNotSchedule, "web")).obj()
	if got := scoreNodes(t, &PodTopologySpread{}, hard, snap); got != nil {
		t.Errorf("only DoNotSchedule constraints are scored: %v", got)
	}
}
