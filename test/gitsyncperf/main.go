// Command gitsyncperf measures gitsync's latency from a git commit to
// every object of it stored in the API server, with the push webhook and
// with polling, for a change of 1 object and of 1,000 objects. The API
// server, embedded etcd, gitsync and the webhook receiver (over loopback
// HTTP) run in this process; the repository is a real one in a temporary
// directory, committed to with go-git.
//
//	go run ./test/gitsyncperf [-samples 20] [-poll-samples 4] [-interval 15s]
package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/apiserver"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/gitsync"
)

func main() {
	samples := flag.Int("samples", 20, "commits measured per size with the webhook")
	pollSamples := flag.Int("poll-samples", 4, "commits measured per size with polling")
	interval := flag.Duration("interval", gitsync.DefaultInterval, "the source's polling interval")
	flag.Parse()
	apiserver.TuneGC()
	if err := run(*samples, *pollSamples, *interval); err != nil {
		fmt.Fprintln(os.Stderr, "gitsyncperf:", err)
		os.Exit(1)
	}
}

type env struct {
	ctx    context.Context
	admin  kubernetes.Interface
	dyn    dynamic.Interface
	hook   string
	secret []byte

	mu     sync.Mutex
	values map[string]string // ConfigMap name → data.v
	cond   *sync.Cond
}

func run(samples, pollSamples int, interval time.Duration) error {
	dir, err := os.MkdirTemp("", "cairn-gitsyncperf-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	srv, err := apiservertest.Launch(filepath.Join(dir, "server"), nil)
	if err != nil {
		return err
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gcfg, err := srv.Config("gitsync")
	if err != nil {
		return err
	}
	acfg, err := srv.Config("admin")
	if err != nil {
		return err
	}
	gclient := kubernetes.NewForConfigOrDie(gcfg)
	c, err := gitsync.New(gitsync.Config{Client: gclient, Dynamic: dynamic.NewForConfigOrDie(gcfg),
		Discovery: discovery.NewDiscoveryClientForConfigOrDie(gcfg), CacheDir: filepath.Join(dir, "cache"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { _ = c.Run(ctx) })
	hook := httptest.NewServer(&gitsync.Webhook{Client: gclient, Controller: c})
	defer hook.Close()

	e := &env{ctx: ctx, admin: kubernetes.NewForConfigOrDie(acfg), dyn: dynamic.NewForConfigOrDie(acfg), hook: hook.URL, secret: []byte("bench"), values: map[string]string{}}
	e.cond = sync.NewCond(&e.mu)
	if _, err := e.admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hook"},
		Data: map[string][]byte{gitsync.WebhookSecretKey: e.secret}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	f := informers.NewSharedInformerFactoryWithOptions(e.admin, 0, informers.WithNamespace("default"))
	_, _ = f.Core().V1().ConfigMaps().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    e.observe,
		UpdateFunc: func(_, o any) { e.observe(o) },
	})
	f.Start(ctx.Done())
	f.WaitForCacheSync(ctx.Done())
	defer f.Shutdown()

	fmt.Printf("## gitsync latency, commit to all objects stored, %s\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Printf("Command: `go run ./test/gitsyncperf %s`; %d CPUs. Polling interval %s.\n\n", strings.Join(os.Args[1:], " "), goruntime.NumCPU(), interval)
	fmt.Println("| trigger | objects changed | samples | p50 | p99 | max | target |")
	fmt.Println("| --- | ---: | ---: | ---: | ---: | ---: | --- |")
	for _, size := range []int{1, 1000} {
		repoDir := filepath.Join(dir, fmt.Sprintf("repo-%d", size))
		repo, err := git.PlainInitWithOptions(repoDir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: "refs/heads/main"}})
		if err != nil {
			return err
		}
		name := fmt.Sprintf("bench-%d", size)
		prefix := fmt.Sprintf("s%d-", size)
		if err := e.commit(repo, repoDir, size, prefix, "0"); err != nil {
			return err
		}
		if err := e.source(name, repoDir, interval); err != nil {
			return err
		}
		if err := e.wait(prefix, size, "0", 5*time.Minute); err != nil {
			return fmt.Errorf("first apply of %d objects: %w", size, err)
		}
		target := map[int]string{1: "p99 < 1 s", 1000: "p99 < 5 s"}[size]
		var hooked []time.Duration
		for i := 1; i <= samples; i++ {
			v := fmt.Sprintf("h%d", i)
			if err := e.commit(repo, repoDir, size, prefix, v); err != nil {
				return err
			}
			t0 := time.Now()
			if err := e.trigger(name); err != nil {
				return err
			}
			if err := e.wait(prefix, size, v, time.Minute); err != nil {
				return err
			}
			hooked = append(hooked, time.Since(t0))
			time.Sleep(1100 * time.Millisecond) // the receiver takes one trigger a second
		}
		report("webhook", size, hooked, target)
		var polled []time.Duration
		for i := 1; i <= pollSamples; i++ {
			v := fmt.Sprintf("p%d", i)
			if err := e.commit(repo, repoDir, size, prefix, v); err != nil {
				return err
			}
			t0 := time.Now()
			if err := e.wait(prefix, size, v, 3*interval); err != nil {
				return err
			}
			polled = append(polled, time.Since(t0))
		}
		report("polling", size, polled, fmt.Sprintf("≤ interval (%s) + apply", interval))
	}
	return nil
}

func report(trigger string, size int, d []time.Duration, target string) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	q := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))] }
	fmt.Printf("| %s | %d | %d | %s | %s | %s | %s |\n", trigger, size, len(d),
		q(0.5).Round(time.Millisecond), q(0.99).Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond), target)
}

func (e *env) observe(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	e.mu.Lock()
	e.values[cm.Name] = cm.Data["v"]
	e.mu.Unlock()
	e.cond.Broadcast()
}

// wait until the n ConfigMaps named prefix* all hold v.
func (e *env) wait(prefix string, n int, v string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	go func() { time.Sleep(timeout); e.cond.Broadcast() }()
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		have := 0
		for i := 0; i < n; i++ {
			if e.values[fmt.Sprintf("%s%04d", prefix, i)] == v {
				have++
			}
		}
		if have == n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s only %d of %d objects hold %q", timeout, have, n, v)
		}
		e.cond.Wait()
	}
}

// commit rewrites every object with value v in one commit.
func (e *env) commit(repo *git.Repository, dir string, n int, prefix, v string) error {
	var b bytes.Buffer
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: %s%04d\ndata:\n  v: %q\n", prefix, i, v)
	}
	if err := os.WriteFile(filepath.Join(dir, "objects.yaml"), b.Bytes(), 0o644); err != nil {
		return err
	}
	wt, err := repo.Worktree()
	if err != nil {
		return err
	}
	if _, err := wt.Add("objects.yaml"); err != nil {
		return err
	}
	_, err = wt.Commit("value "+v, &git.CommitOptions{Author: &object.Signature{Name: "bench", Email: "bench@example.com", When: time.Now()}})
	return err
}

func (e *env) source(name, url string, interval time.Duration) error {
	r := &gitopsv1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: gitopsv1.GitRepositorySpec{URL: url, Ref: gitopsv1.GitRef{Branch: "main"}, Prune: true, DefaultNamespace: "default",
			Interval: &metav1.Duration{Duration: interval}, SecretRef: &gitopsv1.LocalObjectReference{Name: "hook"}},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r)
	if err != nil {
		return err
	}
	_, err = e.dyn.Resource(gitopsv1.SchemeGroupVersion.WithResource("gitrepositories")).Namespace("default").
		Create(e.ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{})
	return err
}

// trigger posts a signed GitHub-style push notification.
func (e *env) trigger(name string) error {
	body := []byte(`{"ref":"refs/heads/main"}`)
	m := hmac.New(sha256.New, e.secret)
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, e.hook+gitsync.WebhookPrefix+"default/"+name, bytes.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("webhook: %s", resp.Status)
	}
	return nil
}
