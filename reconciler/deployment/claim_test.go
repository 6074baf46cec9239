package deployment

import (
	"context"
	"encoding/json"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"
)

func TestClaimReplicaSets(t *testing.T) {
	f := newFixture(t)
	d := newDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0), "v2")
	orphan := rsOf(d, "v1", 0, 0, 1, 30)
	orphan.OwnerReferences = nil
	relabelled := rsOf(d, "v0", 0, 0, 1, 40)
	relabelled.Labels = map[string]string{"app": "other"}
	foreign := rsOf(d, "vx", 0, 0, 1, 50)
	foreign.OwnerReferences[0].UID = "someone-else"
	f.add(d, orphan, relabelled, foreign)

	got, err := f.c.claimReplicaSets(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != orphan.Name {
		t.Errorf("claimed %d replica sets, want only the orphan %s", len(got), orphan.Name)
	}
	patched := map[string][]metav1.OwnerReference{}
	for _, a := range f.actions("patch", "replicasets") {
		pa := a.(k8stesting.PatchAction)
		var body struct {
			Metadata struct {
				OwnerReferences []metav1.OwnerReference `json:"ownerReferences"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(pa.GetPatch(), &body); err != nil {
			t.Fatal(err)
		}
		patched[pa.GetName()] = body.Metadata.OwnerReferences
	}
	if refs := patched[orphan.Name]; len(refs) != 1 || refs[0].UID != d.UID || !*refs[0].Controller || !*refs[0].BlockOwnerDeletion {
		t.Errorf("orphan adopted with %+v", refs)
	}
	if refs, ok := patched[relabelled.Name]; !ok || len(refs) != 0 {
		t.Errorf("non-matching replica set released with %+v (patched %v)", refs, ok)
	}
	if _, ok := patched[foreign.Name]; ok {
		t.Error("a replica set controlled by another owner was touched")
	}
}

// TestHashCollision: a ReplicaSet of another template already has the new
// one's name; the controller bumps collisionCount so the next name differs.
func TestHashCollision(t *testing.T) {
	f := newFixture(t)
	d := newDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0), "v2")
	squatter := newReplicaSetTemplate(d)
	squatter.Spec.Template.Spec.Containers[0].Image = "something-else"
	squatter.OwnerReferences = nil
	squatter.Labels = map[string]string{"app": "unrelated"}
	f.add(d, squatter)
	if err := f.c.sync(context.Background(), dKey(d)); err == nil {
		t.Fatal("sync succeeded over a name collision")
	}
	got := f.deployment().Status.CollisionCount
	if got == nil || *got != 1 {
		t.Fatalf("collisionCount %v, want 1", got)
	}
	d.Status.CollisionCount = got
	if newReplicaSetTemplate(d).Name == squatter.Name {
		t.Error("the name did not change with collisionCount")
	}
}
