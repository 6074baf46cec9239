package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
)

// parseSim parses `cairn sim` flags as the command does.
func parseSim(t *testing.T, args ...string) (simConfig, sim.GenOptions, error) {
	t.Helper()
	var cfg simConfig
	fs := pflag.NewFlagSet("sim", pflag.ContinueOnError)
	simFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	o, err := cfg.genOptions(fs.Changed("tainted-fraction"))
	return cfg, o, err
}

func TestSimFlags(t *testing.T) {
	cfg, o, err := parseSim(t, "--nodes", "50", "--name-prefix", "w-", "--cpu", "8", "--memory", "32Gi", "--pods", "200",
		"--zones", "a,b", "--labels", "pool=batch,tier=2", "--taints", "gpu=yes:NoSchedule,spot:PreferNoSchedule",
		"--tainted-fraction", "0.2", "--start-delay", "2s", "--renew-interval", "5s", "--no-pods", "--seed", "9")
	if err != nil {
		t.Fatal(err)
	}
	sc := cfg.clusterConfig(nil, nil)
	if sc.StartDelay != 2*time.Second || sc.RenewInterval != 5*time.Second || sc.StatusInterval != 5*time.Minute || !sc.NoPods || sc.Workers != 8 {
		t.Errorf("cluster config %+v", sc)
	}
	specs := sim.Generate(cfg.Nodes, o)
	if len(specs) != 50 || specs[0].Name != "w-0000" || specs[49].Name != "w-0049" {
		t.Fatalf("%d nodes, %s .. %s", len(specs), specs[0].Name, specs[len(specs)-1].Name)
	}
	tainted := 0
	for i, s := range specs {
		if s.CPU.String() != "8" || s.Memory.String() != "32Gi" || s.Pods != 200 || s.EphemeralStorage.String() != "100Gi" {
			t.Errorf("%s: size cpu=%s memory=%s pods=%d disk=%s", s.Name, s.CPU.String(), s.Memory.String(), s.Pods, s.EphemeralStorage.String())
		}
		if s.Zone != []string{"a", "b"}[i%2] || s.Labels["pool"] != "batch" || s.Labels["tier"] != "2" {
			t.Errorf("%s: zone %q labels %v", s.Name, s.Zone, s.Labels)
		}
		if len(s.Taints) > 0 {
			tainted++
			want := []corev1.Taint{{Key: "gpu", Value: "yes", Effect: corev1.TaintEffectNoSchedule}, {Key: "spot", Effect: corev1.TaintEffectPreferNoSchedule}}
			if len(s.Taints) != 2 || s.Taints[0] != want[0] || s.Taints[1] != want[1] {
				t.Errorf("%s: taints %v, want %v", s.Name, s.Taints, want)
			}
		}
	}
	if tainted != 10 {
		t.Errorf("%d tainted nodes, want 10 (0.2 of 50)", tainted)
	}

	// --taints alone taints every node; --mixed-sizes mixes the presets.
	cfg, o, err = parseSim(t, "--nodes", "40", "--taints", "x=y:NoExecute", "--mixed-sizes")
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]bool{}
	for _, s := range sim.Generate(cfg.Nodes, o) {
		types[s.InstanceType] = true
		if len(s.Taints) != 1 || s.Taints[0].Key != "x" {
			t.Errorf("%s: taints %v, want x=y:NoExecute", s.Name, s.Taints)
		}
	}
	if len(types) < 3 {
		t.Errorf("--mixed-sizes gave instance types %v", types)
	}
	// --tainted-fraction alone uses the simulator's taint.
	cfg, o, err = parseSim(t, "--nodes", "4", "--tainted-fraction", "0.5")
	if err != nil {
		t.Fatal(err)
	}
	tainted = 0
	for _, s := range sim.Generate(cfg.Nodes, o) {
		if len(s.Taints) == 1 && s.Taints[0] == sim.DefaultTaint {
			tainted++
		}
	}
	if tainted != 2 {
		t.Errorf("%d of 4 nodes tainted with %v, want 2", tainted, sim.DefaultTaint)
	}
}

func TestSimUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--nodes", "0"},
		{"--cpu", "lots"},
		{"--memory", "-1Gi"},
		{"--pods", "0"},
		{"--labels", "novalue"},
		{"--labels", "bad key=v"},
		{"--taints", "k=v"},
		{"--taints", "k=v:Sometimes"},
		{"--tainted-fraction", "1.5"},
		{"--kubeconfig", "/nonexistent/kubeconfig"},
	} {
		root := NewRoot()
		root.SetArgs(append([]string{"sim", "--log-level", "error"}, args...))
		root.SetOut(&bytes.Buffer{})
		err := root.ExecuteContext(context.Background())
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 2 {
			t.Errorf("cairn sim %s: %v, want a usage error (exit 2)", strings.Join(args, " "), err)
		}
	}
}

// syncBuffer is a bytes.Buffer safe to write from the command and read
// from the test.
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

// TestSimCommand runs `cairn sim` against an API server until the nodes
// are registered, then interrupts it.
func TestSimCommand(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	root := NewRoot()
	out := &syncBuffer{}
	root.SetOut(out)
	root.SetArgs([]string{"sim", "--kubeconfig", s.Kubeconfig("admin"), "--nodes", "5", "--name-prefix", "cli-",
		"--zones", "a,b", "--taints", "dedicated=gpu:NoSchedule", "--tainted-fraction", "0.4", "--log-level", "error"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	apiservertest.Eventually(t, 30*time.Second, "the registered line", func() bool {
		return strings.Contains(out.String(), "5 simulated nodes registered")
	})
	cs := s.Client("admin")
	nodes, err := cs.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tainted := 0
	for _, n := range nodes.Items {
		if !strings.HasPrefix(n.Name, "cli-") || n.Labels["topology.kubernetes.io/zone"] == "" {
			t.Errorf("node %s labels %v", n.Name, n.Labels)
		}
		if len(n.Spec.Taints) == 1 && n.Spec.Taints[0].Key == "dedicated" {
			tainted++
		}
	}
	if len(nodes.Items) != 5 || tainted != 2 {
		t.Errorf("%d nodes, %d tainted; want 5 and 2", len(nodes.Items), tainted)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("cairn sim after interrupt: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("cairn sim did not stop 30s after an interrupt")
	}
}
