package deployment

import (
	"slices"
	"sort"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func TestCleanupHistory(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int32
		// old ReplicaSets by revision; busy ones are scaled to zero but
		// still report a pod.
		revs []int
		busy []int
		want []int // deleted revisions, in order
	}{
		{"under the limit", 10, []int{1, 2, 3}, nil, nil},
		{"oldest revisions first", 2, []int{3, 1, 4, 2}, nil, []int{1, 2}},
		{"limit 0 deletes every idle one", 0, []int{1, 2}, nil, []int{1, 2}},
		{"ones with replicas are kept", 1, []int{1, 2, 3}, []int{1}, []int{2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			d := newDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0), "current")
			d.Spec.RevisionHistoryLimit = ptr.To(tc.limit)
			cur := rsOf(d, "current", 2, 2, 100, 0)
			d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2}
			f.add(d, cur)
			byName := map[string]int{}
			for i, r := range tc.revs {
				// Creation order opposite to revisions where they differ:
				// revisions decide.
				rs := rsOf(d, "img-"+itoa(int32(r)), 0, 0, r, i+10)
				if slices.Contains(tc.busy, r) {
					rs.Status.Replicas = 1
				}
				f.add(rs)
				byName[rs.Name] = r
			}
			f.sync(d)
			var got []int
			for _, a := range f.actions("delete", "replicasets") {
				got = append(got, byName[a.(k8stesting.DeleteAction).GetName()])
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("deleted revisions %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHistoryToDeleteSkipsUnobserved(t *testing.T) {
	d := newDeployment(1, intstr.FromInt32(1), intstr.FromInt32(0), "x")
	d.Spec.RevisionHistoryLimit = ptr.To(int32(0))
	a := rsOf(d, "a", 0, 0, 1, 3)
	a.Generation = 2 // its status does not show the scale-down yet
	b := rsOf(d, "b", 0, 0, 2, 2)
	c := rsOf(d, "c", 0, 0, 3, 1)
	c.DeletionTimestamp = &metav1.Time{Time: t0}
	var names []string
	for _, rs := range historyToDelete(d, []*appsv1.ReplicaSet{c, b, a}) {
		names = append(names, rs.Name)
	}
	sort.Strings(names)
	if !slices.Equal(names, []string{b.Name}) {
		t.Errorf("deleted %v, want only %s", names, b.Name)
	}
}

// TestRollback applies the template of an older revision: its
// ReplicaSet becomes the new one again (no new ReplicaSet), with the
// next revision and the one it gave up in revision-history.
func TestRollback(t *testing.T) {
	f := newFixture(t)
	d := newDeployment(3, intstr.FromInt32(1), intstr.FromInt32(0), "v1")
	v1 := rsOf(d, "v1", 0, 0, 1, 30)
	v2 := rsOf(d, "v2", 3, 3, 2, 20)
	d.Annotations = map[string]string{RevisionAnnotation: "2"}
	f.add(d, v1, v2)
	f.sync(d)
	if n := len(f.actions("create", "replicasets")); n != 0 {
		t.Fatalf("%d replica sets created on rollback", n)
	}
	got := f.rs(v1.Name)
	if got.Annotations[RevisionAnnotation] != "3" || got.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Errorf("annotations %v, want revision 3, history 1", got.Annotations)
	}

	// The next sync sees the annotated ReplicaSet and moves on.
	if err := f.factory.Apps().V1().ReplicaSets().Informer().GetIndexer().Update(got); err != nil {
		t.Fatal(err)
	}
	f.sync(d)
	if rev := f.deployment().Annotations[RevisionAnnotation]; rev != "3" {
		t.Errorf("deployment revision %q, want 3", rev)
	}
	if got, want := f.sizes(), sorted(sizeOf(v1, 1), sizeOf(v2, 3)); !slices.Equal(got, want) {
		t.Errorf("sizes %v, want %v", got, want)
	}

	t.Run("history grows on a second rollback", func(t *testing.T) {
		rs := v1.DeepCopy()
		rs.Annotations[RevisionAnnotation] = "3"
		rs.Annotations[RevisionHistoryAnnotation] = "1"
		if !setNewReplicaSetAnnotations(d, rs, "5", true) {
			t.Fatal("no change reported")
		}
		if rs.Annotations[RevisionAnnotation] != "5" || rs.Annotations[RevisionHistoryAnnotation] != "1,3" {
			t.Errorf("annotations %v", rs.Annotations)
		}
		if setNewReplicaSetAnnotations(d, rs, "4", true) {
			t.Error("a lower revision changed the replica set")
		}
	})
}
