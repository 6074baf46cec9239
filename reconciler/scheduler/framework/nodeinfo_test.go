package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestNodeInfoAddRemove(t *testing.T) {
	ni := NewNodeInfo(newNode("n").obj())
	a := newPod("a").req("cpu", "1", "memory", "1Gi").obj()
	b := newPod("b").req().podAntiAffinity(term("x", corev1.LabelHostname)).obj()
	ni.AddPod(a)
	gen := ni.Generation
	ni.AddPod(b)
	if ni.Generation <= gen {
		t.Error("AddPod did not bump the generation")
	}
	if len(ni.Pods) != 2 || len(ni.PodsWithAffinity) != 1 || len(ni.PodsWithRequiredAntiAffinity) != 1 {
		t.Fatalf("pods %d, with affinity %d, with anti-affinity %d", len(ni.Pods), len(ni.PodsWithAffinity), len(ni.PodsWithRequiredAntiAffinity))
	}
	if ni.Requested.MilliCPU != 1000 || ni.NonZeroRequested.MilliCPU != 1100 || ni.NonZeroRequested.Memory != 1<<30+200<<20 {
		t.Errorf("requested %+v, non-zero %+v", ni.Requested, ni.NonZeroRequested)
	}

	// Found by UID even when the object passed has another name.
	renamed := b.DeepCopy()
	renamed.Name = "other"
	if !ni.RemovePod(renamed) {
		t.Fatal("RemovePod by UID failed")
	}
	if len(ni.Pods) != 1 || len(ni.PodsWithAffinity) != 0 || len(ni.PodsWithRequiredAntiAffinity) != 0 {
		t.Errorf("after remove: pods %d, with affinity %d", len(ni.Pods), len(ni.PodsWithAffinity))
	}
	// A pod with the same name but another UID is another pod.
	other := a.DeepCopy()
	other.UID = "different"
	if ni.RemovePod(other) {
		t.Error("removed a pod with another UID")
	}
	// Without a UID the pod is found by namespace/name.
	noUID := a.DeepCopy()
	noUID.UID = ""
	if !ni.RemovePod(noUID) {
		t.Error("RemovePod by namespace/name failed")
	}
	if ni.Requested.MilliCPU != 0 || ni.NonZeroRequested.Memory != 0 || len(ni.Pods) != 0 {
		t.Errorf("not back to empty: %+v %+v", ni.Requested, ni.NonZeroRequested)
	}
}

func TestNodeInfoCloneIsIndependent(t *testing.T) {
	ni := NewNodeInfo(newNode("n").image(100, "img:1").obj(), newPod("a").req("cpu", "1").hostPort(80, "", "").claim("c").obj())
	c := ni.Clone()
	c.AddPod(newPod("b").req("cpu", "1", "nvidia.com/gpu", "1").hostPort(81, "", "").claim("d").obj())
	c.RemovePod(newPod("a").obj())
	c.ImageStates["img:1"].NumNodes = 7
	if len(ni.Pods) != 1 || ni.Pods[0].Pod.Name != "a" {
		t.Errorf("original pods changed: %d", len(ni.Pods))
	}
	if ni.Requested.MilliCPU != 1000 || ni.Requested.Scalar != nil {
		t.Errorf("original requests changed: %+v", ni.Requested)
	}
	if ni.UsedPorts.CheckConflict("", "TCP", 81) || !ni.UsedPorts.CheckConflict("", "TCP", 80) {
		t.Error("original ports changed")
	}
	if ni.PVCRefCounts["default/d"] != 0 || ni.PVCRefCounts["default/c"] != 1 {
		t.Errorf("original claim counts changed: %v", ni.PVCRefCounts)
	}
	if ni.ImageStates["img:1"].NumNodes == 7 {
		t.Error("original image state changed")
	}
}

func TestHostPortInfo(t *testing.T) {
	h := HostPortInfo{}
	h.Add("", "", 80) // 0.0.0.0/TCP
	h.Add("10.0.0.1", "UDP", 53)
	h.Add("10.0.0.1", "UDP", 53) // a second pod on the same port
	tests := []struct {
		ip, proto string
		port      int32
		want      bool
	}{
		{"0.0.0.0", "TCP", 80, true},
		{"10.0.0.2", "TCP", 80, true}, // 0.0.0.0 holds it on every IP
		{"", "UDP", 80, false},        // other protocol
		{"10.0.0.1", "UDP", 53, true},
		{"0.0.0.0", "UDP", 53, true}, // any IP conflicts with 0.0.0.0
		{"10.0.0.2", "UDP", 53, false},
		{"10.0.0.1", "TCP", 53, false},
		{"", "", 0, false},
	}
	for _, tc := range tests {
		if got := h.CheckConflict(tc.ip, tc.proto, tc.port); got != tc.want {
			t.Errorf("CheckConflict(%q, %q, %d) = %v", tc.ip, tc.proto, tc.port, got)
		}
	}
	h.Remove("10.0.0.1", "UDP", 53)
	if !h.CheckConflict("10.0.0.1", "UDP", 53) {
		t.Error("port freed while a second pod still binds it")
	}
	h.Remove("10.0.0.1", "UDP", 53)
	if h.CheckConflict("10.0.0.1", "UDP", 53) || h.Len() != 1 {
		t.Errorf("port not freed, len %d", h.Len())
	}
}

func TestSnapshot(t *testing.T) {
	done := newPod("done").on("n1").req("cpu", "3").obj()
	done.Status.Phase = corev1.PodSucceeded
	snap := NewSnapshot(
		nodes(newNode("n1").image(10, "a:1", "a@sha"), newNode("n2").image(10, "a:1")),
		append(pods(newPod("p").on("n1").req("cpu", "1"), newPod("pending").req("cpu", "1"),
			newPod("q").on("gone").req("cpu", "1"),
			newPod("aff").on("n2").podAffinity(term("x", "zone"))), done))
	if snap.NumNodes() != 2 || snap.Get("n1") == nil || snap.Get("gone") != nil {
		t.Fatalf("nodes: %d", snap.NumNodes())
	}
	if got := snap.Get("n1").Requested.MilliCPU; got != 1000 {
		t.Errorf("n1 requested %dm, want only the bound running pod's 1000m", got)
	}
	if len(snap.HavePodsWithAffinityList()) != 1 || snap.HavePodsWithAffinityList()[0].Name() != "n2" {
		t.Error("affinity list")
	}
	if snap.ImageNumNodes("a:1") != 2 || snap.ImageNumNodes("a@sha") != 1 || snap.ImageNumNodes("b:1") != 0 {
		t.Error("image node counts")
	}
	if snap.Get("n2").ImageStates["a:1"].NumNodes != 2 {
		t.Error("NumNodes not filled in after the lookup")
	}

	// WithOptions shares the nodes and replaces the objects.
	ns := &corev1.Namespace{}
	ns.Name, ns.Labels = "default", map[string]string{"env": "prod"}
	with := snap.WithOptions(WithNamespaces([]*corev1.Namespace{ns}))
	if with.Get("n1") != snap.Get("n1") || with.NamespaceLabels("default")["env"] != "prod" || snap.NamespaceLabels("default") != nil {
		t.Error("WithOptions")
	}
}
