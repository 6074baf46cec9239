package sim

import (
	"fmt"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

func TestGenerate(t *testing.T) {
	o := GenOptions{Prefix: "g-", Zones: []string{"a", "b", "c"}, Region: "eu", Sizes: DefaultSizes(),
		Labels: map[string]string{"pool": "x"}, TaintedFraction: 0.1, Seed: 42}
	specs := Generate(100, o)
	if len(specs) != 100 || specs[0].Name != "g-0000" || specs[99].Name != "g-0099" {
		t.Fatalf("names: %d specs, %s .. %s", len(specs), specs[0].Name, specs[len(specs)-1].Name)
	}
	if !reflect.DeepEqual(specs, Generate(100, o)) {
		t.Error("the same seed gave different nodes")
	}
	o2 := o
	o2.Seed = 43
	if reflect.DeepEqual(specs, Generate(100, o2)) {
		t.Error("another seed gave the same nodes")
	}
	zones, types := map[string]int{}, map[string]int{}
	tainted := 0
	for _, s := range specs {
		zones[s.Zone]++
		types[s.InstanceType]++
		if s.Region != "eu" || s.Labels["pool"] != "x" {
			t.Errorf("%s: region %q labels %v", s.Name, s.Region, s.Labels)
		}
		if len(s.Taints) > 0 {
			tainted++
			if !reflect.DeepEqual(s.Taints, []corev1.Taint{DefaultTaint}) {
				t.Errorf("%s: taints %v", s.Name, s.Taints)
			}
		}
		if s.CPU.IsZero() || s.Memory.IsZero() || s.Pods == 0 {
			t.Errorf("%s: no capacity: %+v", s.Name, s)
		}
	}
	if zones["a"] != 34 || zones["b"] != 33 || zones["c"] != 33 {
		t.Errorf("zones not dealt round-robin: %v", zones)
	}
	if tainted != 10 {
		t.Errorf("%d tainted nodes, want 10", tainted)
	}
	if len(types) != 4 {
		t.Errorf("instance types %v, want all four sizes", types)
	}

	// One size by default; width grows past 10,000 nodes.
	big := Generate(10001, GenOptions{})
	if big[0].Name != "sim-00000" || big[10000].Name != "sim-10000" {
		t.Errorf("names %s .. %s", big[0].Name, big[10000].Name)
	}
	if s := big[5].withDefaults(); s.CPU.Cmp(DefaultCPU) != 0 || s.Pods != DefaultPods || s.InstanceType != "sim-4cpu-16Gi" || len(s.Taints) != 0 || s.Zone != "" {
		t.Errorf("default node %+v", s)
	}
	if Generate(0, o) != nil {
		t.Error("Generate(0) made nodes")
	}
}

func TestAddresses(t *testing.T) {
	for i, want := range map[int]string{0: "10.0.0.1", 253: "10.0.0.254", 254: "10.0.1.1", 4999: "10.0.19.174"} {
		if got := nodeIP(i).String(); got != want {
			t.Errorf("nodeIP(%d) = %s, want %s", i, got, want)
		}
	}
	for i, want := range map[int]string{0: "10.128.0.0/24", 1: "10.128.1.0/24", 256: "10.129.0.0/24", MaxNodes - 1: "10.255.255.0/24"} {
		if got := podCIDR(i).String(); got != want {
			t.Errorf("podCIDR(%d) = %s, want %s", i, got, want)
		}
	}
	p := newPodIPs(podCIDR(3))
	p.reserve("old", "10.128.3.2")
	p.reserve("foreign", "192.168.0.9")
	a, _ := p.get("new")
	if a != "10.128.3.3" {
		t.Errorf("first free IP after a reserved .2: %s", a)
	}
	if b, _ := p.get("new"); b != a {
		t.Errorf("same pod, new IP: %s then %s", a, b)
	}
	p.release("old")
	if c, _ := p.get("newer"); c != "10.128.3.2" {
		t.Errorf("released IP not reused: %s", c)
	}
	// .2 to .254 make 253 IPs; two are taken.
	for i := range 251 {
		if _, err := p.get(types.UID(fmt.Sprint("pod-", i))); err != nil {
			t.Fatalf("pod %d of 251: %v", i, err)
		}
	}
	if _, err := p.get("one-too-many"); err == nil {
		t.Error("no error once the /24 is used up")
	}
}
