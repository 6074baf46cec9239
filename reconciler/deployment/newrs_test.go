package deployment

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"
)

func TestMinReadySecondsFollowsTheDeployment(t *testing.T) {
	f := newFixture(t)
	d := newDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0), "v1")
	d.Spec.MinReadySeconds = 7
	cur := rsOf(d, "v1", 2, 2, 1, 10)
	f.add(d, cur)
	f.sync(d)
	if got := f.rs(cur.Name).Spec.MinReadySeconds; got != 7 {
		t.Errorf("minReadySeconds %d, want 7", got)
	}
}

func TestReplicaSetCreateError(t *testing.T) {
	f := newFixture(t)
	f.client.PrependReactor("create", "replicasets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, errors.New("quota exceeded")
	})
	d := newDeployment(2, intstr.FromInt32(1), intstr.FromInt32(0), "v1")
	f.add(d)
	if err := f.c.sync(context.Background(), dKey(d)); err == nil {
		t.Fatal("sync succeeded though the create failed")
	}
	c := getCondition(f.deployment().Status, appsv1.DeploymentProgressing)
	wantMsg := `Failed to create new replica set "` + newReplicaSetTemplate(d).Name + `": quota exceeded`
	if c == nil || c.Status != corev1.ConditionFalse || c.Reason != FailedRSCreateReason || c.Message != wantMsg {
		t.Errorf("Progressing %+v, want False %s %q", c, FailedRSCreateReason, wantMsg)
	}
	if ev := f.events(); !slices.ContainsFunc(ev, func(e string) bool { return strings.HasPrefix(e, "Warning "+FailedRSCreateReason+" ") }) {
		t.Errorf("events %q", ev)
	}
}
