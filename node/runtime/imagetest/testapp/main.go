// Command testapp is the multi-call program inside cairn's test image. It is
// built statically so that the image needs nothing else; each subcommand is
// one behaviour a test wants from a container (serve HTTP, exit with a code,
// ignore SIGTERM, read or write a file).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

const usage = `usage: testapp COMMAND [ARGS]
  serve [--port 8080] [--fail-liveness-after 0] [--ready-after 0] [--term-delay 0]
  exit [--code N] [--after D]
  get URL [--timeout 2s]
  ignore-term [--sleep 1h]
  write FILE CONTENT
  cat FILE
  sleep D
  env
  alloc --mb N [--sleep 1h]`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	os.Exit(run(os.Args[1], os.Args[2:], os.Stdout, os.Stderr))
}

// run executes one subcommand and returns the process's exit code.
func run(cmd string, args []string, stdout, stderr io.Writer) int {
	switch cmd {
	case "serve":
		return serve(args, stdout, stderr)
	case "exit":
		return exit(args, stdout, stderr)
	case "get":
		return get(args, stdout, stderr)
	case "ignore-term":
		return ignoreTerm(args, stdout, stderr)
	case "write":
		if len(args) != 2 {
			fmt.Fprintln(stderr, "usage: testapp write FILE CONTENT")
			return 2
		}
		if err := os.WriteFile(args[0], []byte(args[1]), 0o644); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	case "cat":
		if len(args) != 1 {
			fmt.Fprintln(stderr, "usage: testapp cat FILE")
			return 2
		}
		b, err := os.ReadFile(args[0])
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		_, _ = stdout.Write(b)
		return 0
	case "sleep":
		if len(args) != 1 {
			fmt.Fprintln(stderr, "usage: testapp sleep DURATION")
			return 2
		}
		d, err := time.ParseDuration(args[0])
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		time.Sleep(d)
		return 0
	case "env":
		printEnv(stdout)
		return 0
	case "alloc":
		return alloc(args, stdout, stderr)
	default:
		fmt.Fprintln(stderr, usage)
		return 2
	}
}

// parse parses flags that may come before or after the positional
// arguments, and returns the positional ones.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func printEnv(w io.Writer) {
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		fmt.Fprintln(w, kv)
	}
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 8080, "port to listen on")
	failAfter := fs.Duration("fail-liveness-after", 0, "/healthz fails after this long (0: never)")
	readyAfter := fs.Duration("ready-after", 0, "/readyz succeeds after this long")
	termDelay := fs.Duration("term-delay", 0, "wait this long after SIGTERM before exiting")
	if _, err := parse(fs, args); err != nil {
		return 2
	}
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		h, _ := os.Hostname()
		fmt.Fprintln(w, h)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if *failAfter > 0 && time.Since(start) >= *failAfter {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if time.Since(start) < *readyAfter {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) { printEnv(w) })
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, r.URL.Query().Get("msg"))
	})
	srv := &http.Server{Addr: fmt.Sprintf(":%d", *port), Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Fprintf(stdout, "serving on :%d\n", *port)
	fmt.Fprintf(stdout, "args: %s\n", strings.Join(os.Args[1:], " "))

	select {
	case err := <-errc:
		fmt.Fprintln(stderr, err)
		return 1
	case <-sigs:
		fmt.Fprintln(stdout, "SIGTERM")
		time.Sleep(*termDelay)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		return 0
	}
}

func exit(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("exit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	code := fs.Int("code", 0, "exit code")
	after := fs.Duration("after", 0, "wait this long first")
	if _, err := parse(fs, args); err != nil {
		return 2
	}
	fmt.Fprintf(stdout, "exiting with %d\n", *code)
	time.Sleep(*after)
	return *code
}

func get(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 2*time.Second, "request timeout")
	pos, err := parse(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) != 1 {
		fmt.Fprintln(stderr, "usage: testapp get URL [--timeout 2s]")
		return 2
	}
	client := &http.Client{Timeout: *timeout}
	resp, err := client.Get(pos[0])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(stdout, resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(stderr, resp.Status)
		return 1
	}
	return 0
}

func ignoreTerm(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ignore-term", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sleep := fs.Duration("sleep", time.Hour, "how long to sleep")
	if _, err := parse(fs, args); err != nil {
		return 2
	}
	signal.Ignore(syscall.SIGTERM)
	fmt.Fprintln(stdout, "ignoring SIGTERM")
	time.Sleep(*sleep)
	return 0
}

// alloc allocates and touches N MiB, one MiB at a time, then sleeps: under
// a smaller memory limit it is OOM-killed.
func alloc(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("alloc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	mb := fs.Int("mb", 64, "MiB to allocate")
	sleep := fs.Duration("sleep", time.Hour, "how long to sleep after")
	if _, err := parse(fs, args); err != nil {
		return 2
	}
	fmt.Fprintf(stdout, "allocating %d MiB\n", *mb)
	var keep [][]byte
	for range *mb {
		b := make([]byte, 1<<20)
		for i := range b {
			if i%4096 == 0 {
				b[i] = 1
			}
		}
		keep = append(keep, b)
	}
	fmt.Fprintf(stdout, "allocated %d MiB\n", len(keep))
	time.Sleep(*sleep)
	return 0
}
