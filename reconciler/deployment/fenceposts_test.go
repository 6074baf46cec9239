package deployment

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestResolveFenceposts(t *testing.T) {
	i, s := intstr.FromInt32, intstr.FromString
	for _, tc := range []struct {
		name                   string
		surge, unavailable     intstr.IntOrString
		desired                int32
		wantSurge, wantUnavail int32
	}{
		{"ints", i(2), i(1), 10, 2, 1},
		{"25% of 10: surge up, unavailable down", s("25%"), s("25%"), 10, 3, 2},
		{"25% of 4", s("25%"), s("25%"), 4, 1, 1},
		{"1% of 10", s("1%"), s("1%"), 10, 1, 0},
		{"0% surge, 1% unavailable rounds to 0: unavailable 1", s("0%"), s("1%"), 10, 0, 1},
		{"both zero ints: unavailable 1", i(0), i(0), 10, 0, 1},
		{"100% of 10", s("100%"), s("100%"), 10, 10, 10},
		{"0% surge, 100% unavailable", s("0%"), s("100%"), 3, 0, 3},
		{"zero replicas", s("25%"), s("25%"), 0, 0, 1},
		{"ints beyond desired", i(5), i(5), 3, 5, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			surge, unavail, err := ResolveFenceposts(&tc.surge, &tc.unavailable, tc.desired)
			if err != nil {
				t.Fatal(err)
			}
			if surge != tc.wantSurge || unavail != tc.wantUnavail {
				t.Errorf("got surge %d unavailable %d, want %d %d", surge, unavail, tc.wantSurge, tc.wantUnavail)
			}
		})
	}
}

func TestMaxSurgeMaxUnavailable(t *testing.T) {
	d := newDeployment(3, intstr.FromInt32(5), intstr.FromInt32(5), "img")
	if got := MaxUnavailable(d); got != 3 {
		t.Errorf("MaxUnavailable capped at replicas: got %d, want 3", got)
	}
	if got := MaxSurge(d); got != 5 {
		t.Errorf("MaxSurge: got %d, want 5", got)
	}
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if MaxSurge(d) != 0 || MaxUnavailable(d) != 0 {
		t.Errorf("Recreate: surge %d unavailable %d, want 0 0", MaxSurge(d), MaxUnavailable(d))
	}
	d = newDeployment(10, intstr.FromInt32(1), intstr.FromInt32(1), "img")
	d.Spec.Strategy.RollingUpdate = nil
	if MaxSurge(d) != 3 || MaxUnavailable(d) != 2 {
		t.Errorf("unset fields take 25%%: surge %d unavailable %d, want 3 2", MaxSurge(d), MaxUnavailable(d))
	}
}
