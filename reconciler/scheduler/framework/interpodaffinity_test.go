package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const zoneKey = corev1.LabelTopologyZone

func TestInterPodAffinityFilter(t *testing.T) {
	const (
		aff      = "UnschedulableAndUnresolvable: node(s) didn't match pod affinity rules"
		anti     = "Unschedulable: node(s) didn't match pod anti-affinity rules"
		existing = "Unschedulable: node(s) didn't satisfy existing pods anti-affinity rules"
	)
	webAntiFromProd := term("web", corev1.LabelHostname)
	webAntiFromProd.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	snap := NewSnapshot(
		nodes(newNode("n1").zone("a"), newNode("n2").zone("a"), newNode("n3").zone("b"), newNode("n4").zone("c"), newNode("n5")),
		pods(
			newPod("db-1").on("n1").label("app", "db"),
			newPod("cache-1").on("n3").label("app", "cache").podAntiAffinity(term("web", zoneKey)),
			newPod("db-x").ns("other").on("n4").label("app", "db").podAntiAffinity(webAntiFromProd),
		),
		WithNamespaces([]*corev1.Namespace{
			{ObjectMeta: metav1.ObjectMeta{Name: "default", Labels: map[string]string{"env": "prod"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "other", Labels: map[string]string{"team": "x"}}},
		}),
	)
	inNamespaces := term("db", zoneKey)
	inNamespaces.Namespaces = []string{"other"}
	bySelector := term("db", zoneKey)
	bySelector.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"team": "x"}}
	allNamespaces := term("db", zoneKey)
	allNamespaces.NamespaceSelector = &metav1.LabelSelector{}

	tests := []struct {
		name string
		pod  podB
		want map[string]string // nodes not listed pass
	}{
		{"affinity to db by zone", newPod("p").podAffinity(term("db", zoneKey)),
			map[string]string{"n3": aff, "n4": aff, "n5": aff}},
		{"affinity to db by hostname", newPod("p").podAffinity(term("db", corev1.LabelHostname)),
			map[string]string{"n2": aff, "n3": aff, "n4": aff, "n5": aff}},
		{"anti-affinity to db by zone; a node without the key passes", newPod("p").podAntiAffinity(term("db", zoneKey)),
			map[string]string{"n1": anti, "n2": anti}},
		{"existing pod's anti-affinity keeps web out of its zone", newPod("p").label("app", "web"),
			map[string]string{"n3": existing, "n4": existing}},
		{"first pod of a self-affine group may go anywhere with the key", newPod("p").label("app", "new").podAffinity(term("new", zoneKey)),
			map[string]string{"n5": aff}},
		{"but not if it does not match its own term", newPod("p").label("app", "x").podAffinity(term("new", zoneKey)),
			map[string]string{"n1": aff, "n2": aff, "n3": aff, "n4": aff, "n5": aff}},
		{"namespaces: only db in namespace other counts", newPod("p").podAffinity(inNamespaces),
			map[string]string{"n1": aff, "n2": aff, "n3": aff, "n5": aff}},
		{"namespaceSelector team=x selects namespace other", newPod("p").podAffinity(bySelector),
			map[string]string{"n1": aff, "n2": aff, "n3": aff, "n5": aff}},
		{"empty namespaceSelector selects every namespace", newPod("p").podAffinity(allNamespaces),
			map[string]string{"n3": aff, "n5": aff}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pre, got := filterNodes(t, &InterPodAffinity{}, tc.pod.obj(), snap)
			if pre != "" {
				t.Fatalf("PreFilter: %s", pre)
			}
			want := map[string]string{"n1": "", "n2": "", "n3": "", "n4": "", "n5": ""}
			for k, v := range tc.want {
				want[k] = v
			}
			if !equalMaps(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}

	plain := NewSnapshot(nodes(newNode("n1")), pods(newPod("a").on("n1").label("app", "db")))
	if pre, _ := filterNodes(t, &InterPodAffinity{}, newPod("p").label("app", "web").obj(), plain); pre != "skip" {
		t.Errorf("nothing to check: PreFilter %q, want skip", pre)
	}
	bad := newPod("p").podAffinity(corev1.PodAffinityTerm{TopologyKey: zoneKey, LabelSelector: &metav1.LabelSelector{
		MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Bogus"}}}}).obj()
	if pre, _ := filterNodes(t, &InterPodAffinity{}, bad, plain); pre == "" || pre == "skip" {
		t.Errorf("invalid selector: PreFilter %q, want a rejection", pre)
	}
}

func TestInterPodAffinityScore(t *testing.T) {
	snap := NewSnapshot(
		nodes(newNode("n1").zone("a"), newNode("n2").zone("a"), newNode("n3").zone("b"), newNode("n4").zone("c")),
		pods(
			newPod("db-1").on("n1").label("app", "db"),
			newPod("cache-1").on("n3").label("app", "cache"),
			newPod("lb-1").on("n4").label("app", "lb").preferredAffinity(5, term("web", corev1.LabelHostname)),
			newPod("be-1").on("n4").label("app", "be").podAffinity(term("web", zoneKey)),
		))
	p := newPod("web").label("app", "web").
		preferredAffinity(8, term("db", zoneKey)).
		preferredAntiAffinity(4, term("cache", zoneKey)).obj()
	// Per domain: zone a +8 (db-1 matches the pod's preferred affinity),
	// zone b -4 (cache-1 matches its preferred anti-affinity), n4's host
	// +5 (lb-1's preferred term matches web), zone c +1 (be-1's required
	// term matches web). Raw: n1 8, n2 8, n3 -4, n4 6; over [-4, 8]:
	// 100, 100, 0, 100*10/12 = 83.
	got := scoreNodes(t, &InterPodAffinity{}, p, snap)
	if want := map[string]int64{"n1": 100, "n2": 100, "n3": 0, "n4": 83}; !equalMaps(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// Without preferences of its own, only the existing pods' terms
	// count: n4 gets 6, the rest 0.
	got = scoreNodes(t, &InterPodAffinity{}, newPod("web").label("app", "web").obj(), snap)
	if want := map[string]int64{"n1": 0, "n2": 0, "n3": 0, "n4": 100}; !equalMaps(got, want) {
		t.Errorf("existing pods' terms: got %v, want %v", got, want)
	}
	if got := scoreNodes(t, &InterPodAffinity{}, newPod("x").obj(), snap); got != nil {
		t.Errorf("nothing matches: %v, want skipped", got)
	}
}
