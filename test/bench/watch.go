package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

const (
	annSent  = "bench.cairn.dev/sent"  // wall-clock UnixNano just before the create request
	annIndex = "bench.cairn.dev/index" // 0..events-1
)

// watchResult is what the fan-out measured.
type watchResult struct {
	watchers    int
	transports  int
	events      int // objects written
	expected    int64
	delivered   int64
	duplicates  int64
	complete    int // watchers that got every event exactly once
	closedEarly int // watches that ended (or sent an error) before getting every event
	lat         []time.Duration
	writeLat    []time.Duration // the writer's create latencies
	writeErrors int
	setup       time.Duration // time to open every watch
	elapsed     time.Duration // first write to last delivery (or timeout)
	cpu         float64
	otherCPU    float64
	samples     []string
}

func (r *watchResult) missing() int64 { return r.expected - r.delivered }

// benchWatcher is one watch and what it received.
type benchWatcher struct {
	w      watch.Interface
	lat    []time.Duration
	seen   []bool
	got    int
	dups   int
	early  bool
	errMsg string
}

// transportConfigs returns n copies of cfg that client-go will not share a
// transport between: each has its own Dial function (client-go caches
// transports by TLS config, and a dialer makes a config its own). Watchers
// are spread across them so that no single HTTP/2 connection carries them
// all, as would be the case for watches from several controllers.
func transportConfigs(cfg *rest.Config, n int) []*rest.Config {
	out := make([]*rest.Config, n)
	for i := range out {
		c := rest.CopyConfig(cfg)
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		c.Dial = d.DialContext
		out[i] = c
	}
	return out
}

// watchFanOut opens opts.watchers watches on namespace watch, then one
// writer creates opts.watchEvents ConfigMaps at opts.watchRate per second,
// each stamped with its creation wall-clock time; every watcher measures
// receive time minus that stamp.
func (h *harness) watchFanOut(ctx context.Context) (*watchResult, error) {
	o := h.opts
	res := &watchResult{watchers: o.watchers, transports: min(o.watchConns, o.watchers), events: o.watchEvents,
		expected: int64(o.watchers) * int64(o.watchEvents)}
	list, err := h.cs.CoreV1().ConfigMaps(nsWatch).List(ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		return nil, fmt.Errorf("watch: list: %w", err)
	}
	startRV := list.ResourceVersion
	var clients []kubernetes.Interface
	for _, c := range transportConfigs(h.cfg, res.transports) {
		cs, err := kubernetes.NewForConfig(c)
		if err != nil {
			return nil, err
		}
		clients = append(clients, cs)
	}

	watchCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	ws := make([]*benchWatcher, o.watchers)
	var openWG sync.WaitGroup
	var openErr error
	var openMu sync.Mutex
	sem := make(chan struct{}, 32)
	setupStart := time.Now()
	for i := range ws {
		ws[i] = &benchWatcher{lat: make([]time.Duration, 0, o.watchEvents), seen: make([]bool, o.watchEvents)}
		openWG.Add(1)
		sem <- struct{}{}
		go func(bw *benchWatcher, cs kubernetes.Interface) {
			defer openWG.Done()
			defer func() { <-sem }()
			// The watch starts at the list's resourceVersion, so every event
			// written after it reaches the watcher however late it opens.
			w, err := cs.CoreV1().ConfigMaps(nsWatch).Watch(watchCtx, metav1.ListOptions{ResourceVersion: startRV})
			if err != nil {
				openMu.Lock()
				if openErr == nil {
					openErr = err
				}
				openMu.Unlock()
				return
			}
			bw.w = w
		}(ws[i], clients[i%len(clients)])
	}
	openWG.Wait()
	res.setup = time.Since(setupStart)
	if openErr != nil {
		for _, bw := range ws {
			if bw.w != nil {
				bw.w.Stop()
			}
		}
		return nil, fmt.Errorf("watch: open: %w", openErr)
	}
	h.log.Info("watchers open", "watchers", o.watchers, "transports", res.transports, "took", res.setup.Round(time.Millisecond))

	// Each watcher reads its channel until it has every event; all
	// bookkeeping is into its own pre-allocated slices.
	var doneWG, exitWG sync.WaitGroup
	for _, bw := range ws {
		doneWG.Add(1)
		exitWG.Add(1)
		go func(bw *benchWatcher) {
			defer exitWG.Done()
			signalled := false
			signal := func() {
				if !signalled {
					signalled = true
					doneWG.Done()
				}
			}
			defer signal()
			for ev := range bw.w.ResultChan() {
				now := time.Now()
				if ev.Type != watch.Added {
					if ev.Type == watch.Error && bw.got < o.watchEvents {
						bw.early = true
						bw.errMsg = fmt.Sprintf("watch error event: %v", ev.Object)
					}
					continue
				}
				cm, ok := ev.Object.(*corev1.ConfigMap)
				if !ok {
					continue
				}
				sent, err1 := strconv.ParseInt(cm.Annotations[annSent], 10, 64)
				idx, err2 := strconv.Atoi(cm.Annotations[annIndex])
				if err1 != nil || err2 != nil || idx < 0 || idx >= len(bw.seen) {
					continue
				}
				if bw.seen[idx] {
					bw.dups++
					continue
				}
				bw.seen[idx] = true
				bw.lat = append(bw.lat, time.Duration(now.UnixNano()-sent))
				bw.got++
				if bw.got == o.watchEvents {
					signal()
				}
			}
			if bw.got < o.watchEvents && watchCtx.Err() == nil {
				bw.early = true
			}
		}(bw)
	}

	cpu := startCPU()
	writeStart := time.Now()
	interval := time.Duration(float64(time.Second) / o.watchRate)
	cms := h.cs.CoreV1().ConfigMaps(nsWatch)
	res.writeLat = make([]time.Duration, 0, o.watchEvents)
	for i := range o.watchEvents {
		if ctx.Err() != nil {
			break
		}
		if d := time.Until(writeStart.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		cm := h.newConfigMap(nsWatch, h.nextName())
		t0 := time.Now()
		cm.Annotations = map[string]string{annSent: strconv.FormatInt(t0.UnixNano(), 10), annIndex: strconv.Itoa(i)}
		if _, err := cms.Create(ctx, cm, metav1.CreateOptions{}); err != nil {
			res.writeErrors++
			if len(res.samples) < 3 {
				res.samples = append(res.samples, "write: "+err.Error())
			}
			continue
		}
		res.writeLat = append(res.writeLat, time.Since(t0))
	}
	allDone := make(chan struct{})
	go func() { doneWG.Wait(); close(allDone) }()
	select {
	case <-allDone:
	case <-time.After(30 * time.Second):
		h.log.Warn("watch: not every watcher got every event within 30s of the last write")
	case <-ctx.Done():
	}
	res.elapsed = time.Since(writeStart)
	res.cpu, res.otherCPU = cpu.usage()
	cancel()
	for _, bw := range ws {
		bw.w.Stop()
	}
	exitWG.Wait()

	parts := make([][]time.Duration, len(ws))
	for i, bw := range ws {
		parts[i] = bw.lat
		res.delivered += int64(bw.got)
		res.duplicates += int64(bw.dups)
		if bw.got == o.watchEvents && bw.dups == 0 {
			res.complete++
		}
		if bw.early {
			res.closedEarly++
			if bw.errMsg != "" && len(res.samples) < 5 {
				res.samples = append(res.samples, bw.errMsg)
			}
		}
	}
	res.lat = mergeSorted(parts)
	slices.Sort(res.writeLat)
	return res, nil
}

func (h *harness) printWatch(out io.Writer, r *watchResult) {
	fmt.Fprintf(out, "### watch\n\n%d watchers of namespace %s over %d transports (opened in %s); one writer creates %d ConfigMaps at %g/s. "+
		"Latency = watcher receive time - creation time stamped in the object.\n\n",
		r.watchers, nsWatch, r.transports, r.setup.Round(time.Millisecond), r.events, h.opts.watchRate)
	t := table{header: []string{"watchers", "events", "delivered", "every watcher got every event", "p50", "p90", "p99", "max", "writer create p99", "CPU", "other CPU"}}
	every := "yes"
	if r.complete != r.watchers {
		every = fmt.Sprintf("no: %d of %d (%d missing, %d duplicates, %d ended early)",
			r.complete, r.watchers, r.missing(), r.duplicates, r.closedEarly)
	}
	t.add(strconv.Itoa(r.watchers), strconv.Itoa(r.events),
		fmt.Sprintf("%s / %s", num(float64(r.delivered)), num(float64(r.expected))), every,
		ms(percentile(r.lat, .5)), ms(percentile(r.lat, .9)), ms(percentile(r.lat, .99)), ms(maxOf(r.lat)),
		ms(percentile(r.writeLat, .99)), cores(r.cpu), cores(r.otherCPU))
	t.write(out)
	noteDisturbed(out, r.otherCPU)
	if len(r.samples) > 0 {
		fmt.Fprintln(out, "Watch errors:")
		fmt.Fprintln(out)
		for _, s := range r.samples {
			fmt.Fprintf(out, "- `%s`\n", s)
		}
		fmt.Fprintln(out)
	}
}
