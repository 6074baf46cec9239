package nodestatus

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/apiserver/auth"
)

// One API server serves every test of the package, each with its own
// node names.
var (
	srvOnce sync.Once
	srv     *apiservertest.Server
	srvErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if srv != nil {
		if err := srv.Close(); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			code = 1
		}
		os.RemoveAll(srv.Dir)
	}
	os.Exit(code)
}

func server(t *testing.T) *apiservertest.Server {
	t.Helper()
	srvOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nodestatus-apiserver-")
		if err != nil {
			srvErr = err
			return
		}
		srv, srvErr = apiservertest.Launch(dir, nil)
	})
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	return srv
}

func adminClient(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := server(t).Config("admin")
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// nodeClient is a clientset with the node's own identity,
// system:node:<name> in system:nodes, as a real agent has.
func nodeClient(t *testing.T, name string) kubernetes.Interface {
	t.Helper()
	s := server(t)
	ca, err := auth.LoadOrCreateCA(filepath.Join(s.Dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.IssueClient(auth.NodeUser(name), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := s.Config("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg.TLSClientConfig.CertFile, cfg.TLSClientConfig.KeyFile = "", ""
	cfg.TLSClientConfig.CertData, cfg.TLSClientConfig.KeyData = certPEM, keyPEM
	cfg.BearerToken, cfg.BearerTokenFile = "", ""
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger(extra io.Writer) *slog.Logger {
	var w io.Writer = io.Discard
	if os.Getenv("CAIRN_TEST_LOG") != "" {
		w = os.Stderr
	}
	if extra != nil {
		w = io.MultiWriter(w, extra)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// start runs an agent until the test ends; when wait is set it returns
// once the Node exists.
func start(t *testing.T, opts Options, wait bool) *Agent {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(nil)
	}
	a, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
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
	if wait {
		select {
		case <-a.Registered():
		case err := <-done:
			t.Fatalf("Run returned before the node existed: %v", err)
		case <-time.After(30 * time.Second):
			t.Fatal("node not registered in 30s")
		}
	}
	return a
}

func getNode(t *testing.T, cs kubernetes.Interface, name string) *corev1.Node {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func getLease(cs kubernetes.Interface, name string) (*coordinationv1.Lease, error) {
	return cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), name, metav1.GetOptions{})
}

// onlineCPUs is the machine's online CPU count, read independently.
func onlineCPUs(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return int64(runtime.NumCPU())
	}
	n, err := parseCPUList(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

func wantQty(t *testing.T, what string, rl corev1.ResourceList, name corev1.ResourceName, want int64, milli bool) {
	t.Helper()
	got, ok := rl[name]
	v := got.Value()
	if milli {
		v = got.MilliValue()
	}
	if !ok || v != want {
		t.Errorf("%s[%s] = %s (%d), want %d", what, name, got.String(), v, want)
	}
}

// TestRegister registers a node with its own identity, reading this
// machine: capacity is the online CPUs and MemTotal, allocatable less the
// reservations and eviction thresholds, with labels, taints and a Lease
// owned by the Node.
func TestRegister(t *testing.T) {
	const name = "reg-1"
	admin := adminClient(t)
	dir := t.TempDir()
	var onNode atomic.Int32
	var podCIDRSeen atomic.Value
	taint := corev1.Taint{Key: "cairn.dev/dedicated", Value: "edge", Effect: corev1.TaintEffectNoSchedule}
	a := start(t, Options{
		Client: nodeClient(t, name), NodeName: name, Register: true, DataDir: dir,
		Labels: map[string]string{"cairn.dev/pool": "edge"},
		Taints: []corev1.Taint{taint},
		Config: Config{
			SystemReserved: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
			KubeReserved:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")},
			NodeIP:         "10.0.0.9", KubeletVersion: "v1.37.0-cairn", KubeProxyVersion: "v1.37.0-cairn",
		},
		Inputs: func(context.Context) Inputs { return Inputs{RuntimeVersion: "containerd://1.6.20"} },
		OnNode: func(n *corev1.Node) {
			onNode.Add(1)
			podCIDRSeen.Store(n.Spec.PodCIDR)
		},
	}, true)
	n := getNode(t, admin, name)

	cpus, mem := onlineCPUs(t), memTotal(t)
	fsst, err := Statfs(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantQty(t, "capacity", n.Status.Capacity, corev1.ResourceCPU, cpus, false)
	wantQty(t, "capacity", n.Status.Capacity, corev1.ResourceMemory, mem, false)
	wantQty(t, "capacity", n.Status.Capacity, corev1.ResourceEphemeralStorage, fsst.Capacity, false)
	wantQty(t, "capacity", n.Status.Capacity, corev1.ResourcePods, 110, false)
	wantQty(t, "allocatable", n.Status.Allocatable, corev1.ResourceCPU, cpus*1000-500, true)
	wantQty(t, "allocatable", n.Status.Allocatable, corev1.ResourceMemory, mem-gi-256*mi-100*mi, false)
	wantQty(t, "allocatable", n.Status.Allocatable, corev1.ResourceEphemeralStorage, fsst.Capacity-gi-fsst.Capacity/10, false)
	wantQty(t, "allocatable", n.Status.Allocatable, corev1.ResourcePods, 110, false)
	t.Logf("capacity %v, allocatable %v", n.Status.Capacity, n.Status.Allocatable)

	for k, v := range map[string]string{
		"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": runtime.GOARCH,
		"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": runtime.GOARCH, "cairn.dev/pool": "edge",
	} {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != taint.Key || n.Spec.Taints[0].Effect != taint.Effect {
		t.Errorf("taints = %v", n.Spec.Taints)
	}
	if c := cond(n.Status, corev1.NodeReady); c == nil || c.Status != corev1.ConditionTrue || c.Reason != ReasonReady {
		t.Errorf("Ready = %+v", c)
	}
	machineID, _ := os.ReadFile("/etc/machine-id")
	info := n.Status.NodeInfo
	if info.MachineID != strings.TrimSpace(string(machineID)) || info.ContainerRuntimeVersion != "containerd://1.6.20" ||
		info.KubeletVersion != "v1.37.0-cairn" || info.OperatingSystem != "linux" || info.Architecture != runtime.GOARCH ||
		info.KernelVersion == "" || info.BootID == "" || info.SystemUUID == "" {
		t.Errorf("nodeInfo = %+v", info)
	}
	if len(n.Status.Addresses) == 0 || n.Status.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "10.0.0.9"}) {
		t.Errorf("addresses = %v", n.Status.Addresses)
	}
	if n.Status.DaemonEndpoints.KubeletEndpoint.Port != 10250 {
		t.Errorf("daemon endpoints = %+v", n.Status.DaemonEndpoints)
	}

	var l *coordinationv1.Lease
	apiservertest.Eventually(t, 10*time.Second, "the node lease", func() bool {
		l, err = getLease(admin, name)
		return err == nil
	})
	if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != name || l.Spec.LeaseDurationSeconds == nil ||
		*l.Spec.LeaseDurationSeconds != 40 || l.Spec.RenewTime == nil {
		t.Errorf("lease spec = %+v", l.Spec)
	}
	if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].UID != n.UID {
		t.Errorf("lease owners = %+v, node UID %s", l.OwnerReferences, n.UID)
	}

	// The pod part learns the pod CIDR an administrator gives the Node.
	apiservertest.Eventually(t, 10*time.Second, "OnNode", func() bool { return onNode.Load() > 0 })
	n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.7.0/24", []string{"10.244.7.0/24"}
	if _, err := admin.CoreV1().Nodes().Update(context.Background(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 10*time.Second, "OnNode with the pod CIDR", func() bool {
		s, _ := podCIDRSeen.Load().(string)
		return s == "10.244.7.0/24"
	})
	if st := a.Stats(); st.Registrations != 1 || st.Errors != 0 {
		t.Errorf("stats = %+v", st)
	}
}

// TestAdoptExisting starts an agent on a Node an administrator created:
// it adds the labels the Node lacks, keeps the administrator's labels and
// taints, and posts the status.
func TestAdoptExisting(t *testing.T) {
	const name = "adopt-1"
	admin := adminClient(t)
	taint := corev1.Taint{Key: "cairn.dev/maintenance", Effect: corev1.TaintEffectNoExecute}
	_, err := admin.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"team": "a", "cairn.dev/pool": "admin"}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{taint}, Unschedulable: true},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var cordoned atomic.Bool
	start(t, Options{
		Client: nodeClient(t, name), NodeName: name, Register: true, DataDir: t.TempDir(),
		Labels: map[string]string{"cairn.dev/pool": "agent", "extra": "x"},
		Taints: []corev1.Taint{{Key: "agent-taint", Effect: corev1.TaintEffectNoSchedule}},
		OnNode: func(n *corev1.Node) { cordoned.Store(n.Spec.Unschedulable) },
	}, true)
	apiservertest.Eventually(t, 10*time.Second, "the status posted", func() bool {
		n := getNode(t, admin, name)
		return cond(n.Status, corev1.NodeReady) != nil && !n.Status.Capacity.Memory().IsZero()
	})
	n := getNode(t, admin, name)
	for k, v := range map[string]string{"team": "a", "cairn.dev/pool": "admin", "extra": "x", "kubernetes.io/os": "linux",
		"kubernetes.io/hostname": name, "beta.kubernetes.io/arch": runtime.GOARCH} {
		if n.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, n.Labels[k], v)
		}
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != taint.Key || !n.Spec.Unschedulable {
		t.Errorf("spec changed: %+v", n.Spec)
	}
	if !cordoned.Load() {
		t.Error("OnNode did not see the Node cordoned")
	}
}

// TestWaitForNode runs an agent that does not register: it waits, says
// so, and runs once an administrator creates the Node.
func TestWaitForNode(t *testing.T) {
	const name = "wait-1"
	admin := adminClient(t)
	logs := &syncBuffer{}
	a := start(t, Options{
		Client: nodeClient(t, name), NodeName: name, Register: false, DataDir: t.TempDir(),
		Labels: map[string]string{"extra": "x"}, Logger: testLogger(logs),
	}, false)
	time.Sleep(1500 * time.Millisecond)
	select {
	case <-a.Registered():
		t.Fatal("registered with registration off")
	default:
	}
	if _, err := admin.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("node get: %v, want NotFound", err)
	}
	if _, err := getLease(admin, name); !apierrors.IsNotFound(err) {
		t.Fatalf("lease get: %v, want NotFound", err)
	}
	if st := a.Stats(); st != (Stats{}) {
		t.Errorf("stats while waiting = %+v", st)
	}
	if !strings.Contains(logs.String(), "waiting for an administrator to create the Node") {
		t.Errorf("no waiting message in the log:\n%s", logs.String())
	}

	created, err := admin.CoreV1().Nodes().Create(context.Background(), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"from": "git"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-a.Registered():
	case <-time.After(10 * time.Second):
		t.Fatal("agent did not start 10s after the Node was created")
	}
	apiservertest.Eventually(t, 10*time.Second, "the status and lease", func() bool {
		n := getNode(t, admin, name)
		c := cond(n.Status, corev1.NodeReady)
		l, err := getLease(admin, name)
		return c != nil && c.Status == corev1.ConditionTrue && n.Status.Capacity.Memory().Value() == memTotal(t) &&
			err == nil && len(l.OwnerReferences) == 1 && l.OwnerReferences[0].UID == created.UID
	})
	n := getNode(t, admin, name)
	if len(n.Labels) != 1 || n.Labels["from"] != "git" {
		t.Errorf("labels of a Node the agent did not register changed: %v", n.Labels)
	}
	if st := a.Stats(); st.Registrations != 0 || st.StatusUpdates < 1 || st.LeaseRenewals < 1 {
		t.Errorf("stats = %+v", st)
	}
}

// TestMemoryPressureFlips injects readings and checks that crossing the
// memory threshold flips MemoryPressure, and back, within one 1s status
// period, leaving the other conditions' transition times alone.
func TestMemoryPressureFlips(t *testing.T) {
	const name = "mem-1"
	admin := adminClient(t)
	var avail atomic.Int64
	avail.Store(6 * gi)
	start(t, Options{
		Client: nodeClient(t, name), NodeName: name, Register: true,
		StatusUpdateFrequency: time.Second,
		Readings: func() (Machine, error) {
			m := healthy()
			m.MemAvailable = avail.Load()
			return m, nil
		},
	}, true)
	memPressure := func() *corev1.NodeCondition { return cond(getNode(t, admin, name).Status, corev1.NodeMemoryPressure) }
	if c := memPressure(); c == nil || c.Status != corev1.ConditionFalse {
		t.Fatalf("MemoryPressure at start = %+v", c)
	}
	before := getNode(t, admin, name).Status

	for _, step := range []struct {
		avail  int64
		status corev1.ConditionStatus
		reason string
	}{
		{50 * mi, corev1.ConditionTrue, ReasonInsufficientMemory},
		{2 * gi, corev1.ConditionFalse, ReasonSufficientMemory},
		{100*mi - 1, corev1.ConditionTrue, ReasonInsufficientMemory},
	} {
		avail.Store(step.avail)
		t0 := time.Now()
		var c *corev1.NodeCondition
		for {
			if c = memPressure(); c != nil && c.Status == step.status {
				break
			}
			if time.Since(t0) > 5*time.Second {
				t.Fatalf("MemoryPressure still %+v 5s after MemAvailable became %d", c, step.avail)
			}
			time.Sleep(20 * time.Millisecond)
		}
		took := time.Since(t0)
		t.Logf("MemAvailable %d: MemoryPressure %s after %v", step.avail, c.Status, took.Round(time.Millisecond))
		if took > 1500*time.Millisecond {
			t.Errorf("MemoryPressure flipped %v after the reading, more than one 1s status period", took)
		}
		if c.Reason != step.reason {
			t.Errorf("reason = %s, want %s", c.Reason, step.reason)
		}
	}
	after := getNode(t, admin, name).Status
	for _, ty := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		b, a := cond(before, ty), cond(after, ty)
		if a.Status != b.Status || !a.LastTransitionTime.Equal(&b.LastTransitionTime) {
			t.Errorf("%s moved: %+v, was %+v", ty, *a, *b)
		}
		if !b.LastHeartbeatTime.Before(&a.LastHeartbeatTime) {
			t.Errorf("%s heartbeat did not advance: %v then %v", ty, b.LastHeartbeatTime, a.LastHeartbeatTime)
		}
	}
}

// TestLeaseRenewsEvery10s watches the Lease with the default settings: it
// is renewed every 10s (a quarter of 40s), give or take a second.
func TestLeaseRenewsEvery10s(t *testing.T) {
	t.Parallel()
	const name = "lease-1"
	admin := adminClient(t)
	a := start(t, Options{Client: nodeClient(t, name), NodeName: name, Register: true, DataDir: t.TempDir()}, true)

	type seen struct{ renew, at time.Time }
	var renewals []seen
	deadline := time.Now().Add(40 * time.Second)
	for len(renewals) < 3 && time.Now().Before(deadline) {
		l, err := getLease(admin, name)
		if err == nil && l.Spec.RenewTime != nil {
			rt := l.Spec.RenewTime.Time
			if len(renewals) == 0 || !renewals[len(renewals)-1].renew.Equal(rt) {
				renewals = append(renewals, seen{renew: rt, at: time.Now()})
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(renewals) < 3 {
		t.Fatalf("saw %d lease renew times in 40s, want 3 (the first and two renewals)", len(renewals))
	}
	for i := 1; i < len(renewals); i++ {
		gap := renewals[i].renew.Sub(renewals[i-1].renew)
		seenGap := renewals[i].at.Sub(renewals[i-1].at)
		t.Logf("renewal %d: renewTime +%v, observed +%v", i, gap.Round(time.Millisecond), seenGap.Round(time.Millisecond))
		if gap < 9*time.Second || gap > 11*time.Second {
			t.Errorf("renewal %d came %v after the previous one, want 10s ± 1s", i, gap)
		}
		if seenGap < 9*time.Second || seenGap > 11*time.Second {
			t.Errorf("renewal %d was seen %v after the previous one, want 10s ± 1s", i, seenGap)
		}
	}
	if st := a.Stats(); st.LeaseRenewals < 3 {
		t.Errorf("stats = %+v", st)
	}
}

// TestStatusQuiet counts the Node writes of an agent on a quiet machine
// with the default 10s status period: the status is posted only at the
// heartbeat.
func TestStatusQuiet(t *testing.T) {
	t.Parallel()
	const name = "quiet-1"
	admin := adminClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w, err := admin.CoreV1().Nodes().Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	var (
		mu     sync.Mutex
		writes []time.Time
	)
	go func() {
		for ev := range w.ResultChan() {
			if ev.Type == watch.Modified {
				mu.Lock()
				writes = append(writes, time.Now())
				mu.Unlock()
			}
		}
	}()

	a := start(t, Options{Client: nodeClient(t, name), NodeName: name, Register: true, DataDir: t.TempDir()}, true)
	registered := time.Now()
	time.Sleep(14 * time.Second)
	mu.Lock()
	got := append([]time.Time(nil), writes...)
	mu.Unlock()
	var offsets []time.Duration
	for _, at := range got {
		offsets = append(offsets, at.Sub(registered).Round(10*time.Millisecond))
	}
	t.Logf("node writes after registration at %v; stats %+v", offsets, a.Stats())
	if len(got) != 1 {
		t.Fatalf("%d node writes in 14s, want 1 (the heartbeat at 10s)", len(got))
	}
	if offsets[0] < 9*time.Second || offsets[0] > 11500*time.Millisecond {
		t.Errorf("heartbeat write at +%v, want about +10s", offsets[0])
	}
	if st := a.Stats(); st.StatusUpdates != 1 {
		t.Errorf("StatusUpdates = %d, want 1", st.StatusUpdates)
	}
}

// TestReregisterAfterDelete deletes the Node under a registering agent:
// it registers it again, and the Lease follows the new Node.
func TestReregisterAfterDelete(t *testing.T) {
	const name = "del-1"
	admin := adminClient(t)
	start(t, Options{
		Client: nodeClient(t, name), NodeName: name, Register: true, DataDir: t.TempDir(),
		StatusUpdateFrequency: time.Second, LeaseDuration: 4 * time.Second,
	}, true)
	old := getNode(t, admin, name)
	if err := admin.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var n *corev1.Node
	apiservertest.Eventually(t, 10*time.Second, "the node registered again", func() bool {
		var err error
		n, err = admin.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		return err == nil && n.UID != old.UID && cond(n.Status, corev1.NodeReady) != nil
	})
	apiservertest.Eventually(t, 10*time.Second, "the lease owned by the new node", func() bool {
		l, err := getLease(admin, name)
		return err == nil && len(l.OwnerReferences) == 1 && l.OwnerReferences[0].UID == n.UID
	})
}
