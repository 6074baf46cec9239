// Command schedperf measures cairn's scheduler the way kube-scheduler's
// scheduler_perf does, with the real API server, embedded etcd and
// simulated nodes in the loop: for each workload it starts a fresh server,
// registers the nodes, schedules the initial pods, then creates the
// measured pods as fast as the API server takes them and reports how many
// the scheduler binds per second, from the first create to the last bind
// (as the scheduler counts the bindings the API server accepted).
//
//	go run ./test/schedperf [-only basic,antiaffinity,spread] [-scale 1] [-cpuprofile cpu.out]
//
// Everything shares the machine's cores: API server, etcd, the simulated
// nodes' heartbeats, the pod creator and the scheduler.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
	"github.com/cairn-dev/cairn/test/perfenv"
)

// workload is one scheduler_perf test case.
type workload struct {
	name       string
	title      string
	nodes      int
	initPods   int
	pods       int
	node       func(i int) sim.NodeSpec
	initPod    func(i int) *corev1.Pod
	pod        func(i int) *corev1.Pod
	reference  float64 // kube-scheduler's scheduler_perf threshold, pods/s
	target     float64 // the target on 2 cores
	referenceN string
}

func defaultNode(i int) sim.NodeSpec {
	// scheduler_perf's node-default.yaml: 4 cpu, 32Gi, 110 pods.
	return sim.NodeSpec{Name: fmt.Sprintf("node-%05d", i), CPU: resource.MustParse("4"), Memory: resource.MustParse("32Gi"), Pods: 110}
}

func zonedNode(i int) sim.NodeSpec {
	n := defaultNode(i)
	n.Zone = fmt.Sprintf("zone-%d", i%10)
	return n
}

// defaultPod is scheduler_perf's pod-default.yaml: one container
// requesting 100m cpu and 500Mi memory.
func defaultPod(prefix string) func(int) *corev1.Pod {
	return func(i int) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%05d", prefix, i)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "pause", Image: "registry.k8s.io/pause:3.10",
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("500Mi"),
				}},
			}}},
		}
	}
}

// antiAffinityPod is pod-with-pod-anti-affinity.yaml: color=green pods
// that refuse to share a node with each other.
func antiAffinityPod(prefix string) func(int) *corev1.Pod {
	base := defaultPod(prefix)
	return func(i int) *corev1.Pod {
		p := base(i)
		p.Labels = map[string]string{"color": "green"}
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"color": "green"}},
				TopologyKey:   corev1.LabelHostname,
			}},
		}}
		return p
	}
}

// spreadPod is pod-with-topology-spreading.yaml: color=blue pods spread
// over zones with maxSkew 5, DoNotSchedule.
func spreadPod(prefix string) func(int) *corev1.Pod {
	base := defaultPod(prefix)
	return func(i int) *corev1.Pod {
		p := base(i)
		p.Labels = map[string]string{"color": "blue"}
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 5, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"color": "blue"}},
		}}
		return p
	}
}

var workloads = []workload{
	{name: "basic", title: "SchedulingBasic", nodes: 5000, initPods: 1000, pods: 10000,
		node: defaultNode, initPod: defaultPod("init"), pod: defaultPod("pod"), reference: 680, target: 1000},
	{name: "antiaffinity", title: "SchedulingPodAntiAffinity", nodes: 1000, initPods: 100, pods: 800,
		node: defaultNode, initPod: antiAffinityPod("init"), pod: antiAffinityPod("pod"), reference: 60, target: 200},
	{name: "spread", title: "TopologySpreading", nodes: 1000, initPods: 1000, pods: 1000,
		node: zonedNode, initPod: defaultPod("init"), pod: spreadPod("pod"), reference: 460, target: 500},
}

type result struct {
	w          workload
	nodes      int
	pods       int
	created    time.Duration // first create to last create
	elapsed    time.Duration // first create to last bind
	cpu        float64       // cores used by the whole process meanwhile
	registered time.Duration
}

func (r result) rate() float64 { return float64(r.pods) / r.elapsed.Seconds() }

func main() { os.Exit(run()) }

func run() int {
	only := flag.String("only", "", "comma-separated workloads (basic, antiaffinity, spread); default all")
	scale := flag.Float64("scale", 1, "multiply every node and pod count by this (for a quick check)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of each measurement: cpu.out gives cpu-basic.out, ...")
	creators := flag.Int("creators", 16, "goroutines creating pods")
	flag.Parse()
	apiserver.TuneGC() // as cairn server runs
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	fmt.Printf("## cairn scheduler benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Printf("Command: `go run ./test/schedperf %s`; %d CPUs (GOMAXPROCS %d), GC percent %s.\n\n",
		strings.Join(os.Args[1:], " "), runtime.NumCPU(), runtime.GOMAXPROCS(0), gcPercent())
	fmt.Println("| workload | nodes | measured pods | pods/s | create phase | all bound after | CPU cores used | kube-scheduler reference | target (2 cores) |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	failed := false
	for _, w := range workloads {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), w.name) {
			continue
		}
		w.nodes = max(1, int(float64(w.nodes)**scale))
		w.initPods = int(float64(w.initPods) * *scale)
		w.pods = max(1, int(float64(w.pods)**scale))
		log.Info("workload", "name", w.title, "nodes", w.nodes, "initPods", w.initPods, "pods", w.pods)
		r, err := measure(ctx, w, *creators, *cpuProfile, log)
		if err != nil {
			log.Error("workload failed", "name", w.title, "err", err)
			failed = true
			continue
		}
		verdict := "met"
		if r.rate() < w.target {
			verdict = "NOT met"
		}
		fmt.Printf("| %s | %d | %d | **%.0f** | %.1f s | %.1f s | %.2f | %.0f pods/s | %.0f pods/s (%s) |\n",
			w.title, r.nodes, r.pods, r.rate(), r.created.Seconds(), r.elapsed.Seconds(), r.cpu, w.reference, w.target, verdict)
	}
	if failed {
		return 1
	}
	return 0
}

func measure(ctx context.Context, w workload, creators int, cpuProfile string, log *slog.Logger) (result, error) {
	dir, err := os.MkdirTemp("", "cairn-schedperf-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	srv, err := apiservertest.Launch(dir, nil)
	if err != nil {
		return result{}, err
	}
	defer srv.Close()
	admin, err := perfenv.Clientset(srv, "admin")
	if err != nil {
		return result{}, err
	}
	schedClient, err := perfenv.Clientset(srv, "scheduler")
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	specs := make([]sim.NodeSpec, w.nodes)
	for i := range specs {
		specs[i] = w.node(i)
	}
	nodes, err := sim.New(sim.Config{Client: admin, Nodes: specs, NoPods: true, Logger: quiet})
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	wg.Go(func() { _ = nodes.Run(ctx) })
	select {
	case <-nodes.Registered():
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	registered := time.Since(start)
	log.Info("nodes registered", "nodes", w.nodes, "took", registered.Round(time.Millisecond))

	s, err := scheduler.New(scheduler.Config{Client: schedClient, Logger: quiet})
	if err != nil {
		return result{}, err
	}
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			log.Error("scheduler", "err", err)
		}
	})
	if w.initPods > 0 {
		if err := createPods(ctx, admin, w.initPods, creators, w.initPod); err != nil {
			return result{}, fmt.Errorf("initial pods: %w", err)
		}
		if err := waitBound(ctx, s, w.initPods, 5*time.Minute); err != nil {
			return result{}, fmt.Errorf("initial pods: %w", err)
		}
		log.Info("initial pods bound", "pods", w.initPods)
	}

	if cpuProfile != "" {
		f, err := os.Create(strings.TrimSuffix(cpuProfile, ".out") + "-" + w.name + ".out")
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return result{}, err
		}
		defer pprof.StopCPUProfile()
	}
	cpu0 := perfenv.ProcessCPU()
	t0 := time.Now()
	if err := createPods(ctx, admin, w.pods, creators, w.pod); err != nil {
		return result{}, err
	}
	created := time.Since(t0)
	if err := waitBound(ctx, s, w.initPods+w.pods, 10*time.Minute); err != nil {
		return result{}, err
	}
	_, last := s.Bound()
	elapsed := last.Sub(t0)
	cpu := (perfenv.ProcessCPU() - cpu0).Seconds() / time.Since(t0).Seconds()
	return result{w: w, nodes: w.nodes, pods: w.pods, created: created, elapsed: elapsed, cpu: cpu, registered: registered}, nil
}

func createPods(ctx context.Context, c kubernetes.Interface, n, workers int, pod func(int) *corev1.Pod) error {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				if _, err := c.CoreV1().Pods("default").Create(ctx, pod(i), metav1.CreateOptions{}); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := firstErr.Load().(error); ok {
		return err
	}
	return ctx.Err()
}

// waitBound waits until the scheduler has had n bindings accepted.
func waitBound(ctx context.Context, s *scheduler.Scheduler, n int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		bound, _ := s.Bound()
		if bound >= int64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d pods bound after %s", bound, n, timeout)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gcPercent is the GC percent in force: TuneGC's, or GOGC's.
func gcPercent() string {
	if v := os.Getenv("GOGC"); v != "" {
		return v
	}
	return strconv.Itoa(apiserver.GCPercent)
}
