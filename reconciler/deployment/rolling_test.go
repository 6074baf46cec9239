package deployment

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"
)

func TestNewReplicaSetCreated(t *testing.T) {
	f := newFixture(t)
	d := newDeployment(10, intstr.FromString("25%"), intstr.FromString("25%"), "img:1")
	f.add(d)
	f.sync(d)

	hash := ComputeHash(&d.Spec.Template, nil)
	creates := f.actions("create", "replicasets")
	if len(creates) != 1 {
		t.Fatalf("%d creates, want 1", len(creates))
	}
	rs := creates[0].(k8stesting.CreateAction).GetObject().(*appsv1.ReplicaSet)
	if rs.Name != "web-"+hash {
		t.Errorf("name %q, want web-%s", rs.Name, hash)
	}
	if rs.Spec.Selector.MatchLabels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash ||
		rs.Spec.Selector.MatchLabels["app"] != "web" {
		t.Errorf("hash label missing: selector %v template %v labels %v", rs.Spec.Selector.MatchLabels, rs.Spec.Template.Labels, rs.Labels)
	}
	if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Error("the Deployment's own template was modified")
	}
	ref := rs.OwnerReferences
	if len(ref) != 1 || ref[0].UID != d.UID || ref[0].Kind != "Deployment" || !*ref[0].Controller || !*ref[0].BlockOwnerDeletion {
		t.Errorf("ownerReferences %+v", ref)
	}
	if *rs.Spec.Replicas != 10 {
		t.Errorf("replicas %d, want all 10 (no old replica sets)", *rs.Spec.Replicas)
	}
	for k, v := range map[string]string{RevisionAnnotation: "1", DesiredReplicasAnnotation: "10", MaxReplicasAnnotation: "13"} {
		if rs.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, rs.Annotations[k], v)
		}
	}
	got := f.deployment()
	if got.Annotations[RevisionAnnotation] != "1" {
		t.Errorf("deployment revision %q, want 1", got.Annotations[RevisionAnnotation])
	}
	c := getCondition(got.Status, appsv1.DeploymentProgressing)
	if c == nil || c.Status != corev1.ConditionTrue || c.Reason != NewReplicaSetReason || c.Message != fmt.Sprintf("Created new replica set %q", rs.Name) {
		t.Errorf("Progressing %+v", c)
	}
	if ev := f.events(); !slices.Contains(ev, "Normal ScalingReplicaSet Scaled up replica set "+rs.Name+" from 0 to 10") {
		t.Errorf("events %q", ev)
	}

	t.Run("collision count changes the name", func(t *testing.T) {
		if h := ComputeHash(&d.Spec.Template, ptrInt32(1)); h == hash {
			t.Errorf("hash with collisionCount 1 equals the plain one")
		}
		if h := ComputeHash(d.Spec.Template.DeepCopy(), nil); h != hash {
			t.Errorf("hash not stable: %s vs %s", h, hash)
		}
	})
}

func ptrInt32(v int32) *int32 { return &v }

// TestRollingStep runs one sync of a rolling update and checks the
// ReplicaSets' sizes it leaves.
func TestRollingStep(t *testing.T) {
	type rsState struct {
		img                 string
		replicas, available int32
	}
	for _, tc := range []struct {
		name               string
		replicas           int32
		surge, unavailable intstr.IntOrString
		old                []rsState // oldest first
		newRS              *rsState
		want               []int32 // old sizes then the new one's
	}{
		{"new template: create 2, take 1 old away", 10, intstr.FromInt32(2), intstr.FromInt32(1),
			[]rsState{{"v1", 10, 10}}, nil, []int32{9, 2}},
		{"new pods not available yet: wait", 10, intstr.FromInt32(2), intstr.FromInt32(1),
			[]rsState{{"v1", 9, 9}}, &rsState{"v2", 3, 0}, []int32{9, 3}},
		{"one new pod available: one old goes", 10, intstr.FromInt32(2), intstr.FromInt32(1),
			[]rsState{{"v1", 9, 9}}, &rsState{"v2", 3, 1}, []int32{8, 3}},
		{"room under the surge: scale up first", 10, intstr.FromInt32(2), intstr.FromInt32(1),
			[]rsState{{"v1", 8, 8}}, &rsState{"v2", 3, 1}, []int32{8, 4}},
		{"unhealthy old replicas go first", 10, intstr.FromInt32(2), intstr.FromInt32(1),
			[]rsState{{"v1", 10, 7}}, &rsState{"v2", 2, 0}, []int32{9, 2}},
		{"percentages 25% of 4", 4, intstr.FromString("25%"), intstr.FromString("25%"),
			[]rsState{{"v1", 4, 4}}, nil, []int32{3, 1}},
		{"surge 0: scale down first", 4, intstr.FromInt32(0), intstr.FromInt32(1),
			[]rsState{{"v1", 4, 4}}, nil, []int32{3, 0}},
		{"two old: the oldest goes first", 6, intstr.FromInt32(0), intstr.FromInt32(2),
			[]rsState{{"v1", 2, 2}, {"v2", 4, 4}}, &rsState{"v3", 0, 0}, []int32{0, 4, 0}},
		{"new above desired: scale it down", 3, intstr.FromInt32(1), intstr.FromInt32(1),
			nil, &rsState{"v2", 5, 5}, []int32{3}},
		{"complete: nothing to do", 5, intstr.FromInt32(1), intstr.FromInt32(1),
			[]rsState{{"v1", 0, 0}}, &rsState{"v2", 5, 5}, []int32{0, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			img := "v-new"
			if tc.newRS != nil {
				img = tc.newRS.img
			}
			d := newDeployment(tc.replicas, tc.surge, tc.unavailable, img)
			f.add(d)
			var all []*appsv1.ReplicaSet
			for i, s := range tc.old {
				rs := rsOf(d, s.img, s.replicas, s.available, i+1, 100-i)
				f.add(rs)
				all = append(all, rs)
			}
			newName := newReplicaSetTemplate(d).Name
			if tc.newRS != nil {
				rs := rsOf(d, tc.newRS.img, tc.newRS.replicas, tc.newRS.available, len(tc.old)+1, 1)
				f.add(rs)
			}
			f.sync(d)
			var want []string
			for i, rs := range all {
				want = append(want, sizeOf(rs, tc.want[i]))
			}
			want = append(want, fmt.Sprintf("%s=%d", newName, tc.want[len(tc.want)-1]))
			if got := f.sizes(); !slices.Equal(got, sorted(want...)) {
				t.Errorf("sizes %v, want %v", got, sorted(want...))
			}
			for _, e := range f.events() {
				if !strings.HasPrefix(e, "Normal ScalingReplicaSet Scaled ") {
					t.Errorf("unexpected event %q", e)
				}
			}
		})
	}
}
