package nodestatus

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	gi = int64(1) << 30
	mi = int64(1) << 20
)

// healthy is a machine under no pressure.
func healthy() Machine {
	return Machine{
		CPUs: 4, MemTotal: 8 * gi, MemAvailable: 6 * gi,
		FS:     FSStats{Capacity: 100 * gi, Available: 50 * gi, Inodes: 1_000_000, InodesFree: 900_000},
		PIDMax: 32768, Processes: 300,
		KernelVersion: "6.1.0", OSImage: "Debian GNU/Linux 12 (bookworm)", OperatingSystem: "linux", Architecture: "amd64",
		MachineID: "mid", BootID: "bid", SystemUUID: "uuid", Hostname: "host-1",
	}
}

func q(s string) resource.Quantity { return resource.MustParse(s) }

func cond(s corev1.NodeStatus, ty corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == ty {
			return &s.Conditions[i]
		}
	}
	return nil
}

func TestComputeResources(t *testing.T) {
	tests := []struct {
		name      string
		m         func(*Machine)
		cfg       Config
		prev      corev1.NodeStatus
		wantCap   map[corev1.ResourceName]string
		wantAlloc map[corev1.ResourceName]string
	}{
		{
			name:      "defaults: only eviction thresholds",
			wantCap:   map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"},
			wantAlloc: map[corev1.ResourceName]string{"cpu": "4", "memory": fmt.Sprint(8*gi - 100*mi), "ephemeral-storage": fmt.Sprint(90 * gi), "pods": "110"},
		},
		{
			name: "system and kube reserved",
			cfg: Config{
				MaxPods:        50,
				SystemReserved: corev1.ResourceList{"cpu": q("100m"), "memory": q("500Mi")},
				KubeReserved:   corev1.ResourceList{"cpu": q("200m"), "memory": q("300Mi"), "ephemeral-storage": q("1Gi"), "pid": q("100")},
			},
			wantCap: map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "50"},
			wantAlloc: map[corev1.ResourceName]string{"cpu": "3700m", "memory": fmt.Sprint(8*gi - 900*mi),
				"ephemeral-storage": fmt.Sprint(89 * gi), "pods": "50"},
		},
		{
			name: "percent and absolute thresholds",
			cfg: Config{EvictionHard: Eviction{
				MemoryAvailable: Percent(10), NodeFSAvailable: Quantity("5Gi"),
			}},
			wantCap: map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"},
			wantAlloc: map[corev1.ResourceName]string{"cpu": "4", "memory": fmt.Sprint(8*gi - 8*gi/10),
				"ephemeral-storage": fmt.Sprint(95 * gi), "pods": "110"},
		},
		{
			name: "disabled thresholds reserve nothing",
			cfg: Config{EvictionHard: Eviction{
				MemoryAvailable: Threshold{Disabled: true}, NodeFSAvailable: Threshold{Disabled: true},
			}},
			wantCap:   map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"},
			wantAlloc: map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"},
		},
		{
			name:      "never negative",
			cfg:       Config{SystemReserved: corev1.ResourceList{"cpu": q("8"), "memory": q("16Gi"), "ephemeral-storage": q("1Ti")}},
			wantCap:   map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110"},
			wantAlloc: map[corev1.ResourceName]string{"cpu": "0", "memory": "0", "ephemeral-storage": "0", "pods": "110"},
		},
		{
			name: "extended resources others advertise are kept",
			prev: corev1.NodeStatus{
				Capacity:    corev1.ResourceList{"example.com/dongle": q("4"), "cpu": q("99")},
				Allocatable: corev1.ResourceList{"example.com/dongle": q("3"), "cpu": q("98")},
			},
			wantCap: map[corev1.ResourceName]string{"cpu": "4", "memory": "8Gi", "ephemeral-storage": "100Gi", "pods": "110",
				"example.com/dongle": "4"},
			wantAlloc: map[corev1.ResourceName]string{"cpu": "4", "memory": fmt.Sprint(8*gi - 100*mi), "ephemeral-storage": fmt.Sprint(90 * gi),
				"pods": "110", "example.com/dongle": "3"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := healthy()
			if tt.m != nil {
				tt.m(&m)
			}
			st := Compute(tt.prev, m, Inputs{}, tt.cfg, time.Now())
			check := func(what string, got corev1.ResourceList, want map[corev1.ResourceName]string) {
				if len(got) != len(want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
				for k, w := range want {
					g, ok := got[k]
					if !ok || g.Cmp(q(w)) != 0 {
						t.Errorf("%s[%s] = %s, want %s", what, k, g.String(), w)
					}
				}
			}
			check("capacity", st.Capacity, tt.wantCap)
			check("allocatable", st.Allocatable, tt.wantAlloc)
		})
	}
}

func TestComputeInfo(t *testing.T) {
	cfg := Config{NodeIP: "10.0.0.5", ExternalIP: "203.0.113.5", KubeletVersion: "v1.37.0-cairn", KubeProxyVersion: "v1.37.0-cairn"}
	st := Compute(corev1.NodeStatus{}, healthy(), Inputs{RuntimeVersion: "containerd://1.6.20"}, cfg, time.Now())
	wantAddr := []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: "10.0.0.5"},
		{Type: corev1.NodeExternalIP, Address: "203.0.113.5"},
		{Type: corev1.NodeHostName, Address: "host-1"},
	}
	if !equality.Semantic.DeepEqual(st.Addresses, wantAddr) {
		t.Errorf("addresses = %v", st.Addresses)
	}
	wantInfo := corev1.NodeSystemInfo{
		MachineID: "mid", SystemUUID: "uuid", BootID: "bid", KernelVersion: "6.1.0",
		OSImage: "Debian GNU/Linux 12 (bookworm)", ContainerRuntimeVersion: "containerd://1.6.20",
		KubeletVersion: "v1.37.0-cairn", KubeProxyVersion: "v1.37.0-cairn", OperatingSystem: "linux", Architecture: "amd64",
	}
	if st.NodeInfo != wantInfo {
		t.Errorf("nodeInfo = %+v", st.NodeInfo)
	}
	if st.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("kubelet port = %d", st.DaemonEndpoints.KubeletEndpoint.Port)
	}
	// Hostname override, no IPs, another port.
	st = Compute(corev1.NodeStatus{}, healthy(), Inputs{}, Config{Hostname: "override", KubeletPort: 11250}, time.Now())
	if len(st.Addresses) != 1 || st.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: "override"}) {
		t.Errorf("addresses = %v", st.Addresses)
	}
	if st.DaemonEndpoints.KubeletEndpoint.Port != 11250 {
		t.Errorf("kubelet port = %d", st.DaemonEndpoints.KubeletEndpoint.Port)
	}
}

func TestComputeImages(t *testing.T) {
	var in []corev1.ContainerImage
	for i := range 60 {
		in = append(in, corev1.ContainerImage{Names: []string{fmt.Sprintf("img-%02d", i)}, SizeBytes: int64(i * 1000)})
	}
	in = append(in, corev1.ContainerImage{SizeBytes: 1 << 40}) // no names: not listed
	in[59].Names = []string{"a", "b", "c", "d", "e", "f", "g"}
	st := Compute(corev1.NodeStatus{}, healthy(), Inputs{Images: in}, Config{}, time.Now())
	if len(st.Images) != MaxImages {
		t.Fatalf("%d images, want %d", len(st.Images), MaxImages)
	}
	for i := 1; i < len(st.Images); i++ {
		if st.Images[i-1].SizeBytes < st.Images[i].SizeBytes {
			t.Fatalf("images not largest first at %d: %v", i, st.Images)
		}
	}
	if got := st.Images[0].Names; len(got) != MaxNamesPerImage || got[0] != "a" {
		t.Errorf("largest image names = %v", got)
	}
	if last := st.Images[MaxImages-1]; last.Names[0] != "img-10" {
		t.Errorf("smallest listed = %v, want img-10", last)
	}
	if in[59].Names[5] != "f" || len(in[59].Names) != 7 {
		t.Error("Compute modified its input")
	}
	if st := Compute(corev1.NodeStatus{}, healthy(), Inputs{}, Config{}, time.Now()); st.Images != nil {
		t.Errorf("images = %v, want none", st.Images)
	}
}

// TestComputeConditions starts from a healthy status computed an hour ago
// and checks that each change flips exactly its condition: the others keep
// their transition time, and every heartbeat is now.
func TestComputeConditions(t *testing.T) {
	then := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := then.Add(time.Hour).Add(700 * time.Millisecond)
	nowSec := metav1.NewTime(now.Truncate(time.Second))
	pidCfg := Config{EvictionHard: Eviction{PIDAvailable: Percent(10)}}

	type want struct {
		status  corev1.ConditionStatus
		reason  string
		message string // substring
	}
	tests := []struct {
		name    string
		prevNet bool // prev carries NetworkUnavailable=True
		m       func(*Machine)
		in      Inputs
		cfg     Config
		flipped map[corev1.NodeConditionType]want
		noNet   bool // NetworkUnavailable absent
	}{
		{name: "nothing changed", noNet: true},
		{
			name: "memory below 100Mi", m: func(m *Machine) { m.MemAvailable = 99 * mi }, noNet: true,
			flipped: map[corev1.NodeConditionType]want{corev1.NodeMemoryPressure: {corev1.ConditionTrue, ReasonInsufficientMemory, "insufficient memory"}},
		},
		{name: "memory exactly at 100Mi", m: func(m *Machine) { m.MemAvailable = 100 * mi }, noNet: true},
		{
			name: "memory below a percent threshold", m: func(m *Machine) { m.MemAvailable = 800 * mi }, noNet: true,
			cfg:     Config{EvictionHard: Eviction{MemoryAvailable: Percent(10)}},
			flipped: map[corev1.NodeConditionType]want{corev1.NodeMemoryPressure: {corev1.ConditionTrue, ReasonInsufficientMemory, ""}},
		},
		{
			name: "disk below 10%", m: func(m *Machine) { m.FS.Available = 9 * gi }, noNet: true,
			flipped: map[corev1.NodeConditionType]want{corev1.NodeDiskPressure: {corev1.ConditionTrue, ReasonDiskPressure, "disk pressure"}},
		},
		{name: "disk exactly at 10%", m: func(m *Machine) { m.FS.Available = 10 * gi }, noNet: true},
		{
			name: "inodes below 5%", m: func(m *Machine) { m.FS.InodesFree = 49_999 }, noNet: true,
			flipped: map[corev1.NodeConditionType]want{corev1.NodeDiskPressure: {corev1.ConditionTrue, ReasonDiskPressure, ""}},
		},
		{name: "many processes, no pid threshold by default", m: func(m *Machine) { m.Processes = 32760 }, noNet: true},
		{
			name: "pid below a configured threshold", m: func(m *Machine) { m.Processes = 32000 }, cfg: pidCfg, noNet: true,
			flipped: map[corev1.NodeConditionType]want{corev1.NodePIDPressure: {corev1.ConditionTrue, ReasonInsufficientPID, "insufficient PID"}},
		},
		{name: "pid above a configured threshold", m: func(m *Machine) { m.Processes = 1000 }, cfg: pidCfg, noNet: true},
		{
			name: "runtime down", in: Inputs{RuntimeErr: errors.New("dial unix containerd.sock: no such file")}, noNet: true,
			flipped: map[corev1.NodeConditionType]want{corev1.NodeReady: {corev1.ConditionFalse, ReasonNotReady, "container runtime is down: dial unix containerd.sock"}},
		},
		{
			name: "network not ready", in: Inputs{NetworkErr: errors.New("cni config uninitialized")},
			flipped: map[corev1.NodeConditionType]want{
				corev1.NodeReady:              {corev1.ConditionFalse, ReasonNotReady, "network not ready: cni config uninitialized"},
				corev1.NodeNetworkUnavailable: {corev1.ConditionTrue, ReasonNoRouteCreated, "cni config uninitialized"},
			},
		},
		{
			name: "network still not ready", prevNet: true, in: Inputs{NetworkErr: errors.New("cni config uninitialized")},
			flipped: map[corev1.NodeConditionType]want{
				corev1.NodeReady: {corev1.ConditionFalse, ReasonNotReady, "network not ready"},
			},
		},
		{
			name: "network ready again", prevNet: true,
			flipped: map[corev1.NodeConditionType]want{
				corev1.NodeReady:              {corev1.ConditionTrue, ReasonReady, "posting ready status"},
				corev1.NodeNetworkUnavailable: {corev1.ConditionFalse, ReasonRouteCreated, ""},
			},
		},
		{
			name: "everything at once", m: func(m *Machine) { m.MemAvailable, m.FS.Available, m.Processes = 0, 0, 32768 },
			cfg: pidCfg, in: Inputs{RuntimeErr: errors.New("down"), NetworkErr: errors.New("no cni")},
			flipped: map[corev1.NodeConditionType]want{
				corev1.NodeMemoryPressure:     {corev1.ConditionTrue, ReasonInsufficientMemory, ""},
				corev1.NodeDiskPressure:       {corev1.ConditionTrue, ReasonDiskPressure, ""},
				corev1.NodePIDPressure:        {corev1.ConditionTrue, ReasonInsufficientPID, ""},
				corev1.NodeReady:              {corev1.ConditionFalse, ReasonNotReady, "container runtime is down: down, container runtime network not ready: no cni"},
				corev1.NodeNetworkUnavailable: {corev1.ConditionTrue, ReasonNoRouteCreated, "no cni"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prevIn := Inputs{}
			if tt.prevNet {
				prevIn.NetworkErr = errors.New("cni config uninitialized")
			}
			prev := Compute(corev1.NodeStatus{}, healthy(), prevIn, tt.cfg, then)
			// A condition someone else maintains.
			other := corev1.NodeCondition{Type: "FrequentKubeletRestart", Status: corev1.ConditionFalse, Reason: "NoFrequentKubeletRestart",
				LastHeartbeatTime: metav1.NewTime(then), LastTransitionTime: metav1.NewTime(then)}
			prev.Conditions = append(prev.Conditions, other)
			prevCopy := prev.DeepCopy()

			m := healthy()
			if tt.m != nil {
				tt.m(&m)
			}
			st := Compute(prev, m, tt.in, tt.cfg, now)
			if !equality.Semantic.DeepEqual(prev, *prevCopy) {
				t.Fatal("Compute modified prev")
			}

			order := []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeReady}
			if !tt.noNet {
				order = append(order, corev1.NodeNetworkUnavailable)
			}
			order = append(order, other.Type)
			var got []corev1.NodeConditionType
			for _, c := range st.Conditions {
				got = append(got, c.Type)
			}
			if fmt.Sprint(got) != fmt.Sprint(order) {
				t.Fatalf("conditions %v, want %v", got, order)
			}
			for _, c := range st.Conditions {
				if c.Type == other.Type {
					if !equality.Semantic.DeepEqual(c, other) {
						t.Errorf("other condition changed: %+v", c)
					}
					continue
				}
				if !c.LastHeartbeatTime.Equal(&nowSec) {
					t.Errorf("%s heartbeat %v, want %v", c.Type, c.LastHeartbeatTime, nowSec)
				}
				old := cond(prev, c.Type)
				w, flips := tt.flipped[c.Type]
				if !flips {
					if old == nil {
						t.Errorf("%s appeared: %+v", c.Type, c)
						continue
					}
					if c.Status != old.Status || c.Reason != old.Reason || !c.LastTransitionTime.Equal(&old.LastTransitionTime) {
						t.Errorf("%s changed: %+v, was %+v", c.Type, c, *old)
					}
					continue
				}
				if c.Status != w.status || c.Reason != w.reason || !strings.Contains(c.Message, w.message) {
					t.Errorf("%s = %s %s %q, want %s %s %q", c.Type, c.Status, c.Reason, c.Message, w.status, w.reason, w.message)
				}
				if old != nil && old.Status == c.Status {
					if !c.LastTransitionTime.Equal(&old.LastTransitionTime) {
						t.Errorf("%s kept its status but its transition time moved to %v", c.Type, c.LastTransitionTime)
					}
				} else if !c.LastTransitionTime.Equal(&nowSec) {
					t.Errorf("%s flipped at %v, want %v", c.Type, c.LastTransitionTime, nowSec)
				}
			}
			for ty := range tt.flipped {
				if cond(st, ty) == nil {
					t.Errorf("no %s condition", ty)
				}
			}
		})
	}
}

func TestComputeHealthyConditions(t *testing.T) {
	st := Compute(corev1.NodeStatus{}, healthy(), Inputs{}, Config{}, time.Now())
	for _, w := range []struct {
		ty             corev1.NodeConditionType
		status         corev1.ConditionStatus
		reason, detail string
	}{
		{corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"},
		{corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"},
		{corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"},
		{corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status"},
	} {
		c := cond(st, w.ty)
		if c == nil || c.Status != w.status || c.Reason != w.reason || c.Message != w.detail {
			t.Errorf("%s = %+v", w.ty, c)
		}
	}
	if c := cond(st, corev1.NodeNetworkUnavailable); c != nil {
		t.Errorf("NetworkUnavailable on a node whose network was always ready: %+v", c)
	}
}

func TestSameStatus(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := Compute(corev1.NodeStatus{}, healthy(), Inputs{}, Config{}, t0)
	b := Compute(a, healthy(), Inputs{}, Config{}, t0.Add(10*time.Second))
	if !SameStatus(a, b) {
		t.Error("a heartbeat alone made the status differ")
	}
	if equality.Semantic.DeepEqual(a, b) {
		t.Error("heartbeat did not move")
	}
	m := healthy()
	m.MemAvailable = 0
	if c := Compute(a, m, Inputs{}, Config{}, t0.Add(10*time.Second)); SameStatus(a, c) {
		t.Error("memory pressure did not make the status differ")
	}
	m = healthy()
	m.BootID = "rebooted"
	if c := Compute(a, m, Inputs{}, Config{}, t0.Add(10*time.Second)); SameStatus(a, c) {
		t.Error("a new boot ID did not make the status differ")
	}
	// Quantities that print differently but are equal are the same.
	c := *a.DeepCopy()
	c.Capacity[corev1.ResourceMemory] = q("8Gi")
	if !SameStatus(a, c) {
		t.Error("8Gi and 8589934592 differ")
	}
}
