package deployment

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestProportionalScaling changes replicas mid-rollout and checks that
// every active ReplicaSet takes its share, rounded, the leftover going to
// the largest.
func TestProportionalScaling(t *testing.T) {
	type rsState struct {
		img      string
		replicas int32
	}
	for _, tc := range []struct {
		name         string
		from, to     int32
		surge, unav  intstr.IntOrString
		rss          []rsState // oldest first, the last one is the new one
		want         []int32
		wantScaledUp bool
	}{
		{"5 -> 10", 5, 10, intstr.FromInt32(0), intstr.FromInt32(1),
			[]rsState{{"v1", 3}, {"v2", 2}}, []int32{6, 4}, true},
		{"10 -> 5", 10, 5, intstr.FromInt32(0), intstr.FromInt32(1),
			[]rsState{{"v1", 6}, {"v2", 4}}, []int32{3, 2}, false},
		{"10 -> 11: the leftover goes to the largest", 10, 11, intstr.FromInt32(0), intstr.FromInt32(1),
			[]rsState{{"v1", 4}, {"v2", 3}, {"v3", 3}}, []int32{5, 3, 3}, true},
		{"with surge 20%: 10 -> 20", 10, 20, intstr.FromString("20%"), intstr.FromInt32(0),
			[]rsState{{"v1", 8}, {"v2", 4}}, []int32{16, 8}, true},
		{"to zero", 10, 0, intstr.FromInt32(0), intstr.FromInt32(1),
			[]rsState{{"v1", 6}, {"v2", 4}}, []int32{0, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			last := tc.rss[len(tc.rss)-1]
			before := newDeployment(tc.from, tc.surge, tc.unav, last.img)
			d := newDeployment(tc.to, tc.surge, tc.unav, last.img)
			f.add(d)
			var want []string
			for i, s := range tc.rss {
				// Annotated for the size before the change.
				rs := rsOf(before, s.img, s.replicas, s.replicas, i+1, 100-i)
				f.add(rs)
				want = append(want, sizeOf(rs, tc.want[i]))
			}
			f.sync(d)
			if got := f.sizes(); !slices.Equal(got, sorted(want...)) {
				t.Errorf("sizes %v, want %v", got, sorted(want...))
			}
			for _, rs := range tc.rss {
				got := f.rs(rsOf(d, rs.img, 0, 0, 0, 0).Name)
				if got.Annotations[DesiredReplicasAnnotation] != itoa(tc.to) {
					t.Errorf("%s desired-replicas %q, want %d", got.Name, got.Annotations[DesiredReplicasAnnotation], tc.to)
				}
			}
			op := "Scaled down"
			if tc.wantScaledUp {
				op = "Scaled up"
			}
			for _, e := range f.events() {
				if !strings.HasPrefix(e, "Normal ScalingReplicaSet "+op+" replica set ") {
					t.Errorf("event %q", e)
				}
			}
		})
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func TestPaused(t *testing.T) {
	f := newFixture(t)
	d := newDeployment(10, intstr.FromInt32(0), intstr.FromInt32(1), "v3")
	d.Spec.Paused = true
	before := newDeployment(5, intstr.FromInt32(0), intstr.FromInt32(1), "v2")
	old := rsOf(before, "v1", 3, 3, 1, 20)
	cur := rsOf(before, "v2", 2, 2, 2, 10)
	f.add(d, old, cur)
	f.sync(d)

	if n := len(f.actions("create", "replicasets")); n != 0 {
		t.Errorf("a paused deployment created %d replica sets", n)
	}
	if got, want := f.sizes(), sorted(sizeOf(old, 6), sizeOf(cur, 4)); !slices.Equal(got, want) {
		t.Errorf("sizes %v, want %v (scaling stays proportional)", got, want)
	}
	c := getCondition(f.deployment().Status, appsv1.DeploymentProgressing)
	if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != PausedDeployReason || c.Message != "Deployment is paused" {
		t.Errorf("Progressing %+v", c)
	}

	t.Run("resumed", func(t *testing.T) {
		d := f.deployment()
		d.Spec.Paused = false
		if err := f.factory.Apps().V1().Deployments().Informer().GetIndexer().Update(d); err != nil {
			t.Fatal(err)
		}
		if err := f.c.checkPausedConditions(t.Context(), d); err != nil {
			t.Fatal(err)
		}
		c := getCondition(f.deployment().Status, appsv1.DeploymentProgressing)
		if c == nil || c.Status != corev1.ConditionUnknown || c.Reason != ResumedDeployReason || c.Message != "Deployment is resumed" {
			t.Errorf("Progressing %+v", c)
		}
	})
}
