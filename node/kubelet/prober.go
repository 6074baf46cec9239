package kubelet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cairn-dev/cairn/node/runtime"
)

// execFunc runs a command in a container (the runtime's Exec).
type execFunc func(ctx context.Context, id string, cmd []string, timeout time.Duration) ([]byte, int, error)

// prober runs the startup, liveness and readiness probes of running
// containers, one goroutine per probe, as the kubelet's probe workers: the
// first run after initialDelaySeconds, then every periodSeconds; a result
// flips after failureThreshold failures or successThreshold successes in a
// row. Liveness and readiness wait for the startup probe to succeed.
type prober struct {
	exec execFunc
	// changed is called with a pod's UID when one of its results flips.
	changed func(uid string)
	// failed is called on every failed probe run, for the Unhealthy event.
	failed func(pod *corev1.Pod, container string, kind probeKind, msg string)

	mu      sync.Mutex
	workers map[probeKey]context.CancelFunc
	results map[probeKey]probeResult
}

type probeKey struct {
	id   string
	kind probeKind
}

func newProber(exec execFunc, changed func(string), failed func(*corev1.Pod, string, probeKind, string)) *prober {
	return &prober{exec: exec, changed: changed, failed: failed,
		workers: map[probeKey]context.CancelFunc{}, results: map[probeKey]probeResult{}}
}

func (p *prober) result(id string, kind probeKind) probeResult {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.results[probeKey{id, kind}]
}

// ensure starts the probe workers of a running container that have none.
func (p *prober) ensure(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ctr runtime.Container, podIP string) {
	for _, kp := range []struct {
		kind  probeKind
		probe *corev1.Probe
	}{{probeStartup, c.StartupProbe}, {probeLiveness, c.LivenessProbe}, {probeReadiness, c.ReadinessProbe}} {
		if kp.probe == nil {
			continue
		}
		key := probeKey{ctr.ID, kp.kind}
		p.mu.Lock()
		_, running := p.workers[key]
		if !running {
			wctx, cancel := context.WithCancel(ctx)
			p.workers[key] = cancel
			go p.work(wctx, pod.DeepCopy(), c.DeepCopy(), ctr, kp.kind, kp.probe.DeepCopy(), podIP)
		}
		p.mu.Unlock()
	}
}

func (p *prober) set(uid string, key probeKey, r probeResult) {
	p.mu.Lock()
	old := p.results[key]
	p.results[key] = r
	p.mu.Unlock()
	if old != r && p.changed != nil {
		p.changed(uid)
	}
}

func (p *prober) work(ctx context.Context, pod *corev1.Pod, c *corev1.Container, ctr runtime.Container, kind probeKind, pr *corev1.Probe, podIP string) {
	period := seconds(pr.PeriodSeconds, 10)
	failures, successes := int(orDefault(pr.FailureThreshold, 3)), int(orDefault(pr.SuccessThreshold, 1))
	start := ctr.StartedAt
	if start.IsZero() {
		start = time.Now()
	}
	if wait := time.Until(start.Add(seconds(pr.InitialDelaySeconds, 0))); wait > 0 {
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
	key := probeKey{ctr.ID, kind}
	var okRun, failRun int
	tick := time.NewTicker(period)
	defer tick.Stop()
	for {
		gated := kind != probeStartup && c.StartupProbe != nil && p.result(ctr.ID, probeStartup) != probeSuccess
		if !gated {
			ok, msg := p.run(ctx, c, ctr.ID, pr, podIP)
			if ctx.Err() != nil {
				return
			}
			if ok {
				okRun, failRun = okRun+1, 0
				if okRun >= successes {
					p.set(string(pod.UID), key, probeSuccess)
					if kind == probeStartup {
						return // a startup probe stops once it succeeded
					}
				}
			} else {
				okRun, failRun = 0, failRun+1
				if p.failed != nil {
					p.failed(pod, c.Name, kind, msg)
				}
				if failRun >= failures {
					p.set(string(pod.UID), key, probeFailure)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func seconds(v int32, def int32) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func orDefault(v, def int32) int32 {
	if v <= 0 {
		return def
	}
	return v
}

// run performs one probe and says whether it passed and, if not, why.
func (p *prober) run(ctx context.Context, c *corev1.Container, id string, pr *corev1.Probe, podIP string) (bool, string) {
	timeout := seconds(pr.TimeoutSeconds, 1)
	switch {
	case pr.Exec != nil:
		out, code, err := p.exec(ctx, id, pr.Exec.Command, timeout)
		if err != nil {
			return false, fmt.Sprintf("exec probe: %v", err)
		}
		if code != 0 {
			return false, fmt.Sprintf("command %q exited with %d: %s", strings.Join(pr.Exec.Command, " "), code, strings.TrimSpace(string(out)))
		}
		return true, ""
	case pr.HTTPGet != nil:
		return httpProbe(ctx, c, pr.HTTPGet, podIP, timeout)
	case pr.TCPSocket != nil:
		host := pr.TCPSocket.Host
		if host == "" {
			host = podIP
		}
		port, err := probePort(c, pr.TCPSocket.Port)
		if err != nil {
			return false, err.Error()
		}
		d := net.Dialer{Timeout: timeout}
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, fmt.Sprintf("dial tcp %s:%d: %v", host, port, err)
		}
		_ = conn.Close()
		return true, ""
	}
	return false, "probe has no handler cairn supports (exec, httpGet, tcpSocket)"
}

func httpProbe(ctx context.Context, c *corev1.Container, g *corev1.HTTPGetAction, podIP string, timeout time.Duration) (bool, string) {
	host := g.Host
	if host == "" {
		host = podIP
	}
	port, err := probePort(c, g.Port)
	if err != nil {
		return false, err.Error()
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "cairn-probe/1.0")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Add(h.Name, h.Value)
	}
	client := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		// As the kubelet: https probes do not verify the certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	resp, err := client.Do(req)
	if err != nil {
		return false, fmt.Sprintf("Get %q: %v", url, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
}

// probePort resolves a probe's port, by number or by the name of one of the
// container's ports.
func probePort(c *corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

// forgetPod stops the workers of the pod's containers that are not in live.
func (p *prober) forgetPod(cs []runtime.Container, live map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		if live[c.ID] {
			continue
		}
		for _, kind := range []probeKind{probeStartup, probeLiveness, probeReadiness} {
			key := probeKey{c.ID, kind}
			if cancel, ok := p.workers[key]; ok {
				cancel()
				delete(p.workers, key)
			}
			delete(p.results, key)
		}
	}
}
