package garbagecollector

import (
	"context"
	"maps"
	"slices"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clienttesting "k8s.io/client-go/testing"
)

// stubDiscovery serves its resources as the preferred ones, failing
// with err (a partial failure, say) when set.
type stubDiscovery struct {
	*fakediscovery.FakeDiscovery
	err error
}

func (d *stubDiscovery) ServerPreferredResources() ([]*metav1.APIResourceList, error) {
	return d.Resources, d.err
}

func resourceList(gv string, names ...string) *metav1.APIResourceList {
	l := &metav1.APIResourceList{GroupVersion: gv}
	for _, n := range names {
		kind := map[string]string{"pods": "Pod", "configmaps": "ConfigMap", "events": "Event", "replicasets": "ReplicaSet"}[n]
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: n, Kind: kind, Namespaced: true,
			Verbs: []string{"get", "list", "watch", "delete"}})
	}
	return l
}

func (c *Controller) watched() []string {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	var out []string
	for gvr := range maps.Keys(c.monitors) {
		out = append(out, gvr.Resource)
	}
	sort.Strings(out)
	return out
}

// TestDiscoverMonitors: discovery starts an informer per deletable
// resource (events ignored), stops those of resources gone, keeps them
// on a partial discovery failure, and refreshes the kind mapping.
func TestDiscoverMonitors(t *testing.T) {
	c, _, _ := newFakeController(t)
	d := &stubDiscovery{FakeDiscovery: &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{}}}
	c.discovery = d
	ctx, cancel := context.WithCancel(context.Background())
	defer c.stopMonitors()
	defer cancel()

	steps := []struct {
		name      string
		resources []*metav1.APIResourceList
		err       error
		want      []string
	}{
		{"first discovery", []*metav1.APIResourceList{resourceList("v1", "pods", "configmaps", "events")}, nil,
			[]string{"configmaps", "pods"}},
		{"a resource gone, one new", []*metav1.APIResourceList{resourceList("v1", "pods"), resourceList("apps/v1", "replicasets")}, nil,
			[]string{"pods", "replicasets"}},
		{"apps failing: its informers kept", []*metav1.APIResourceList{resourceList("v1", "pods")},
			&discovery.ErrGroupDiscoveryFailed{Groups: map[schema.GroupVersion]error{{Group: "apps", Version: "v1"}: context.DeadlineExceeded}},
			[]string{"pods", "replicasets"}},
	}
	for _, s := range steps {
		d.Resources, d.err = s.resources, s.err
		_ = c.discover(ctx)
		if got := c.watched(); !slices.Equal(got, s.want) {
			t.Errorf("%s: watching %v, want %v", s.name, got, s.want)
		}
		if s.err == nil {
			if _, _, err := c.apiResource(s.resources[len(s.resources)-1].GroupVersion, s.resources[len(s.resources)-1].APIResources[0].Kind); err != nil {
				t.Errorf("%s: mapping: %v", s.name, err)
			}
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for !c.monitorsSynced() {
		if time.Now().After(deadline) {
			t.Fatal("informers never synced")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	c.stopMonitors()
	if got := c.watched(); len(got) != 0 {
		t.Errorf("watching %v after stop", got)
	}
}
