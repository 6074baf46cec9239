package proxy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestStartIPVS(t *testing.T) {
	noIPVS := t.TempDir()
	if err := os.WriteFile(filepath.Join(noIPVS, "modules"), []byte("nf_nat 49152 1 - Live 0x0\nbridge 311296 0 - Live 0x0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	withFile := t.TempDir()
	if err := os.MkdirAll(filepath.Join(withFile, "net"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(withFile, "net", "ip_vs"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	withModule := t.TempDir()
	if err := os.WriteFile(filepath.Join(withModule, "modules"), []byte("ip_vs_rr 16384 0 - Live 0x0\nip_vs 180224 2 ip_vs_rr, Live 0x0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	notImplemented := "proxy mode ipvs is not implemented by cairn; use iptables or userspace"
	for _, tc := range []struct {
		name, procDir, want string
	}{
		{"no IPVS", noIPVS, "proxy mode ipvs: the kernel has no IPVS support (no /proc/net/ip_vs); use iptables or userspace"},
		{"empty proc", t.TempDir(), "proxy mode ipvs: the kernel has no IPVS support (no /proc/net/ip_vs); use iptables or userspace"},
		{"/proc/net/ip_vs", withFile, notImplemented},
		{"ip_vs module loaded", withModule, notImplemented},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Start(context.Background(), fake.NewClientset(), ModeIPVS, Options{procDir: tc.procDir})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Start(ipvs) = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStartNone(t *testing.T) {
	// No client: ModeNone must not use it.
	if err := Start(context.Background(), nil, ModeNone, Options{}); err != nil {
		t.Errorf("Start(none) = %v", err)
	}
}

func TestStartUnknown(t *testing.T) {
	if err := Start(context.Background(), nil, "kernelspace", Options{}); err == nil || !strings.Contains(err.Error(), `unknown proxy mode "kernelspace"`) {
		t.Errorf("Start(kernelspace) = %v", err)
	}
}

func TestStartIPTablesWithoutIptables(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts Options
	}{
		{"no iptables command", Options{Iptables: filepath.Join(t.TempDir(), "iptables")}},
		{"iptables-save fails", Options{
			Tables: &fakeIptables{jumps: map[string]bool{}},
			Exec: func(context.Context, []byte, string, ...string) ([]byte, error) {
				return []byte("iptables-save v1.8.9 (legacy): Cannot initialize: Table does not exist"), errors.New("exit status 1")
			},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Start(context.Background(), fake.NewClientset(), ModeIPTables, tc.opts)
			if err == nil || !strings.Contains(err.Error(), "proxy mode iptables: iptables does not work on this machine") || !strings.HasSuffix(err.Error(), "use userspace") {
				t.Errorf("Start(iptables) = %v", err)
			}
		})
	}
}

// TestStartRuns checks that the iptables and userspace modes run until
// their context ends.
func TestStartRuns(t *testing.T) {
	f := &fakeIptables{jumps: map[string]bool{}}
	for _, tc := range []struct {
		mode Mode
		opts Options
		done func() bool // the first sync happened
	}{
		{ModeIPTables, Options{Exec: f.run, Tables: f}, func() bool { _, n := f.lastRestore(); return n >= 2 }},
		{ModeUserspace, Options{Exec: (&fakeIP{}).run}, func() bool { return true }},
	} {
		t.Run(string(tc.mode), func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			client := fake.NewClientset()
			tc.opts.MinSyncPeriod = 10 * time.Millisecond
			done := make(chan error, 1)
			go func() { done <- Start(ctx, client, tc.mode, tc.opts) }()
			deadline := time.Now().Add(5 * time.Second)
			for !tc.done() && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if !tc.done() {
				t.Fatal("no sync")
			}
			if _, err := client.CoreV1().Services("ns").Create(ctx, svc("ns", "web", "127.0.0.1", port("", 0)), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				t.Fatalf("Start returned before its context ended: %v", err)
			case <-time.After(50 * time.Millisecond):
			}
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Start: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Start did not return after its context ended")
			}
		})
	}
}
