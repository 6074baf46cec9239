package kubelet

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/cairn-dev/cairn/node/runtime"
)

func TestProbeHandlers(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			if r.Header.Get("X-Probe") != "yes" || r.Host != "example.test" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusOK)
		case "/redirect":
			w.WriteHeader(http.StatusFound)
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	c := &corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	headers := []corev1.HTTPHeader{{Name: "X-Probe", Value: "yes"}, {Name: "Host", Value: "example.test"}}
	p := newProber(func(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, int, error) {
		if cmd[0] == "true" {
			return nil, 0, nil
		}
		return []byte("boom"), 2, nil
	}, nil, nil)
	tests := []struct {
		name  string
		probe corev1.Probe
		ok    bool
		msg   string
	}{
		{"http 200 by port name, headers and Host", corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromString("http"), HTTPHeaders: headers}}}, true, ""},
		{"http 3xx passes", corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/redirect", Port: intstr.FromInt32(int32(port))}}}, true, ""},
		{"http 500 fails", corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/bad", Port: intstr.FromInt32(int32(port))}}}, false, "statuscode: 500"},
		{"unknown port name", corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("nope")}}}, false, `no port named "nope"`},
		{"tcp open", corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}}, true, ""},
		{"tcp closed", corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(closedPort))}}}, false, "dial tcp"},
		{"exec 0", corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}, true, ""},
		{"exec non-zero", corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}}, false, "exited with 2: boom"},
		{"grpc is not supported", corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 1}}}, false, "no handler"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, msg := p.run(context.Background(), c, "id", &tt.probe, host)
			if ok != tt.ok || !strings.Contains(msg, tt.msg) {
				t.Errorf("run = %v %q, want %v containing %q", ok, msg, tt.ok, tt.msg)
			}
		})
	}
}

// TestProberThresholds: a result flips only after failureThreshold
// failures in a row, liveness waits for the startup probe, and changes are
// reported.
func TestProberThresholds(t *testing.T) {
	var mu sync.Mutex
	healthy, started := true, false
	var changes int
	p := newProber(func(_ context.Context, id string, cmd []string, _ time.Duration) ([]byte, int, error) {
		mu.Lock()
		defer mu.Unlock()
		switch cmd[0] {
		case "startup":
			if started {
				return nil, 0, nil
			}
		case "live":
			if healthy {
				return nil, 0, nil
			}
		}
		return nil, 1, nil
	}, func(string) { mu.Lock(); changes++; mu.Unlock() }, nil)
	pod := testPod("Always", nil, "app")
	c := &pod.Spec.Containers[0]
	c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"startup"}}}, PeriodSeconds: 1, FailureThreshold: 30}
	c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"live"}}}, PeriodSeconds: 1, FailureThreshold: 2}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctr := runtime.Container{ID: "c1", Name: "app", State: runtime.StateRunning, StartedAt: time.Now()}
	p.ensure(ctx, pod, c, ctr, "127.0.0.1")
	time.Sleep(1500 * time.Millisecond)
	if r := p.result("c1", probeLiveness); r != probeUnknown {
		t.Fatalf("liveness ran before startup succeeded: %v", r)
	}
	mu.Lock()
	started = true
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for p.result("c1", probeStartup) != probeSuccess || p.result("c1", probeLiveness) != probeSuccess {
		if time.Now().After(deadline) {
			t.Fatalf("startup %v liveness %v", p.result("c1", probeStartup), p.result("c1", probeLiveness))
		}
		time.Sleep(50 * time.Millisecond)
	}
	mu.Lock()
	healthy = false
	mu.Unlock()
	failedAt := time.Now()
	for p.result("c1", probeLiveness) != probeFailure {
		if time.Since(failedAt) > 5*time.Second {
			t.Fatal("liveness never failed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if d := time.Since(failedAt); d < 900*time.Millisecond {
		t.Errorf("liveness failed after %v: one failure should not be enough (threshold 2, period 1s)", d)
	}
	mu.Lock()
	if changes < 3 {
		t.Errorf("%d changes reported, want startup, liveness success and liveness failure", changes)
	}
	mu.Unlock()
	p.forgetPod([]runtime.Container{ctr}, nil)
	if r := p.result("c1", probeLiveness); r != probeUnknown {
		t.Errorf("result kept after forget: %v", r)
	}
}
