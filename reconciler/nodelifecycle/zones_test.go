package nodelifecycle

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// readies makes n Ready conditions, the first down of them not ready.
func readies(n, down int) []*corev1.NodeCondition {
	out := make([]*corev1.NodeCondition, n)
	for i := range out {
		s := corev1.ConditionTrue
		if i < down {
			s = corev1.ConditionUnknown
		}
		out[i] = &corev1.NodeCondition{Type: corev1.NodeReady, Status: s}
	}
	return out
}

func TestZoneKey(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{nil, ""},
		{map[string]string{corev1.LabelTopologyZone: "a"}, ":\x00:a"},
		{map[string]string{corev1.LabelTopologyZone: "a", corev1.LabelTopologyRegion: "r"}, "r:\x00:a"},
		{map[string]string{corev1.LabelFailureDomainBetaZone: "b", corev1.LabelFailureDomainBetaRegion: "q"}, "q:\x00:b"},
	} {
		n := &corev1.Node{}
		n.Labels = tc.labels
		if got := zoneKey(n); got != tc.want {
			t.Errorf("zoneKey(%v) = %q, want %q", tc.labels, got, tc.want)
		}
	}
}

func TestComputeZoneState(t *testing.T) {
	for _, tc := range []struct {
		name     string
		conds    []*corev1.NodeCondition
		want     ZoneState
		unhealth int
	}{
		{"all ready", readies(10, 0), StateNormal, 0},
		{"two down of three is not partial (needs more than two)", readies(3, 2), StateNormal, 2},
		{"three of ten is below the threshold", readies(10, 3), StateNormal, 3},
		{"six of ten is partial", readies(10, 6), StatePartialDisruption, 6},
		{"exactly at the threshold is partial", readies(20, 11), StatePartialDisruption, 11},
		{"all down is full", readies(4, 4), StateFullDisruption, 4},
		{"never posted counts as not ready", []*corev1.NodeCondition{nil, nil}, StateFullDisruption, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, s := computeZoneState(tc.conds, DefaultUnhealthyZoneThreshold)
			if s != tc.want || n != tc.unhealth {
				t.Errorf("got %s (%d), want %s (%d)", s, n, tc.want, tc.unhealth)
			}
		})
	}
}

func TestPlanDisruption(t *testing.T) {
	o := Options{}
	o.setDefaults()
	for _, tc := range []struct {
		name      string
		prev      map[string]ZoneState
		conds     map[string][]*corev1.NodeCondition
		rates     map[string]float32
		states    map[string]ZoneState
		enterFull bool
		exitFull  bool
	}{{
		name:   "new healthy zone gets the normal rate",
		conds:  map[string][]*corev1.NodeCondition{"a": readies(5, 0)},
		rates:  map[string]float32{"a": 0.1},
		states: map[string]ZoneState{"a": StateNormal},
	}, {
		name:  "unchanged state: nothing to do",
		prev:  map[string]ZoneState{"a": StateNormal},
		conds: map[string][]*corev1.NodeCondition{"a": readies(5, 1)},
	}, {
		name:   "partial disruption of a large zone: the secondary rate",
		prev:   map[string]ZoneState{"a": StateNormal, "b": StateNormal},
		conds:  map[string][]*corev1.NodeCondition{"a": readies(60, 36), "b": readies(10, 0)},
		rates:  map[string]float32{"a": 0.01},
		states: map[string]ZoneState{"a": StatePartialDisruption},
	}, {
		name:   "partial disruption of a small zone: no tainting",
		prev:   map[string]ZoneState{"a": StateNormal, "b": StateNormal},
		conds:  map[string][]*corev1.NodeCondition{"a": readies(20, 12), "b": readies(10, 0)},
		rates:  map[string]float32{"a": 0},
		states: map[string]ZoneState{"a": StatePartialDisruption},
	}, {
		name:   "one zone fully down while another is not: the normal rate",
		prev:   map[string]ZoneState{"a": StateNormal, "b": StateNormal},
		conds:  map[string][]*corev1.NodeCondition{"a": readies(5, 5), "b": readies(5, 0)},
		rates:  map[string]float32{"a": 0.1},
		states: map[string]ZoneState{"a": StateFullDisruption},
	}, {
		name:      "every zone fully down: stop tainting",
		prev:      map[string]ZoneState{"a": StateNormal, "b": StateFullDisruption},
		conds:     map[string][]*corev1.NodeCondition{"a": readies(5, 5), "b": readies(5, 5)},
		rates:     map[string]float32{"a": 0, "b": 0},
		states:    map[string]ZoneState{"a": StateFullDisruption, "b": StateFullDisruption},
		enterFull: true,
	}, {
		name:  "still fully down: nothing to do",
		prev:  map[string]ZoneState{"a": StateFullDisruption, "b": StateFullDisruption},
		conds: map[string][]*corev1.NodeCondition{"a": readies(5, 5), "b": readies(5, 5)},
	}, {
		name:     "a node back: every zone gets its rate again",
		prev:     map[string]ZoneState{"a": StateFullDisruption, "b": StateFullDisruption},
		conds:    map[string][]*corev1.NodeCondition{"a": readies(5, 1), "b": readies(5, 5)},
		rates:    map[string]float32{"a": 0.1, "b": 0.1},
		states:   map[string]ZoneState{"a": StateNormal, "b": StateFullDisruption},
		exitFull: true,
	}, {
		name:      "a cluster of one zone that goes down enters the mode too",
		conds:     map[string][]*corev1.NodeCondition{"a": readies(3, 3)},
		rates:     map[string]float32{"a": 0},
		states:    map[string]ZoneState{"a": StateFullDisruption},
		enterFull: true,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			p := planDisruption(tc.prev, tc.conds, o)
			if tc.rates == nil {
				tc.rates = map[string]float32{}
			}
			if tc.states == nil {
				tc.states = map[string]ZoneState{}
			}
			if !maps.Equal(p.rates, tc.rates) || !maps.Equal(p.states, tc.states) ||
				p.enterFull != tc.enterFull || p.exitFull != tc.exitFull {
				t.Errorf("plan = %+v, want rates %v states %v enter %v exit %v", p, tc.rates, tc.states, tc.enterFull, tc.exitFull)
			}
		})
	}
}
