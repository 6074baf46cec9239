package nodee2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// wave creates n pods on node, paced at rate pods per second (0: all at
// once, 10 at a time), and returns each one's latency from the start of
// its create call to a watch seeing it Running with every container
// ready. It deletes the pods afterwards unless keep is set.
func wave(tb testing.TB, node, prefix string, n int, rate float64, keep bool) []time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sel := "wave=" + prefix
	w, err := shared.client.CoreV1().Pods("default").Watch(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		tb.Fatal(err)
	}
	defer w.Stop()
	var mu sync.Mutex
	created := map[string]time.Time{}
	lat := map[string]time.Duration{}
	go func() {
		sem := make(chan struct{}, 10)
		for i := range n {
			if rate > 0 {
				time.Sleep(time.Duration(float64(time.Second) / rate))
			}
			sem <- struct{}{}
			go func() {
				defer func() { <-sem }()
				p := podOn(node, fmt.Sprintf("%s-%03d", prefix, i), testapp("app", "serve", "--port", "8080"))
				p.Labels = map[string]string{"wave": prefix}
				mu.Lock()
				created[p.Name] = time.Now()
				mu.Unlock()
				if _, err := shared.client.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
					tb.Errorf("creating %s: %v", p.Name, err)
				}
			}()
		}
	}()
	for len(lat) < n {
		select {
		case <-ctx.Done():
			tb.Fatalf("%d of %d pods Running after 5 minutes", len(lat), n)
		case ev, ok := <-w.ResultChan():
			if !ok {
				tb.Fatal("watch closed")
			}
			if ev.Type != watch.Modified && ev.Type != watch.Added {
				continue
			}
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || p.Status.Phase != corev1.PodRunning {
				continue
			}
			mu.Lock()
			if _, seen := lat[p.Name]; !seen {
				lat[p.Name] = time.Since(created[p.Name])
			}
			mu.Unlock()
		}
	}
	if !keep {
		deleteWave(tb, prefix)
	}
	out := make([]time.Duration, 0, n)
	for _, d := range lat {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

func deleteWave(tb testing.TB, prefix string) {
	ctx := context.Background()
	sel := metav1.ListOptions{LabelSelector: "wave=" + prefix}
	one := int64(1)
	if err := shared.client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &one}, sel); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		pods, err := shared.client.CoreV1().Pods("default").List(ctx, sel)
		if err == nil && len(pods.Items) == 0 {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	tb.Fatalf("wave %s not deleted within 2 minutes", prefix)
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// BenchmarkPodStartup: 50 pods of a present image on one real node,
// created → Running observed through a watch, as Kubernetes' pod startup
// SLO measures it (p99 ≤ 5 s; cairn's target p99 ≤ 1 s). Once all at
// once, once paced at 5 pods/s. Run with -benchtime 1x.
func BenchmarkPodStartup(b *testing.B) {
	for _, tc := range []struct {
		name string
		rate float64
	}{{"burst", 0}, {"5per_s", 5}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := range b.N {
				agentCPU, ctrdCPU := cpuSeconds(b, shared.nodes["e2e-a"].cmd.Process.Pid), containerdCPU(shared.nodes["e2e-a"])
				lat := wave(b, "e2e-a", fmt.Sprintf("start-%s-%d", strings.ReplaceAll(tc.name, "_", ""), i), 50, tc.rate, true)
				agentCPU = cpuSeconds(b, shared.nodes["e2e-a"].cmd.Process.Pid) - agentCPU
				ctrdCPU = containerdCPU(shared.nodes["e2e-a"]) - ctrdCPU
				deleteWave(b, fmt.Sprintf("start-%s-%d", strings.ReplaceAll(tc.name, "_", ""), i))
				fmt.Fprintf(os.Stderr, "pod startup %-7s CPU while starting: agent %.2f s, containerd %.2f s\n", tc.name, agentCPU, ctrdCPU)
				b.ReportMetric(percentile(lat, 0.5).Seconds(), "p50_s")
				b.ReportMetric(percentile(lat, 0.99).Seconds(), "p99_s")
				b.ReportMetric(lat[len(lat)-1].Seconds(), "max_s")
				fmt.Fprintf(os.Stderr, "pod startup %-7s 50 pods: p50 %v  p90 %v  p99 %v  max %v\n", tc.name,
					percentile(lat, 0.5).Round(time.Millisecond), percentile(lat, 0.9).Round(time.Millisecond),
					percentile(lat, 0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
			}
		})
	}
}

// BenchmarkAgentRSS: the agent's resident memory with 100 running pods
// (target under 60 MiB), split into anonymous memory (its heap and stacks)
// and file-backed pages (the mapped binary).
func BenchmarkAgentRSS(b *testing.B) {
	n := shared.nodes["e2e-b"]
	for i := range b.N {
		before := memory(b, n.cmd.Process.Pid)
		prefix := fmt.Sprintf("rss-%d", i)
		wave(b, "e2e-b", prefix, 100, 0, true)
		time.Sleep(15 * time.Second) // a resync period's worth of syncs and probes
		after := memory(b, n.cmd.Process.Pid)
		b.ReportMetric(after.rss, "rss_MiB")
		b.ReportMetric(after.anon, "anon_MiB")
		fmt.Fprintf(os.Stderr, "agent memory, no pods:        VmRSS %.1f MiB (anonymous %.1f, file %.1f)\n", before.rss, before.anon, before.file)
		fmt.Fprintf(os.Stderr, "agent memory, 100 running pods: VmRSS %.1f MiB (anonymous %.1f, file %.1f)\n", after.rss, after.anon, after.file)
		deleteWave(b, prefix)
	}
}

// cpuSeconds is a process's user+system CPU time.
func cpuSeconds(tb testing.TB, pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// containerdCPU is the CPU time of the node's containerd daemon (shims
// and runc, short-lived or per container, are not counted).
func containerdCPU(n *node) float64 {
	out, err := exec.Command("pgrep", "-f", "containerd --config "+n.dir).Output()
	if err != nil {
		return 0
	}
	var total float64
	for _, f := range strings.Fields(string(out)) {
		pid, _ := strconv.Atoi(f)
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		u, _ := strconv.ParseFloat(fields[11], 64)
		st, _ := strconv.ParseFloat(fields[12], 64)
		total += (u + st) / 100
	}
	return total
}

type mem struct{ rss, anon, file float64 } // MiB

// memory reads a process's VmRSS, RssAnon and RssFile.
func memory(tb testing.TB, pid int) mem {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	var m mem
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			m.rss = float64(kb) / 1024
		case "RssAnon":
			m.anon = float64(kb) / 1024
		case "RssFile":
			m.file = float64(kb) / 1024
		}
	}
	if m.rss == 0 {
		tb.Fatalf("no VmRSS for pid %d", pid)
	}
	return m
}
