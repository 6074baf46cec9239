package nodestatus

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// TestLeaseRetriesWithBackoff fails the first lease writes: the agent
// retries after 200ms, 400ms, 800ms, then renews on its period.
func TestLeaseRetriesWithBackoff(t *testing.T) {
	const name = "fake-1"
	cs := fake.NewClientset()
	var (
		mu       sync.Mutex
		attempts []time.Time
	)
	cs.PrependReactor("create", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, time.Now())
		if len(attempts) <= 3 {
			return true, nil, errors.New("etcd is down")
		}
		return false, nil, nil
	})
	a := start(t, Options{
		Client: cs, NodeName: name, Register: true, LeaseDuration: 40 * time.Second,
		Readings: func() (Machine, error) { return healthy(), nil },
	}, true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no lease 5s after start; stats %+v", a.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 4 {
		t.Fatalf("%d create attempts, want 4", len(attempts))
	}
	for i, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		gap := attempts[i+1].Sub(attempts[i])
		t.Logf("retry %d after %v", i+1, gap.Round(time.Millisecond))
		if gap < want || gap > want+300*time.Millisecond {
			t.Errorf("retry %d came after %v, want %v", i+1, gap, want)
		}
	}
	if st := a.Stats(); st.Errors < 3 || st.LeaseRenewals != 1 {
		t.Errorf("stats = %+v", st)
	}
}
