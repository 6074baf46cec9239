package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
)

func testLogger() *slog.Logger {
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// runSim starts a Cluster and waits until it registered; the returned
// function (also run at cleanup) stops it and waits for Run to return.
func runSim(t *testing.T, cfg Config) (*Cluster, func()) {
	t.Helper()
	if cfg.Logger == nil {
		cfg.Logger = testLogger()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-c.Registered():
	case err := <-done:
		cancel()
		t.Fatalf("Run returned before registering: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("nodes not registered in 60s")
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Error("Run did not return 30s after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return c, stop
}

func lease(t *testing.T, cs kubernetes.Interface, name string) *coordinationv1.Lease {
	t.Helper()
	l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func condition(n *corev1.Node, ty corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == ty {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func podCondition(p *corev1.Pod, ty corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == ty {
			return c.Status
		}
	}
	return ""
}

func qty(s string) resource.Quantity { return resource.MustParse(s) }

// TestRegister registers 20 nodes of assorted shapes and checks each Node
// and Lease field by field, then that the leases renew.
func TestRegister(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	specs := Generate(20, GenOptions{Prefix: "reg-", Zones: []string{"z-a", "z-b"}, Region: "r-1", Sizes: DefaultSizes(),
		Labels: map[string]string{"team": "sched"}, TaintedFraction: 0.25, Seed: 7})
	specs[3].Reserved = corev1.ResourceList{corev1.ResourceMemory: qty("1Gi"), corev1.ResourceCPU: qty("100m")}
	specs[4].Extended = corev1.ResourceList{"nvidia.com/gpu": qty("2")}
	specs[5].Unschedulable = true
	c, _ := runSim(t, Config{Client: cs, Nodes: specs, RenewInterval: 200 * time.Millisecond, NoPods: true})
	ctx := context.Background()

	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 20 {
		t.Fatalf("%d nodes, want 20", len(list.Items))
	}
	byName := map[string]corev1.Node{}
	for _, n := range list.Items {
		byName[n.Name] = n
	}
	ips := map[string]bool{}
	tainted := 0
	for i, spec := range specs {
		n, ok := byName[spec.Name]
		if !ok {
			t.Fatalf("node %s missing", spec.Name)
		}
		wantCap := corev1.ResourceList{
			corev1.ResourceCPU: spec.CPU, corev1.ResourceMemory: spec.Memory,
			corev1.ResourceEphemeralStorage: spec.EphemeralStorage, corev1.ResourcePods: *resource.NewQuantity(spec.Pods, resource.DecimalSI),
		}
		for k, v := range spec.Extended {
			wantCap[k] = v
		}
		for k, v := range wantCap {
			if got := n.Status.Capacity[k]; got.Cmp(v) != 0 {
				t.Errorf("%s: capacity %s = %s, want %s", n.Name, k, got.String(), v.String())
			}
			want := v.DeepCopy()
			if r, ok := spec.Reserved[k]; ok {
				want.Sub(r)
			}
			if got := n.Status.Allocatable[k]; got.Cmp(want) != 0 {
				t.Errorf("%s: allocatable %s = %s, want %s", n.Name, k, got.String(), want.String())
			}
		}
		if len(n.Status.Capacity) != len(wantCap) {
			t.Errorf("%s: capacity %v, want %v", n.Name, n.Status.Capacity, wantCap)
		}
		wantLabels := map[string]string{
			"kubernetes.io/hostname": spec.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"topology.kubernetes.io/zone": []string{"z-a", "z-b"}[i%2], "topology.kubernetes.io/region": "r-1",
			"node.kubernetes.io/instance-type": spec.InstanceType, "team": "sched", LabelSimulated: "true",
		}
		for k, v := range wantLabels {
			if n.Labels[k] != v {
				t.Errorf("%s: label %s=%q, want %q", n.Name, k, n.Labels[k], v)
			}
		}
		if len(n.Spec.Taints) != len(spec.Taints) {
			t.Errorf("%s: taints %v, want %v", n.Name, n.Spec.Taints, spec.Taints)
		} else if len(spec.Taints) > 0 {
			tainted++
			if n.Spec.Taints[0].Key != DefaultTaint.Key || n.Spec.Taints[0].Effect != DefaultTaint.Effect {
				t.Errorf("%s: taint %v, want %v", n.Name, n.Spec.Taints[0], DefaultTaint)
			}
		}
		if n.Spec.Unschedulable != spec.Unschedulable {
			t.Errorf("%s: unschedulable %v", n.Name, n.Spec.Unschedulable)
		}
		for _, ty := range []corev1.NodeConditionType{corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable, corev1.NodeReady} {
			cond := condition(&n, ty)
			want := corev1.ConditionFalse
			if ty == corev1.NodeReady {
				want = corev1.ConditionTrue
			}
			if cond == nil || cond.Status != want || cond.LastHeartbeatTime.IsZero() || cond.LastTransitionTime.IsZero() {
				t.Errorf("%s: condition %s = %+v, want %s with times", n.Name, ty, cond, want)
			}
		}
		if r := condition(&n, corev1.NodeReady); r != nil && r.Reason != "KubeletReady" {
			t.Errorf("%s: Ready reason %q", n.Name, r.Reason)
		}
		if len(n.Status.Addresses) != 2 || n.Status.Addresses[0].Type != corev1.NodeInternalIP || n.Status.Addresses[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: spec.Name}) {
			t.Errorf("%s: addresses %v", n.Name, n.Status.Addresses)
		} else {
			ip := n.Status.Addresses[0].Address
			if a, err := netip.ParseAddr(ip); err != nil || !netip.MustParsePrefix("10.0.0.0/16").Contains(a) || ips[ip] {
				t.Errorf("%s: InternalIP %q not a fresh 10.0.x.y", n.Name, ip)
			}
			ips[ip] = true
		}
		ni := n.Status.NodeInfo
		if ni.KubeletVersion != KubeletVersion || ni.ContainerRuntimeVersion != "sim://1" || ni.OperatingSystem != "linux" || ni.Architecture != "amd64" {
			t.Errorf("%s: nodeInfo %+v", n.Name, ni)
		}
		if n.Spec.PodCIDR != podCIDR(i).String() {
			t.Errorf("%s: podCIDR %q, want %s", n.Name, n.Spec.PodCIDR, podCIDR(i))
		}

		l := lease(t, cs, spec.Name)
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != spec.Name || l.Spec.LeaseDurationSeconds == nil || *l.Spec.LeaseDurationSeconds != 40 || l.Spec.RenewTime == nil {
			t.Errorf("%s: lease spec %+v", n.Name, l.Spec)
		}
		if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].Name != spec.Name || l.OwnerReferences[0].UID != n.UID {
			t.Errorf("%s: lease owners %+v, want the Node (uid %s)", n.Name, l.OwnerReferences, n.UID)
		}
	}
	if tainted != 5 {
		t.Errorf("%d tainted nodes, want 5 (25%% of 20)", tainted)
	}
	leases, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil || len(leases.Items) != 20 {
		t.Fatalf("leases: %d, %v; want 20", len(leases.Items), err)
	}

	// Every lease renews: renewTime moves past what it was.
	before := map[string]time.Time{}
	for _, l := range leases.Items {
		before[l.Name] = l.Spec.RenewTime.Time
	}
	apiservertest.Eventually(t, 5*time.Second, "every lease to renew", func() bool {
		ls, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false
		}
		for _, l := range ls.Items {
			if !l.Spec.RenewTime.Time.After(before[l.Name]) {
				return false
			}
		}
		return true
	})
	// Renewals spread over the 200ms interval (20 nodes in 20 slots of
	// 10ms) rather than coming in one burst.
	ls, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, last := ls.Items[0].Spec.RenewTime.Time, ls.Items[0].Spec.RenewTime.Time
	for _, l := range ls.Items {
		if r := l.Spec.RenewTime.Time; r.Before(first) {
			first = r
		} else if r.After(last) {
			last = r
		}
	}
	spread := last.Sub(first)
	t.Logf("lease renewals spread over %v", spread)
	if spread < 50*time.Millisecond {
		t.Errorf("20 leases renewed within %v of each other: not spread over the interval", spread)
	}
	if c.tick != 10*time.Millisecond || c.leaseSlots != 20 || c.statusSlots != 30000 {
		t.Errorf("tick %v, %d lease slots, %d status slots; want 10ms, 20, 30000 (5m status interval)", c.tick, c.leaseSlots, c.statusSlots)
	}
	if st := c.Stats(); st.LeaseRenewals < 40 || st.Errors != 0 {
		t.Errorf("stats %+v: want 40+ lease writes, no errors", st)
	}
}

func newPod(name, node string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: annotations},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "b", Image: "registry.example/b:1"}, {Name: "a", Image: "registry.example/a:1"}},
		},
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, p *corev1.Pod) *corev1.Pod {
	t.Helper()
	out, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating pod %s: %v", p.Name, err)
	}
	return out
}

func getPod(cs kubernetes.Interface, name string) *corev1.Pod {
	p, err := cs.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return p
}

// waitPod waits until the pod satisfies cond and returns it.
func waitPod(t *testing.T, cs kubernetes.Interface, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var p *corev1.Pod
	apiservertest.Eventually(t, 10*time.Second, fmt.Sprintf("pod %s %s", name, what), func() bool {
		p = getPod(cs, name)
		return p != nil && cond(p)
	})
	return p
}

func running(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning }

func TestPods(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	ctx := context.Background()
	specs := Generate(3, GenOptions{Prefix: "pods-"})
	runSim(t, Config{Client: cs, Nodes: specs})
	node0 := specs[0].Name

	// Bound at creation.
	direct := newPod("direct", node0, nil)
	direct.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "registry.example/init:1"}}
	createPod(t, cs, direct)
	// Bound through pods/binding, as the scheduler does.
	createPod(t, cs, newPod("bound", "", nil))
	if err := cs.CoreV1().Pods("default").Bind(ctx, &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: "bound", Namespace: "default"},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node0},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// A pod on no simulated node is left alone.
	createPod(t, cs, newPod("elsewhere", "real-node", nil))

	ips := map[string]string{}
	for _, name := range []string{"direct", "bound"} {
		p := waitPod(t, cs, name, "running and ready", func(p *corev1.Pod) bool {
			return running(p) && podCondition(p, corev1.PodReady) == corev1.ConditionTrue
		})
		if p.Status.HostIP != "10.0.0.1" {
			t.Errorf("%s: hostIP %q, want node %s's 10.0.0.1", name, p.Status.HostIP, node0)
		}
		a, err := netip.ParseAddr(p.Status.PodIP)
		if err != nil || !podCIDR(0).Contains(a) || len(p.Status.PodIPs) != 1 || p.Status.PodIPs[0].IP != p.Status.PodIP {
			t.Errorf("%s: podIP %q %v, want one in %s", name, p.Status.PodIP, p.Status.PodIPs, podCIDR(0))
		}
		if other, dup := ips[p.Status.PodIP]; dup {
			t.Errorf("%s and %s share pod IP %s", name, other, p.Status.PodIP)
		}
		ips[p.Status.PodIP] = name
		if p.Status.StartTime == nil {
			t.Errorf("%s: no startTime", name)
		}
		for _, ty := range []corev1.PodConditionType{corev1.PodScheduled, corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady, corev1.PodReadyToStartContainers} {
			if got := podCondition(p, ty); got != corev1.ConditionTrue {
				t.Errorf("%s: condition %s = %q, want True", name, ty, got)
			}
		}
		if len(p.Status.ContainerStatuses) != 2 || p.Status.ContainerStatuses[0].Name != "a" || p.Status.ContainerStatuses[1].Name != "b" {
			t.Fatalf("%s: container statuses %+v, want a and b", name, p.Status.ContainerStatuses)
		}
		for _, c := range p.Status.ContainerStatuses {
			if !c.Ready || c.Started == nil || !*c.Started || c.State.Running == nil || c.Image != "registry.example/"+c.Name+":1" ||
				c.ImageID == "" || len(c.ContainerID) < len("sim://")+8 || c.ContainerID[:6] != "sim://" {
				t.Errorf("%s: container %s status %+v", name, c.Name, c)
			}
		}
	}
	p := getPod(cs, "direct")
	if len(p.Status.InitContainerStatuses) != 1 {
		t.Fatalf("init container statuses %+v", p.Status.InitContainerStatuses)
	}
	if ic := p.Status.InitContainerStatuses[0]; ic.State.Terminated == nil || ic.State.Terminated.ExitCode != 0 || ic.State.Terminated.Reason != "Completed" {
		t.Errorf("init container %+v, want terminated Completed", ic)
	}

	// run-for: Succeeded after that long; fail: Failed with exit code 1.
	job := newPod("job", specs[1].Name, map[string]string{AnnotationRunFor: "1s"})
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	created := time.Now()
	createPod(t, cs, job)
	crash := newPod("crash", specs[1].Name, map[string]string{AnnotationRunFor: "500ms", AnnotationFail: "true"})
	crash.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	createPod(t, cs, crash)
	// run-for on a pod that restarts always is ignored.
	svc := newPod("service", specs[1].Name, map[string]string{AnnotationRunFor: "100ms"})
	createPod(t, cs, svc)
	notReady := newPod("not-ready", specs[2].Name, map[string]string{AnnotationNotReady: "true"})
	createPod(t, cs, notReady)

	waitPod(t, cs, "job", "running", running)
	p = waitPod(t, cs, "job", "succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if took := time.Since(created); took < time.Second {
		t.Errorf("job finished %v after creation, run-for is 1s", took)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 || c.State.Terminated.Reason != "Completed" || c.Ready {
			t.Errorf("job container %s: %+v", c.Name, c)
		}
	}
	if podCondition(p, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("succeeded pod still Ready")
	}
	p = waitPod(t, cs, "crash", "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Terminated == nil || c.State.Terminated.ExitCode != 1 || c.State.Terminated.Reason != "Error" {
			t.Errorf("crash container %s: %+v", c.Name, c)
		}
	}
	p = waitPod(t, cs, "not-ready", "running", running)
	time.Sleep(300 * time.Millisecond)
	for _, name := range []string{"not-ready", "service"} {
		p = getPod(cs, name)
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("%s: phase %s, want Running", name, p.Status.Phase)
		}
	}
	p = getPod(cs, "not-ready")
	if podCondition(p, corev1.PodReady) != corev1.ConditionFalse || podCondition(p, corev1.ContainersReady) != corev1.ConditionFalse {
		t.Errorf("not-ready pod: conditions %+v", p.Status.Conditions)
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.Ready || c.State.Running == nil {
			t.Errorf("not-ready container %s: %+v", c.Name, c)
		}
	}
	if p := getPod(cs, "elsewhere"); p == nil || p.Status.Phase != corev1.PodPending || p.Status.PodIP != "" {
		t.Errorf("pod on a node that is not simulated: %+v", p.Status)
	}
}

func TestPodDeletion(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	ctx := context.Background()
	specs := Generate(1, GenOptions{Prefix: "del-"})
	c, _ := runSim(t, Config{Client: cs, Nodes: specs})
	node := specs[0].Name

	createPod(t, cs, newPod("web", node, nil))
	held := newPod("held", node, nil)
	held.Finalizers = []string{"example.com/hold"}
	createPod(t, cs, held)
	waitPod(t, cs, "web", "running", running)
	waitPod(t, cs, "held", "running", running)

	// The default grace period (30s) leaves the pod Terminating; the node
	// stops it and deletes it for good.
	start := time.Now()
	if err := cs.CoreV1().Pods("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 10*time.Second, "pod web to disappear", func() bool {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "web", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	t.Logf("pod finalised %v after its delete", time.Since(start).Round(time.Millisecond))

	// With a finalizer the pod gets its stopped status and stays until the
	// finalizer goes.
	if err := cs.CoreV1().Pods("default").Delete(ctx, "held", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, cs, "held", "stopped", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if p.DeletionTimestamp == nil {
		t.Fatal("held pod has no deletionTimestamp")
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Terminated == nil {
			t.Errorf("held container %s not terminated: %+v", c.Name, c.State)
		}
	}
	p.Finalizers = nil
	if _, err := cs.CoreV1().Pods("default").Update(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 10*time.Second, "pod held to disappear", func() bool {
		_, err := cs.CoreV1().Pods("default").Get(ctx, "held", metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	})
	// The node's own final delete of the held pod may still be in flight
	// when the finalizer's removal has already removed the object.
	apiservertest.Eventually(t, 5*time.Second, "the node's final delete of both pods", func() bool {
		return c.Stats().PodDeletes == 2
	})
	if st := c.Stats(); st.PodDeletes != 2 {
		t.Errorf("stats %+v: want 2 final deletes", st)
	}
}

func TestStartAndStopDelay(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	ctx := context.Background()
	specs := Generate(1, GenOptions{Prefix: "slow-"})
	runSim(t, Config{Client: cs, Nodes: specs, StartDelay: 700 * time.Millisecond, StopDelay: 700 * time.Millisecond})

	created := time.Now()
	createPod(t, cs, newPod("slow", specs[0].Name, nil))
	time.Sleep(300 * time.Millisecond)
	if p := getPod(cs, "slow"); p.Status.Phase != corev1.PodPending && time.Since(created) < 700*time.Millisecond {
		t.Fatalf("pod %s 300ms into a 700ms start delay", p.Status.Phase)
	}
	waitPod(t, cs, "slow", "running", running)
	if took := time.Since(created); took < 700*time.Millisecond {
		t.Errorf("pod ran %v after creation, start delay is 700ms", took)
	}
	deleted := time.Now()
	if err := cs.CoreV1().Pods("default").Delete(ctx, "slow", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if p := getPod(cs, "slow"); (p == nil || p.DeletionTimestamp == nil) && time.Since(deleted) < 700*time.Millisecond {
		t.Fatalf("pod gone or not terminating 300ms into a 700ms stop delay: %+v", p)
	}
	apiservertest.Eventually(t, 10*time.Second, "pod slow to disappear", func() bool { return getPod(cs, "slow") == nil })
	if took := time.Since(deleted); took < 700*time.Millisecond {
		t.Errorf("pod deleted %v after its delete, stop delay is 700ms", took)
	}
}

// TestFailureInjection: a node whose heartbeats stop no longer renews its
// lease (the others do) nor runs pods, and catches up when they resume;
// conditions set show on the Node; nodes come and go at run time.
func TestFailureInjection(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	ctx := context.Background()
	specs := Generate(3, GenOptions{Prefix: "inj-"})
	c, _ := runSim(t, Config{Client: cs, Nodes: specs, RenewInterval: 200 * time.Millisecond, StatusInterval: time.Second})
	a, b := specs[0].Name, specs[1].Name

	if err := c.StopHeartbeats(a); err != nil {
		t.Fatal(err)
	}
	if err := c.StopHeartbeats("no-such-node"); err == nil {
		t.Error("StopHeartbeats of an unknown node: no error")
	}
	aBefore, bBefore := lease(t, cs, a).Spec.RenewTime.Time, lease(t, cs, b).Spec.RenewTime.Time
	createPod(t, cs, newPod("cut-off", a, nil))
	time.Sleep(1200 * time.Millisecond)
	if got := lease(t, cs, a).Spec.RenewTime.Time; !got.Equal(aBefore) {
		t.Errorf("stopped node %s renewed its lease: %v -> %v", a, aBefore, got)
	}
	if got := lease(t, cs, b).Spec.RenewTime.Time; !got.After(bBefore) {
		t.Errorf("node %s stopped renewing too: %v -> %v", b, bBefore, got)
	}
	if p := getPod(cs, "cut-off"); p.Status.Phase != corev1.PodPending {
		t.Errorf("pod on a node without heartbeats is %s, want Pending", p.Status.Phase)
	}
	if err := c.ResumeHeartbeats(a); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 5*time.Second, "node "+a+" to renew again", func() bool {
		return lease(t, cs, a).Spec.RenewTime.Time.After(aBefore)
	})
	waitPod(t, cs, "cut-off", "running after heartbeats resume", running)

	// Conditions.
	nodeCond := func(node string, ty corev1.NodeConditionType) *corev1.NodeCondition {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return condition(n, ty)
	}
	if err := c.SetCondition(b, corev1.NodeMemoryPressure, corev1.ConditionTrue, "KubeletHasInsufficientMemory"); err != nil {
		t.Fatal(err)
	}
	if err := c.SetCondition(b, "example.com/Broken", corev1.ConditionTrue, "Smoke"); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 5*time.Second, "MemoryPressure=True on "+b, func() bool {
		mp, br := nodeCond(b, corev1.NodeMemoryPressure), nodeCond(b, "example.com/Broken")
		return mp != nil && mp.Status == corev1.ConditionTrue && mp.Reason == "KubeletHasInsufficientMemory" &&
			br != nil && br.Status == corev1.ConditionTrue && br.Reason == "Smoke"
	})
	if r := nodeCond(b, corev1.NodeReady); r.Status != corev1.ConditionTrue {
		t.Errorf("Ready = %s under memory pressure, want True", r.Status)
	}
	if mp := nodeCond(a, corev1.NodeMemoryPressure); mp.Status != corev1.ConditionFalse {
		t.Errorf("node %s caught %s's memory pressure", a, b)
	}
	if err := c.ClearCondition(b, corev1.NodeMemoryPressure); err != nil {
		t.Fatal(err)
	}
	if err := c.ClearCondition(b, "example.com/Broken"); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 5*time.Second, "conditions cleared on "+b, func() bool {
		mp := nodeCond(b, corev1.NodeMemoryPressure)
		return mp.Status == corev1.ConditionFalse && mp.Reason == "KubeletHasSufficientMemory" && nodeCond(b, "example.com/Broken") == nil
	})

	// FailPod evicts a running pod.
	createPod(t, cs, newPod("victim", b, nil))
	waitPod(t, cs, "victim", "running", running)
	if err := c.FailPod("default", "victim", "Evicted", "The node was low on resource: memory."); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, cs, "victim", "failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if p.Status.Reason != "Evicted" || p.Status.ContainerStatuses[0].State.Terminated == nil || p.Status.ContainerStatuses[0].State.Terminated.ExitCode != 137 {
		t.Errorf("evicted pod status %+v", p.Status)
	}

	// Nodes added and removed at run time.
	if err := c.AddNode(ctx, NodeSpec{Name: "inj-late", CPU: qty("1")}); err != nil {
		t.Fatal(err)
	}
	if n, err := cs.CoreV1().Nodes().Get(ctx, "inj-late", metav1.GetOptions{}); err != nil || n.Status.Capacity.Cpu().String() != "1" {
		t.Fatalf("added node: %v, %v", n, err)
	}
	createPod(t, cs, newPod("late", "inj-late", nil))
	p = waitPod(t, cs, "late", "running on the added node", running)
	if p.Status.HostIP != "10.0.0.4" {
		t.Errorf("pod on the 4th node has hostIP %s", p.Status.HostIP)
	}
	if err := c.Remove(ctx, "inj-late", true); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().Get(ctx, "inj-late", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("removed node still there: %v", err)
	}
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, "inj-late", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("removed node's lease still there: %v", err)
	}
	if got := c.Nodes(); len(got) != 3 {
		t.Errorf("Nodes() = %v after removing one of 4", got)
	}
}

// TestRestart stops a Cluster and starts another over the same nodes: no
// new Nodes or Leases, no pod rewritten, and new pods still get fresh IPs.
func TestRestart(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs := s.Client("admin")
	ctx := context.Background()
	specs := Generate(4, GenOptions{Prefix: "rs-", Zones: []string{"a", "b"}})
	c1, stop1 := runSim(t, Config{Client: cs, Nodes: specs})

	for i := range 8 {
		var ann map[string]string
		switch i {
		case 6:
			ann = map[string]string{AnnotationNotReady: "true"}
		case 7:
			ann = map[string]string{AnnotationRunFor: "0s"}
		}
		p := newPod(fmt.Sprintf("p%d", i), specs[i%2].Name, ann)
		if i == 7 {
			p.Spec.RestartPolicy = corev1.RestartPolicyNever
		}
		createPod(t, cs, p)
	}
	for i := range 7 {
		waitPod(t, cs, fmt.Sprintf("p%d", i), "running", running)
	}
	waitPod(t, cs, "p7", "succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	stop1()
	// One write each: a run-for 0s pod goes from Pending to Succeeded at once.
	if st := c1.Stats(); st.PodStatusUpdates != 8 {
		t.Errorf("first run wrote pod status %d times, want 8", st.PodStatusUpdates)
	}

	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rv := map[string]string{}
	usedIPs := map[string]bool{}
	for _, p := range pods.Items {
		rv[p.Name] = p.ResourceVersion
		usedIPs[p.Status.PodIP] = true
	}
	nodeUIDs := map[string]string{}
	nodes, _ := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	for _, n := range nodes.Items {
		nodeUIDs[n.Name] = string(n.UID)
	}
	// A pod bound while no simulator runs waits for the next one.
	createPod(t, cs, newPod("while-down", specs[0].Name, nil))

	// Into the next second, so that times the new simulator would make up
	// differ from those stored (status times are whole seconds).
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1100 * time.Millisecond)))
	c2, _ := runSim(t, Config{Client: cs, Nodes: specs})
	waitPod(t, cs, "while-down", "running under the new simulator", running)
	createPod(t, cs, newPod("after", specs[0].Name, nil))
	waitPod(t, cs, "after", "running", running)
	time.Sleep(200 * time.Millisecond)

	if st := c2.Stats(); st.PodStatusUpdates != 2 || st.Errors != 0 {
		t.Errorf("second run: %+v; want 2 pod status writes (the two new pods), no errors", st)
	}
	pods, err = cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if old, ok := rv[p.Name]; ok && p.ResourceVersion != old {
			t.Errorf("pod %s rewritten by the restarted simulator: resourceVersion %s -> %s", p.Name, old, p.ResourceVersion)
		}
	}
	for _, name := range []string{"while-down", "after"} {
		p := getPod(cs, name)
		if usedIPs[p.Status.PodIP] {
			t.Errorf("pod %s got %s, an IP a running pod has", name, p.Status.PodIP)
		}
		usedIPs[p.Status.PodIP] = true
	}
	nodes, _ = cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if len(nodes.Items) != 4 {
		t.Errorf("%d nodes after the restart, want 4", len(nodes.Items))
	}
	for _, n := range nodes.Items {
		if nodeUIDs[n.Name] != string(n.UID) {
			t.Errorf("node %s was re-created (uid %s -> %s)", n.Name, nodeUIDs[n.Name], n.UID)
		}
	}
	leases, _ := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if len(leases.Items) != 4 {
		t.Errorf("%d leases after the restart, want 4", len(leases.Items))
	}
}

// TestScale registers 1,000 nodes (and their leases) and runs a pod on
// each, with the protobuf client NewClient makes.
func TestScale(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	cs, err := NewClient(s.RestConfig("admin"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const nodes = 1000
	specs := Generate(nodes, GenOptions{Prefix: "scale-", Zones: []string{"a", "b", "c"}, Sizes: DefaultSizes(), TaintedFraction: 0.1, Seed: 1})
	start := time.Now()
	c, _ := runSim(t, Config{Client: cs, Nodes: specs})
	took := time.Since(start)
	t.Logf("%d nodes registered in %v (%.0f nodes/s)", nodes, took.Round(time.Millisecond), nodes/took.Seconds())
	if took > 20*time.Second {
		t.Errorf("registering %d nodes took %v, want under 20s", nodes, took)
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != nodes {
		t.Fatalf("%d nodes listed (%v), want %d", len(list.Items), err, nodes)
	}
	leases, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
	if err != nil || len(leases.Items) != nodes {
		t.Fatalf("%d leases listed (%v), want %d", len(leases.Items), err, nodes)
	}

	start = time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				if _, err := cs.CoreV1().Pods("default").Create(ctx, newPod(fmt.Sprintf("s%04d", i), specs[i].Name, nil), metav1.CreateOptions{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range nodes {
		work <- i
	}
	close(work)
	wg.Wait()
	apiservertest.Eventually(t, 30*time.Second, "every pod running", func() bool {
		return c.Stats().PodStatusUpdates >= nodes
	})
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{FieldSelector: "status.phase=Running"})
	if err != nil || len(pods.Items) != nodes {
		t.Fatalf("%d pods running (%v), want %d", len(pods.Items), err, nodes)
	}
	t.Logf("%d pods created and running in %v", nodes, time.Since(start).Round(time.Millisecond))
}
