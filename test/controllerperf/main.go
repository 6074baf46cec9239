// Command controllerperf measures cairn's controller manager the way the
// issue asks: a Deployment scaled from 0 to 10,000 replicas on 1,000
// simulated nodes, with the real API server, embedded etcd, the
// Deployment and ReplicaSet controllers, the scheduler and the simulated
// kubelets (which run every pod to Running and Ready) in one process. It
// reports how fast pods were created (first to last pod create the API
// server accepted), when all were bound, and when the Deployment reported
// all of them available.
//
//	go run ./test/controllerperf [-nodes 1000] [-replicas 10000] [-cpuprofile cpu.out]
//
// Everything shares the machine's cores.
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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/manager"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
	"github.com/cairn-dev/cairn/test/perfenv"
)

func main() { os.Exit(run()) }

type result struct {
	firstCreate, lastCreate time.Duration // after the scale
	bound, available        time.Duration
	cpu                     float64
}

func run() int {
	nodes := flag.Int("nodes", 1000, "simulated nodes")
	replicas := flag.Int("replicas", 10000, "replicas the Deployment is scaled to")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the measurement")
	flag.Parse()
	apiserver.TuneGC()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	r, err := measure(ctx, *nodes, *replicas, *cpuProfile, log)
	if err != nil {
		log.Error("benchmark failed", "err", err)
		return 1
	}
	created := r.lastCreate - r.firstCreate
	rate := float64(*replicas) / r.lastCreate.Seconds()
	verdict := "met"
	if rate < 1000 {
		verdict = "NOT met"
	}
	fmt.Printf("## cairn controller manager benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Printf("Command: `go run ./test/controllerperf %s`; %d CPUs (GOMAXPROCS %d).\n\n",
		strings.Join(os.Args[1:], " "), runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Println("| workload | nodes | replicas | pod creates/s (scale to last create) | creates, first to last | all bound after | all available after | CPU cores used | target |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	fmt.Printf("| Deployment 0 → %d | %d | %d | **%.0f** | %.1f s | %.1f s | %.1f s | %.2f | 1000 creates/s (%s) |\n",
		*replicas, *nodes, *replicas, rate, created.Seconds(), r.bound.Seconds(), r.available.Seconds(), r.cpu, verdict)
	return 0
}

func measure(ctx context.Context, nNodes, replicas int, cpuProfile string, log *slog.Logger) (result, error) {
	dir, err := os.MkdirTemp("", "cairn-controllerperf-")
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
	cmClient, err := perfenv.Clientset(srv, "controller-manager")
	if err != nil {
		return result{}, err
	}
	schedClient, err := perfenv.Clientset(srv, "scheduler")
	if err != nil {
		return result{}, err
	}
	cmCfg, err := srv.Config("controller-manager")
	if err != nil {
		return result{}, err
	}
	dyn, err := dynamic.NewForConfig(cmCfg)
	if err != nil {
		return result{}, err
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))

	specs := make([]sim.NodeSpec, nNodes)
	for i := range specs {
		// scheduler_perf's node-default.yaml: 4 cpu, 32Gi, 110 pods.
		specs[i] = sim.NodeSpec{Name: fmt.Sprintf("node-%05d", i), CPU: resource.MustParse("4"), Memory: resource.MustParse("32Gi"), Pods: 110}
	}
	nodes, err := sim.New(sim.Config{Client: admin, Nodes: specs, Logger: quiet})
	if err != nil {
		return result{}, err
	}
	wg.Go(func() { _ = nodes.Run(ctx) })
	select {
	case <-nodes.Registered():
	case <-ctx.Done():
		return result{}, ctx.Err()
	}
	log.Info("nodes registered", "nodes", nNodes)

	s, err := scheduler.New(scheduler.Config{Client: schedClient, Logger: quiet})
	if err != nil {
		return result{}, err
	}
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			log.Error("scheduler", "err", err)
		}
	})
	m, err := manager.New(manager.Config{Client: cmClient, Dynamic: dyn, Logger: quiet,
		Controllers: []string{"deployment", "replicaset"}})
	if err != nil {
		return result{}, err
	}
	wg.Go(func() {
		if err := m.Run(ctx); err != nil {
			log.Error("controller manager", "err", err)
		}
	})

	// Pod creations as the API server accepted them, seen through a watch.
	var createdPods atomic.Int64
	var firstCreate, lastCreate atomic.Int64
	var t0 time.Time
	watchFactory := informers.NewSharedInformerFactory(admin, 0)
	_, _ = watchFactory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: func(any) {
		since := int64(time.Since(t0))
		if createdPods.Add(1) == 1 {
			firstCreate.Store(since)
		}
		lastCreate.Store(since)
	}})
	watchFactory.Start(ctx.Done())
	watchFactory.WaitForCacheSync(ctx.Done())
	// Shutdown waits for the informers, which stop when ctx ends.
	defer func() { cancel(); watchFactory.Shutdown() }()

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "scale"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(int32(0)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "scale"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "scale"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "pause", Image: "registry.k8s.io/pause:3.10",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("100Mi"),
					}},
				}}},
			},
		},
	}
	if _, err := admin.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		return result{}, err
	}
	if err := waitFor(ctx, 2*time.Minute, "the Deployment's ReplicaSet", func() (bool, error) {
		got, err := admin.AppsV1().Deployments("default").Get(ctx, "scale", metav1.GetOptions{})
		return err == nil && got.Status.ObservedGeneration == got.Generation, err
	}); err != nil {
		return result{}, err
	}

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
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
	t0 = time.Now()
	scale, err := admin.AppsV1().Deployments("default").GetScale(ctx, "scale", metav1.GetOptions{})
	if err != nil {
		return result{}, err
	}
	scale.Spec.Replicas = int32(replicas)
	if _, err := admin.AppsV1().Deployments("default").UpdateScale(ctx, "scale", scale, metav1.UpdateOptions{}); err != nil {
		return result{}, err
	}
	var r result
	if err := waitFor(ctx, 10*time.Minute, "all pods created", func() (bool, error) {
		return createdPods.Load() >= int64(replicas), nil
	}); err != nil {
		return result{}, err
	}
	r.firstCreate, r.lastCreate = time.Duration(firstCreate.Load()), time.Duration(lastCreate.Load())
	log.Info("pods created", "pods", replicas, "after", r.lastCreate.Round(time.Millisecond))
	if err := waitFor(ctx, 10*time.Minute, "all pods bound", func() (bool, error) {
		n, _ := s.Bound()
		return n >= int64(replicas), nil
	}); err != nil {
		return result{}, err
	}
	_, last := s.Bound()
	r.bound = last.Sub(t0)
	log.Info("pods bound", "after", r.bound.Round(time.Millisecond))
	if err := waitFor(ctx, 10*time.Minute, "all replicas available", func() (bool, error) {
		got, err := admin.AppsV1().Deployments("default").Get(ctx, "scale", metav1.GetOptions{})
		return err == nil && got.Status.AvailableReplicas == int32(replicas), err
	}); err != nil {
		return result{}, err
	}
	r.available = time.Since(t0)
	r.cpu = (perfenv.ProcessCPU() - cpu0).Seconds() / time.Since(t0).Seconds()
	log.Info("all available", "after", r.available.Round(time.Millisecond), "cpu", r.cpu)
	return r, nil
}

// waitFor polls cond every 20 ms until it holds.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s (last error: %v)", timeout, what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
