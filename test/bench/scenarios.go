package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// Scenario names, in the order they run.
var scenarioNames = []string{"create", "get", "update", "list", "watch"}

const (
	nsBench = "bench" // create, get, update and the paged list
	nsList  = "list"  // the full-list objects, a fixed number
	nsWatch = "watch" // the watch fan-out objects
)

type options struct {
	only        map[string]bool
	clients     int
	duration    time.Duration
	watchers    int
	watchEvents int
	watchRate   float64 // writes per second
	watchConns  int     // transports the watchers are spread across
	listSize    int     // objects in the full list
	pageSize    int64
	transports  int // client-go transports the create, get, update and list clients are spread across
	payload     int // bytes of data per ConfigMap
	minObjects  int // objects in namespace bench before get, update and list (seeded if create made fewer)
	settle      time.Duration
	// waitIdle is how long to wait, before each measurement, for the rest
	// of the machine to use less than idleCores; 0 = do not wait.
	waitIdle  time.Duration
	idleCores float64
	retries   int // measurements repeated when disturbed (with waitIdle)
	// cpuProfile, when set, names the CPU profile files, one per
	// measurement: "cpu.out" gives cpu-create.out, cpu-get.out, ...
	cpuProfile string
}

func (o options) runs(name string) bool { return len(o.only) == 0 || o.only[name] }

// harness drives the scenarios through client-go against one server.
type harness struct {
	opts    options
	log     *slog.Logger
	cfg     *rest.Config
	cs      kubernetes.Interface   // one clientset, one transport, as a controller has
	workers []kubernetes.Interface // the clientsets of the load clients: cs, or opts.transports separate ones
	payload string
	prefix  string // of object names, unique per harness (tests share a server)
	seq     atomic.Int64
	// names are those of every ConfigMap in namespace bench; held are up to
	// heldPerClient*clients of them in full, latest known version, for
	// update. Holding every created object would grow the process's live
	// heap, and so the garbage collector's work, well beyond a real
	// client's, at the server's expense.
	names []string
	held  []*corev1.ConfigMap
	// metrics is the server's registry, read around each measurement (nil: not).
	metrics prometheus.Gatherer
}

func newHarness(cfg *rest.Config, opts options, log *slog.Logger) (*harness, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	p := make([]byte, opts.payload)
	for i := range p {
		p[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[rand.IntN(36)]
	}
	h := &harness{opts: opts, log: log, cfg: cfg, cs: cs, payload: string(p), workers: []kubernetes.Interface{cs},
		prefix: fmt.Sprintf("cm-%06x-", rand.IntN(1<<24))}
	if opts.transports > 1 {
		h.workers = nil
		for _, c := range transportConfigs(cfg, opts.transports) {
			wcs, err := kubernetes.NewForConfig(c)
			if err != nil {
				return nil, err
			}
			h.workers = append(h.workers, wcs)
		}
	}
	return h, nil
}

// row is one measured line of a table.
type row struct {
	scenario   string
	label      string
	clients    int
	ops        int64 // successful requests
	errors     int64 // unexpected errors
	conflicts  int64 // 409s of update (expected under contention, refetched)
	items      int64 // list items received
	elapsed    time.Duration
	lat        []time.Duration // sorted latencies of successful requests
	cpu        float64         // cores used by the whole process
	otherCPU   float64         // cores used by other processes meanwhile (-1 unknown)
	errSamples []string
	server     metricsSnapshot // the server's latency histograms over the measurement
}

func (r row) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

func (r row) errorRate() float64 {
	if r.ops+r.errors == 0 {
		return 0
	}
	return float64(r.errors) / float64(r.ops+r.errors)
}

// report is what a run measured.
type report struct {
	rows  []row
	watch *watchResult
}

func (r *report) find(scenario string) *row {
	for i := range r.rows {
		if r.rows[i].scenario == scenario {
			return &r.rows[i]
		}
	}
	return nil
}

func (h *harness) newConfigMap(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "cairn-bench"}},
		Data:       map[string]string{"payload": h.payload},
	}
}

// configMaps returns the ConfigMap clients of the load clients for ns;
// client w uses element w%len.
func (h *harness) configMaps(ns string) []typedcorev1.ConfigMapInterface {
	out := make([]typedcorev1.ConfigMapInterface, len(h.workers))
	for i, cs := range h.workers {
		out[i] = cs.CoreV1().ConfigMaps(ns)
	}
	return out
}

func (h *harness) nextName() string { return h.prefix + strconv.FormatInt(h.seq.Add(1), 10) }

func (h *harness) ensureNamespace(ctx context.Context, name string) error {
	_, err := h.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// opFunc performs one request of worker w, its i-th, returning the items it
// received (lists) and its error.
type opFunc func(ctx context.Context, w, i int) (items int, err error)

// errConflict marks an update that met a 409 and refetched.
var errConflict = errors.New("conflict")

type workerStats struct {
	lat       []time.Duration
	ops       int64
	errors    int64
	conflicts int64
	items     int64
	samples   []string
	_         [64]byte // keep workers' counters off each other's cache lines
}

// runWorkers runs op on n goroutines until d has passed (requests in flight
// finish; none is cancelled) and collects latencies of successful requests.
func runWorkers(ctx context.Context, scenario, label string, n int, d time.Duration, op opFunc) row {
	// Latency slices are pre-allocated for a generous 40,000 requests/s in
	// total, so appending does not allocate during the run.
	perWorker := int(d.Seconds()*40000)/n + 1024
	stats := make([]*workerStats, n)
	for w := range stats {
		stats[w] = &workerStats{lat: make([]time.Duration, 0, perWorker)}
	}
	runtime.GC()
	cpu := startCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range n {
		wg.Add(1)
		go func(st *workerStats) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && time.Now().Before(deadline); i++ {
				t0 := time.Now()
				items, err := op(ctx, w, i)
				lat := time.Since(t0)
				switch {
				case err == nil:
					st.lat = append(st.lat, lat)
					st.ops++
					st.items += int64(items)
				case errors.Is(err, errConflict):
					st.conflicts++
				default:
					st.errors++
					if len(st.samples) < 3 {
						st.samples = append(st.samples, err.Error())
					}
				}
			}
		}(stats[w])
	}
	wg.Wait()
	r := row{scenario: scenario, label: label, clients: n, elapsed: time.Since(start)}
	r.cpu, r.otherCPU = cpu.usage()
	parts := make([][]time.Duration, n)
	for w, st := range stats {
		parts[w] = st.lat
		r.ops += st.ops
		r.errors += st.errors
		r.conflicts += st.conflicts
		r.items += st.items
		if len(r.errSamples) < 5 {
			r.errSamples = append(r.errSamples, st.samples...)
		}
	}
	r.lat = mergeSorted(parts)
	return r
}

// runAll runs the selected scenarios in order, printing a table for each
// to out as it finishes.
func (h *harness) runAll(ctx context.Context, out io.Writer) (*report, error) {
	for _, ns := range []string{nsBench, nsList, nsWatch} {
		if err := h.ensureNamespace(ctx, ns); err != nil {
			return nil, fmt.Errorf("namespace %s: %w", ns, err)
		}
	}
	rep := &report{}
	if h.opts.runs("create") {
		r := h.measure(ctx, "create", h.create)
		rep.rows = append(rep.rows, r)
		h.printOps(out, "create", "1 KiB ConfigMaps created", r)
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if h.opts.runs("get") || h.opts.runs("update") || h.opts.runs("list") {
		need := max(h.opts.minObjects, 20*h.opts.clients)
		if len(h.names) < need || len(h.held) < h.opts.clients {
			n := max(need-len(h.names), h.opts.clients)
			h.log.Info("seeding", "namespace", nsBench, "objects", n)
			objs, err := h.seed(ctx, nsBench, n)
			if err != nil {
				return rep, err
			}
			h.keep(objs)
		}
	}
	if h.opts.runs("get") {
		r := h.measure(ctx, "get", h.get)
		rep.rows = append(rep.rows, r)
		h.printOps(out, "get", fmt.Sprintf("GET of random ConfigMaps (quorum read) out of %s", num(float64(len(h.names)))), r)
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if h.opts.runs("update") {
		r := h.measure(ctx, "update", h.update)
		rep.rows = append(rep.rows, r)
		h.printOps(out, "update", "each client updates its own ConfigMaps with the resourceVersion it holds", r)
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if h.opts.runs("list") {
		h.log.Info("seeding", "namespace", nsList, "objects", h.opts.listSize)
		if _, err := h.seed(ctx, nsList, h.opts.listSize); err != nil {
			return rep, err
		}
		rows := []row{
			h.measure(ctx, "list paged", h.listPaged),
			h.measure(ctx, "list full, 1 client", func(ctx context.Context) row { return h.listFull(ctx, 1) }),
		}
		if h.opts.clients > 1 {
			rows = append(rows, h.measure(ctx, "list full", func(ctx context.Context) row { return h.listFull(ctx, h.opts.clients) }))
		}
		rep.rows = append(rep.rows, rows...)
		h.printLists(out, rows)
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	if h.opts.runs("watch") {
		for attempt := 0; ; attempt++ {
			h.settle(ctx)
			stop := h.startProfile("watch")
			wr, err := h.watchFanOut(ctx)
			stop()
			if err != nil {
				return rep, err
			}
			rep.watch = wr
			if !h.repeat(ctx, "watch", attempt, wr.otherCPU) {
				break
			}
		}
		h.printWatch(out, rep.watch)
	}
	return rep, ctx.Err()
}

// measure runs one measurement after settle; when -wait-idle is on and
// other processes disturbed it, it measures again (up to opts.retries times).
func (h *harness) measure(ctx context.Context, what string, f func(context.Context) row) row {
	for attempt := 0; ; attempt++ {
		h.settle(ctx)
		stop := h.startProfile(what)
		before := snapshotMetrics(h.metrics)
		r := f(ctx)
		r.server = snapshotMetrics(h.metrics).delta(before)
		stop()
		if !h.repeat(ctx, what, attempt, r.otherCPU) {
			return r
		}
	}
}

// startProfile starts a CPU profile of the whole process for one
// measurement and returns the function that stops it.
func (h *harness) startProfile(what string) (stop func()) {
	if h.opts.cpuProfile == "" {
		return func() {}
	}
	ext := filepath.Ext(h.opts.cpuProfile)
	path := strings.TrimSuffix(h.opts.cpuProfile, ext) + "-" + strings.ReplaceAll(strings.ReplaceAll(what, ",", ""), " ", "-") + ext
	f, err := os.Create(path)
	if err != nil {
		h.log.Error("cpu profile", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		h.log.Error("cpu profile", "err", err)
		f.Close()
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			h.log.Error("cpu profile", "err", err)
		}
		h.log.Info("CPU profile written", "file", path)
	}
}

func (h *harness) repeat(ctx context.Context, what string, attempt int, others float64) bool {
	if h.opts.waitIdle <= 0 || others < h.opts.idleCores || attempt >= h.opts.retries || ctx.Err() != nil {
		return false
	}
	h.log.Info("other processes disturbed the measurement, repeating it", "what", what, "otherCores", fmt.Sprintf("%.2f", others))
	return true
}

// settle gives the previous scenario's background work (etcd commits, GC)
// a moment to finish so it does not count against the next one.
func (h *harness) settle(ctx context.Context) {
	runtime.GC()
	time.Sleep(h.opts.settle)
	if h.opts.waitIdle <= 0 {
		return
	}
	deadline := time.Now().Add(h.opts.waitIdle)
	for ctx.Err() == nil {
		m := startCPU()
		time.Sleep(3 * time.Second)
		_, others := m.usage()
		if others < h.opts.idleCores {
			return
		}
		if time.Now().After(deadline) {
			h.log.Warn("machine still busy, measuring anyway", "otherCores", fmt.Sprintf("%.2f", others))
			return
		}
		h.log.Info("waiting for the machine to go idle", "otherCores", fmt.Sprintf("%.2f", others))
	}
}

// seed creates n ConfigMaps in ns with the configured number of clients.
func (h *harness) seed(ctx context.Context, ns string, n int) ([]*corev1.ConfigMap, error) {
	objs := make([]*corev1.ConfigMap, n)
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range max(1, min(h.opts.clients, n)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				out, err := h.cs.CoreV1().ConfigMaps(ns).Create(ctx, h.newConfigMap(ns, h.nextName()), metav1.CreateOptions{})
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("seed %s: %w", ns, err) })
					return
				}
				objs[i] = out
			}
		}()
	}
	wg.Wait()
	if firstErr == nil {
		firstErr = ctx.Err()
	}
	return objs, firstErr
}

// heldPerClient is how many full objects per client update cycles through.
const heldPerClient = 40

// keep records created objects of namespace bench.
func (h *harness) keep(objs []*corev1.ConfigMap) {
	for _, o := range objs {
		h.names = append(h.names, o.Name)
		if len(h.held) < heldPerClient*h.opts.clients {
			h.held = append(h.held, o)
		}
	}
}

// create: every client creates 1 KiB ConfigMaps as fast as it can.
func (h *harness) create(ctx context.Context) row {
	n := h.opts.clients
	owned := make([][]*corev1.ConfigMap, n) // the first heldPerClient of each client
	names := make([][]string, n)
	cms := h.configMaps(nsBench)
	r := runWorkers(ctx, "create", "create", n, h.opts.duration, func(ctx context.Context, w, _ int) (int, error) {
		out, err := cms[w%len(cms)].Create(ctx, h.newConfigMap(nsBench, h.nextName()), metav1.CreateOptions{})
		if err != nil {
			return 0, err
		}
		if len(owned[w]) < heldPerClient {
			owned[w] = append(owned[w], out)
		} else {
			names[w] = append(names[w], out.Name)
		}
		return 0, nil
	})
	for w := range owned {
		h.keep(owned[w])
	}
	for w := range names {
		h.names = append(h.names, names[w]...)
	}
	return r
}

// get: every client GETs random existing ConfigMaps (resourceVersion "",
// a quorum read, as client-go's Get does).
func (h *harness) get(ctx context.Context) row {
	cms := h.configMaps(nsBench)
	names := h.names
	return runWorkers(ctx, "get", "get", h.opts.clients, h.opts.duration, func(ctx context.Context, w, _ int) (int, error) {
		_, err := cms[w%len(cms)].Get(ctx, names[rand.IntN(len(names))], metav1.GetOptions{})
		return 0, err
	})
}

// update: client w owns the held objects w, w+n, w+2n, ... and updates
// them in turn with the object (and resourceVersion) it last got back; on a
// 409 it refetches.
func (h *harness) update(ctx context.Context) row {
	n := h.opts.clients
	all := h.configMaps(nsBench)
	objs := h.held
	perWorker := len(objs) / n
	return runWorkers(ctx, "update", "update", n, h.opts.duration, func(ctx context.Context, w, i int) (int, error) {
		cms := all[w%len(all)]
		idx := w + n*(i%perWorker)
		cm := objs[idx]
		cm.Data["seq"] = strconv.Itoa(i)
		out, err := cms.Update(ctx, cm, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			cur, gerr := cms.Get(ctx, cm.Name, metav1.GetOptions{})
			if gerr != nil {
				return 0, gerr
			}
			objs[idx] = cur
			return 0, errConflict
		}
		if err != nil {
			return 0, err
		}
		objs[idx] = out
		return 0, nil
	})
}

// listPaged: every client lists namespace bench in pages of pageSize,
// following continue tokens to the end and starting over.
func (h *harness) listPaged(ctx context.Context) row {
	n := h.opts.clients
	cms := h.configMaps(nsBench)
	cont := make([]string, n)
	label := fmt.Sprintf("paged, limit %d, %s objects", h.opts.pageSize, num(float64(len(h.names))))
	return runWorkers(ctx, "list", label, n, h.opts.duration, func(ctx context.Context, w, _ int) (int, error) {
		l, err := cms[w%len(cms)].List(ctx, metav1.ListOptions{Limit: h.opts.pageSize, Continue: cont[w]})
		if err != nil {
			cont[w] = ""
			return 0, err
		}
		cont[w] = l.Continue
		return len(l.Items), nil
	})
}

// listFull: clients list all listSize objects of namespace list at once.
func (h *harness) listFull(ctx context.Context, clients int) row {
	cms := h.configMaps(nsList)
	want := h.opts.listSize
	label := fmt.Sprintf("full, %s objects", num(float64(want)))
	return runWorkers(ctx, "list-full", label, clients, h.opts.duration, func(ctx context.Context, w, _ int) (int, error) {
		l, err := cms[w%len(cms)].List(ctx, metav1.ListOptions{})
		if err != nil {
			return 0, err
		}
		if len(l.Items) != want {
			return 0, fmt.Errorf("full list returned %d items, want %d", len(l.Items), want)
		}
		return len(l.Items), nil
	})
}

func (h *harness) printOps(out io.Writer, name, what string, r row) {
	fmt.Fprintf(out, "### %s\n\n%s; %d clients, %s.\n\n", name, what, r.clients, r.elapsed.Round(10*time.Millisecond))
	t := table{header: []string{"scenario", "clients", "requests", "req/s", "p50", "p90", "p99", "max", "errors", "CPU", "other CPU"}}
	if name == "update" {
		t.header = append(t.header, "409s")
	}
	cells := []string{name, strconv.Itoa(r.clients), num(float64(r.ops)), num(r.rate()),
		ms(percentile(r.lat, .5)), ms(percentile(r.lat, .9)), ms(percentile(r.lat, .99)), ms(maxOf(r.lat)),
		num(float64(r.errors)), cores(r.cpu), cores(r.otherCPU)}
	if name == "update" {
		cells = append(cells, num(float64(r.conflicts)))
	}
	t.add(cells...)
	t.write(out)
	noteDisturbed(out, r.otherCPU)
	printServerSide(out, r.server, meanOf(r.lat))
	printErrSamples(out, r)
}

func (h *harness) printLists(out io.Writer, rows []row) {
	fmt.Fprintf(out, "### list\n\nLIST of namespace %s in pages, and of namespace %s (%s objects) in one response.\n\n",
		nsBench, nsList, num(float64(h.opts.listSize)))
	t := table{header: []string{"list", "clients", "lists/pages", "pages/s", "items/s", "p50", "p90", "p99", "max", "errors", "CPU", "other CPU"}}
	for _, r := range rows {
		t.add(r.label, strconv.Itoa(r.clients), num(float64(r.ops)), num(r.rate()),
			num(float64(r.items)/r.elapsed.Seconds()),
			ms(percentile(r.lat, .5)), ms(percentile(r.lat, .9)), ms(percentile(r.lat, .99)), ms(maxOf(r.lat)),
			num(float64(r.errors)), cores(r.cpu), cores(r.otherCPU))
	}
	t.write(out)
	for _, r := range rows {
		noteDisturbed(out, r.otherCPU)
	}
	for _, r := range rows {
		if len(r.server) > 0 {
			fmt.Fprintf(out, "%s, %s. ", r.label, plural(r.clients, "client"))
			printServerSide(out, r.server, meanOf(r.lat))
		}
	}
	for _, r := range rows {
		printErrSamples(out, r)
	}
}

// noteDisturbed flags a measurement during which other processes used a
// noticeable share of the machine.
func noteDisturbed(out io.Writer, others float64) {
	if others > 0.2 {
		fmt.Fprintf(out, "Note: other processes used %.2f cores during this measurement; re-run on an idle machine.\n\n", others)
	}
}

func printErrSamples(out io.Writer, r row) {
	if len(r.errSamples) == 0 {
		return
	}
	fmt.Fprintf(out, "Errors of %s (first %d):\n\n", r.label, len(r.errSamples))
	for _, s := range r.errSamples {
		fmt.Fprintf(out, "- `%s`\n", strings.ReplaceAll(s, "`", "'"))
	}
	fmt.Fprintln(out)
}
