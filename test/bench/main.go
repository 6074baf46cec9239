// Command bench measures a cairn API server through client-go: it starts
// one server in this process (embedded etcd on a temporary data dir) and
// drives create, get, update, list and watch fan-out load against it,
// printing a Markdown table per scenario.
//
//	go run ./test/bench [-only create,get,update,list,watch] [-clients 50] [-duration 10s] [-watchers 500] [-cpuprofile cpu.out]
//
// Server and load generator share the machine's cores. With -cpuprofile the
// whole process is profiled during each measurement (cpu.out gives
// cpu-create.out, cpu-get.out, ...); the server's goroutines carry the pprof
// label side=server and the load generator's side=client, so
//
//	go tool pprof -tagfocus side=server -top -cum cpu-create.out
//
// shows the server's cost alone (unlabelled samples are the runtime's own
// background work, mostly garbage collection, of both sides).
//
// On a shared machine, -wait-idle 5m waits before each measurement until
// other processes are quiet and repeats a measurement they disturbed.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Targets of the issue on a 2-core machine.
const (
	targetCreateRate = 3400
	targetCreateP99  = 25 * time.Millisecond
	targetWatchP99   = 100 * time.Millisecond
	maxErrorRate     = 0.01
)

func main() {
	os.Exit(run())
}

func run() int {
	var (
		only         = flag.String("only", "", "comma-separated scenarios to run ("+strings.Join(scenarioNames, ",")+"); default all")
		clients      = flag.Int("clients", 50, "concurrent client goroutines of create, get, update and list")
		duration     = flag.Duration("duration", 10*time.Second, "duration of each of create, get, update and list")
		watchers     = flag.Int("watchers", 500, "watchers of the watch fan-out")
		watchEvents  = flag.Int("watch-events", 200, "objects the watch writer creates")
		watchRate    = flag.Float64("watch-rate", 50, "objects per second the watch writer creates")
		transports   = flag.Int("transports", 1, "client-go transports (HTTP/2 connections) the create, get, update and list clients share; 1 = one shared transport, as one controller has")
		watchConns   = flag.Int("watch-transports", 10, "client-go transports (HTTP/2 connections) the watchers are spread across")
		listSize     = flag.Int("list-size", 2000, "objects in the full (unpaged) list")
		pageSize     = flag.Int64("page-size", 500, "limit of the paged list")
		payload      = flag.Int("payload", 1024, "bytes of data in each ConfigMap")
		dataDir      = flag.String("data-dir", "", "server data dir (default: a new temporary dir, removed afterwards)")
		cpuProfile   = flag.String("cpuprofile", "", "write CPU profiles of the whole process (server + load generator), one per measurement: cpu.out gives cpu-create.out, cpu-get.out, ...")
		mutexProfile = flag.String("mutexprofile", "", "write a mutex contention profile to this file")
		waitIdle     = flag.Duration("wait-idle", 0, "before each measurement wait up to this long for other processes to use less than -idle-cores (0 = do not wait)")
		idleCores    = flag.Float64("idle-cores", 0.2, "CPU cores other processes may use for the machine to count as idle")
		retries      = flag.Int("retries", 2, "with -wait-idle: repeat a measurement other processes disturbed up to this many times")
		verbose      = flag.Bool("v", false, "log the server's warnings and errors to stderr")
	)
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	opts := options{clients: *clients, duration: *duration, watchers: *watchers, watchEvents: *watchEvents,
		watchRate: *watchRate, watchConns: *watchConns, listSize: *listSize, pageSize: *pageSize, payload: *payload, transports: *transports,
		minObjects: 2000, settle: time.Second, waitIdle: *waitIdle, idleCores: *idleCores, retries: *retries, cpuProfile: *cpuProfile}
	if err := opts.parseOnly(*only); err != nil {
		log.Error("bad -only", "err", err)
		return 2
	}
	if opts.clients < 1 || opts.duration <= 0 || opts.watchers < 1 || opts.watchEvents < 1 || opts.watchRate <= 0 ||
		opts.watchConns < 1 || opts.transports < 1 || opts.listSize < 1 || opts.pageSize < 1 || opts.payload < 0 {
		log.Error("flags out of range")
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	out := os.Stdout
	fmt.Fprintf(out, "## cairn benchmark, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(out, "Command: `go run ./test/bench %s`\n\n", strings.Join(os.Args[1:], " "))
	printMachine(out)

	serverLog := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		serverLog = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	log.Info("starting server")
	bs, err := startServer(ctx, *dataDir, serverLog)
	if err != nil {
		log.Error("start server", "err", err)
		return 1
	}
	defer func() {
		if err := bs.stop(); err != nil {
			log.Error("stop server", "err", err)
		}
	}()
	cfg, err := bs.restConfig()
	if err != nil {
		log.Error("kubeconfig", "err", err)
		return 1
	}
	h, err := newHarness(cfg, opts, log)
	if err != nil {
		log.Error("client", "err", err)
		return 1
	}
	h.metrics = bs.reg
	diskLine := func(when string) {
		p50, p99, err := probeFsync(bs.dir, 200)
		if err != nil {
			log.Warn("fsync probe", "err", err)
			return
		}
		fmt.Fprintf(out, "Disk %s: 4 KiB write+fsync p50 %s, p99 %s on %s (the data dir's file system; etcd fsyncs its WAL for every batch of writes).\n\n",
			when, ms(p50), ms(p99), fsType(bs.dir))
	}
	cpuLine := func(when string) {
		fmt.Fprintf(out, "CPU probe %s: json.Marshal of a 1 KiB ConfigMap takes %.1f µs on one goroutine (compare runs: a VM's host can be slower at times).\n\n",
			when, float64(probeCPU(h.payload))/float64(time.Microsecond))
	}
	diskLine("before the run")
	cpuLine("before the run")
	defer cpuLine("after the run")
	defer diskLine("after the run")

	if *mutexProfile != "" {
		runtime.SetMutexProfileFraction(10)
	}
	var rep *report
	pprof.Do(ctx, pprof.Labels("side", "client"), func(ctx context.Context) {
		rep, err = h.runAll(ctx, out)
	})

	if *mutexProfile != "" {
		if f, ferr := os.Create(*mutexProfile); ferr == nil {
			_ = pprof.Lookup("mutex").WriteTo(f, 0)
			f.Close()
		}
	}
	if err != nil {
		log.Error("benchmark", "err", err)
		if rep != nil {
			printTargets(out, rep)
		}
		return 1
	}
	printTargets(out, rep)
	if failures := check(rep); len(failures) > 0 {
		for _, f := range failures {
			log.Error("unexpected errors", "what", f)
		}
		return 1
	}
	return 0
}

func (o *options) parseOnly(s string) error {
	if s == "" {
		return nil
	}
	o.only = map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		known := false
		for _, n := range scenarioNames {
			known = known || n == name
		}
		if !known {
			return fmt.Errorf("unknown scenario %q (known: %s)", name, strings.Join(scenarioNames, ","))
		}
		o.only[name] = true
	}
	return nil
}

// check returns what failed: an unexpected error rate above 1% in a
// scenario, or watch events not delivered to more than 1% of (watcher,
// event) pairs.
func check(rep *report) []string {
	var failures []string
	for _, r := range rep.rows {
		if r.errorRate() > maxErrorRate {
			failures = append(failures, fmt.Sprintf("%s (%s): %d errors of %d requests", r.scenario, r.label, r.errors, r.ops+r.errors))
		}
	}
	if w := rep.watch; w != nil {
		if w.expected == 0 || float64(w.missing())/float64(w.expected) > maxErrorRate || w.writeErrors > w.events/100 {
			failures = append(failures, fmt.Sprintf("watch: %d of %d deliveries missing, %d write errors", w.missing(), w.expected, w.writeErrors))
		}
	}
	return failures
}

// printTargets compares the run with the targets.
func printTargets(out io.Writer, rep *report) {
	var lines []string
	if c := rep.find("create"); c != nil && c.clients == 50 {
		rate, p99 := c.rate(), percentile(c.lat, .99)
		lines = append(lines,
			fmt.Sprintf("| creates/s, 50 clients | ≥ %s | %s | %s (%+.0f%%) |", num(targetCreateRate), num(rate), verdict(rate >= targetCreateRate), 100*(rate/targetCreateRate-1)),
			fmt.Sprintf("| create p99 | < %s | %s | %s (%.2fx) |", ms(targetCreateP99), ms(p99), verdict(p99 < targetCreateP99), float64(p99)/float64(targetCreateP99)))
	}
	if w := rep.watch; w != nil && w.watchers == 500 {
		p99 := percentile(w.lat, .99)
		lines = append(lines, fmt.Sprintf("| watch delivery p99, 500 watchers | < %s | %s | %s (%.2fx) |", ms(targetWatchP99), ms(p99), verdict(p99 < targetWatchP99 && w.missing() == 0), float64(p99)/float64(targetWatchP99)))
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(out, "### targets")
	fmt.Fprintln(out)
	fmt.Fprintln(out, "| target | wanted | measured | verdict |")
	fmt.Fprintln(out, "|---|---:|---:|---|")
	for _, l := range lines {
		fmt.Fprintln(out, l)
	}
	fmt.Fprintln(out)
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}

// printMachine prints what the numbers were measured on.
func printMachine(out io.Writer) {
	model := "unknown"
	if v := procField("/proc/cpuinfo", "model name"); v != "" {
		model = v
	}
	mem := "unknown"
	if v := procField("/proc/meminfo", "MemTotal"); v != "" {
		if kb, err := strconv.ParseFloat(strings.TrimSuffix(v, " kB"), 64); err == nil {
			mem = fmt.Sprintf("%.1f GiB", kb/(1<<20))
		}
	}
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			load = strings.Join(f[:3], " ")
		}
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	fmt.Fprintln(out, "### machine")
	fmt.Fprintln(out)
	fmt.Fprintf(out, "- nproc: %d (GOMAXPROCS %d)\n", runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(out, "- CPU: %s\n", model)
	fmt.Fprintf(out, "- memory: %s\n", mem)
	fmt.Fprintf(out, "- Go: %s %s/%s, kernel %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, kernel)
	fmt.Fprintf(out, "- load average before the run: %s\n", load)
	fmt.Fprintln(out)
	fmt.Fprintln(out, "Server (with its embedded etcd) and client-go load generator run in this one process and share the cores. "+
		"Column CPU: cores this process used during the measurement; other CPU: cores the rest of the machine used meanwhile.")
	fmt.Fprintln(out)
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
