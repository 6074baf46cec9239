package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

func TestBalancer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	type pick struct {
		client string
		at     time.Duration
		want   string
	}
	tests := []struct {
		name      string
		endpoints []string
		affinity  time.Duration
		picks     []pick
	}{
		{
			name:      "round robin",
			endpoints: []string{"a", "b", "c"},
			picks:     []pick{{"x", 0, "a"}, {"x", 0, "b"}, {"y", 0, "c"}, {"x", 0, "a"}},
		},
		{
			name:      "affinity keeps a client on its endpoint",
			endpoints: []string{"a", "b", "c"},
			affinity:  10 * time.Second,
			picks:     []pick{{"x", 0, "a"}, {"x", time.Second, "a"}, {"y", time.Second, "b"}, {"x", 2 * time.Second, "a"}, {"z", 2 * time.Second, "c"}, {"y", 3 * time.Second, "b"}},
		},
		{
			name:      "affinity ends after the timeout since the last use",
			endpoints: []string{"a", "b"},
			affinity:  10 * time.Second,
			picks:     []pick{{"x", 0, "a"}, {"x", 9 * time.Second, "a"}, {"x", 18 * time.Second, "a"}, {"x", 29 * time.Second, "b"}},
		},
		{
			name:  "no endpoints",
			picks: []pick{{"x", 0, ""}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b balancer
			b.update(tc.endpoints, tc.affinity)
			for i, p := range tc.picks {
				got, ok := b.pick(p.client, t0.Add(p.at), 0)
				if got != p.want || ok != (p.want != "") {
					t.Errorf("pick %d (%s at %s) = %q %v, want %q", i, p.client, p.at, got, ok, p.want)
				}
			}
		})
	}

	// An endpoint that goes away releases the clients stuck to it.
	var b balancer
	b.update([]string{"a", "b"}, time.Minute)
	if ep, _ := b.pick("x", t0, 0); ep != "a" {
		t.Fatalf("first pick %s", ep)
	}
	b.update([]string{"b", "c"}, time.Minute)
	if ep, _ := b.pick("x", t0, 0); ep == "a" {
		t.Errorf("client still sent to the removed endpoint")
	}
	// A retry skips the sticky endpoint.
	b.update([]string{"a", "b"}, time.Minute)
	first, _ := b.pick("y", t0, 0)
	if retry, _ := b.pick("y", t0, 1); retry == first {
		t.Errorf("retry picked the same endpoint %s", first)
	}
}

func TestParseAddrs(t *testing.T) {
	out := "7: cairn-svc0    inet 172.30.0.1/32 scope global cairn-svc0\\       valid_lft forever preferred_lft forever\n7: cairn-svc0    inet 10.0.0.0/24 scope global cairn-svc0\n"
	got := parseAddrs([]byte(out))
	if len(got) != 1 || !got["172.30.0.1"] {
		t.Errorf("parseAddrs = %v", got)
	}
}

// fakeIP answers `ip` commands for a dummy interface that exists or not.
type fakeIP struct {
	mu       sync.Mutex
	calls    []string
	noLink   bool
	noDummy  bool   // the kernel has no dummy driver
	existing string // `ip -o -4 addr show` output
}

func (f *fakeIP) run(_ context.Context, _ []byte, name string, args ...string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := name + " " + strings.Join(args, " ")
	f.calls = append(f.calls, line)
	switch {
	case strings.HasPrefix(line, "ip link show") && f.noLink:
		return nil, fmt.Errorf("Device %q does not exist", args[len(args)-1])
	case line == "ip link add cairn-svc0 type dummy" && f.noDummy:
		return []byte("Error: Unknown device type."), fmt.Errorf("exit status 2")
	case strings.HasPrefix(line, "ip link add "):
		f.noLink = false
	case strings.HasPrefix(line, "ip -o -4 addr show"):
		return []byte(f.existing), nil
	case strings.HasPrefix(line, "ip addr add "):
		f.existing += "9: cairn-svc0    inet " + args[2] + " scope global cairn-svc0\n"
	case strings.HasPrefix(line, "ip addr del "):
		var keep []string
		for _, l := range strings.SplitAfter(f.existing, "\n") {
			if !strings.Contains(l, " "+args[2]+" ") {
				keep = append(keep, l)
			}
		}
		f.existing = strings.Join(keep, "")
	}
	return nil, nil
}

func (f *fakeIP) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// freePort finds a port free for tcp and udp on every given address.
func freePort(t *testing.T, ips ...string) int32 {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp4", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l.Close()
		ok := true
		for _, ip := range ips {
			l, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", ip, p))
			if err != nil {
				ok = false
				break
			}
			l.Close()
			u, err := net.ListenPacket("udp4", fmt.Sprintf("%s:%d", ip, p))
			if err != nil {
				ok = false
				break
			}
			u.Close()
		}
		if ok {
			return int32(p)
		}
	}
	t.Fatal("no free port")
	return 0
}

// tcpBackends start servers on ip:port answering their own address.
func tcpBackends(t *testing.T, port int32, ips ...string) {
	t.Helper()
	for _, ip := range ips {
		l, err := net.Listen("tcp4", fmt.Sprintf("%s:%d", ip, port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte(ip))
				c.Close()
			}
		}()
	}
}

// udpBackends start servers on ip:port answering each datagram with their
// address and the datagram.
func udpBackends(t *testing.T, port int32, ips ...string) {
	t.Helper()
	for _, ip := range ips {
		c, err := net.ListenPacket("udp4", fmt.Sprintf("%s:%d", ip, port))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 1500)
			for {
				n, from, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				_, _ = c.WriteTo([]byte(ip+" "+string(buf[:n])), from)
			}
		}()
	}
}

// dialTCP connects to addr from the local address from (empty: any) and
// returns what the server sent before closing.
func dialTCP(addr, from string) (string, error) {
	d := net.Dialer{Timeout: time.Second}
	if from != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
	}
	c, err := d.Dial("tcp4", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

func newTestUserspace(t *testing.T, f *fakeIP, opts Options) *Userspace {
	t.Helper()
	opts.Exec = f.run
	u, err := NewUserspace(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.Close)
	return u
}

func TestUserspaceTCP(t *testing.T) {
	backends := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4"}
	epPortN := freePort(t, backends...)
	tcpBackends(t, epPortN, backends...)
	clusterIP := "127.0.0.10"
	svcPortN := freePort(t, clusterIP, "127.0.0.1")
	nodePortN := freePort(t, "127.0.0.1")
	f := &fakeIP{noLink: true}
	u := newTestUserspace(t, f, Options{NodeIPs: []string{"127.0.0.1"}})
	ctx := context.Background()
	sync := func(services []*corev1.Service, endpoints []*corev1.Endpoints) {
		t.Helper()
		if err := u.Sync(ctx, services, endpoints, false); err != nil {
			t.Fatal(err)
		}
	}
	web := nodePort(svc("ns", "web", clusterIP, port("http", svcPortN)), nodePortN)
	sync([]*corev1.Service{web}, []*corev1.Endpoints{eps("ns", "web", backends, epPort("http", epPortN))})

	// The interface is created, brought up and given the ClusterIP.
	calls := f.take()
	for _, want := range []string{"ip link add cairn-svc0 type dummy", "ip link set dev cairn-svc0 up", "ip addr add 127.0.0.10/32 dev cairn-svc0"} {
		if !slices.Contains(calls, want) {
			t.Errorf("no %q among %v", want, calls)
		}
	}

	// Round robin, on the ClusterIP and on the NodePort.
	cluster := fmt.Sprintf("%s:%d", clusterIP, svcPortN)
	for _, addr := range []string{cluster, fmt.Sprintf("127.0.0.1:%d", nodePortN)} {
		var got []string
		for range 6 {
			reply, err := dialTCP(addr, "")
			if err != nil {
				t.Fatalf("dial %s: %v", addr, err)
			}
			got = append(got, reply)
		}
		for i := range 3 {
			if got[i] != got[i+3] || slices.Index(got, got[i]) != i {
				t.Errorf("%s: connections went to %v, not in turn over the three endpoints", addr, got)
				break
			}
		}
	}

	// Endpoints change live: one left.
	sync([]*corev1.Service{web}, []*corev1.Endpoints{eps("ns", "web", backends[1:2], epPort("http", epPortN))})
	for range 3 {
		if reply, err := dialTCP(cluster, ""); err != nil || reply != backends[1] {
			t.Errorf("after the endpoint change: reply %q, %v; want %s", reply, err, backends[1])
		}
	}
	if calls := f.take(); slices.ContainsFunc(calls, func(c string) bool { return strings.Contains(c, "addr") }) {
		t.Errorf("an endpoint change touched addresses: %v", calls)
	}

	// Without endpoints the connection is closed at once.
	sync([]*corev1.Service{web}, nil)
	if reply, err := dialTCP(cluster, ""); reply != "" {
		t.Errorf("service without endpoints answered %q, %v", reply, err)
	}

	// Affinity: every connection from one client goes to one endpoint.
	sticky := affinity(svc("ns", "web", clusterIP, port("http", svcPortN)), 60)
	sync([]*corev1.Service{sticky}, []*corev1.Endpoints{eps("ns", "web", backends, epPort("http", epPortN))})
	seen := map[string]map[string]bool{}
	for _, client := range []string{"127.0.0.21", "127.0.0.22", "127.0.0.23"} {
		seen[client] = map[string]bool{}
		for range 4 {
			reply, err := dialTCP(cluster, client)
			if err != nil {
				t.Fatalf("dial from %s: %v", client, err)
			}
			seen[client][reply] = true
		}
		if len(seen[client]) != 1 {
			t.Errorf("client %s with affinity reached %v", client, seen[client])
		}
	}
	all := map[string]bool{}
	for _, eps := range seen {
		for ep := range eps {
			all[ep] = true
		}
	}
	if len(all) < 2 {
		t.Errorf("three clients all stuck to %v: affinity without round robin", all)
	}
	// The NodePort listener closed when the Service stopped being one.
	if _, err := dialTCP(fmt.Sprintf("127.0.0.1:%d", nodePortN), ""); err == nil {
		t.Errorf("NodePort still answers after the Service became a ClusterIP")
	}

	// Removing the Service closes its listener and removes its ClusterIP.
	f.take()
	sync(nil, nil)
	if _, err := dialTCP(cluster, ""); err == nil {
		t.Errorf("removed Service still answers")
	}
	if calls := f.take(); !slices.Contains(calls, "ip addr del 127.0.0.10/32 dev cairn-svc0") {
		t.Errorf("ClusterIP not removed: %v", calls)
	}
	if keys := u.userspacePortKeys(); len(keys) != 0 {
		t.Errorf("ports left: %v", keys)
	}
}

func TestUserspaceInterface(t *testing.T) {
	web := svc("ns", "web", "127.0.0.12", port("http", freePort(t, "127.0.0.12")))
	for _, tc := range []struct {
		name string
		f    *fakeIP
		want []string
	}{
		{"exists", &fakeIP{}, []string{"ip link show dev cairn-svc0", "ip link set dev cairn-svc0 up", "ip -o -4 addr show dev cairn-svc0", "ip addr add 127.0.0.12/32 dev cairn-svc0"}},
		{"dummy", &fakeIP{noLink: true}, []string{"ip link show dev cairn-svc0", "ip link add cairn-svc0 type dummy", "ip link set dev cairn-svc0 up", "ip -o -4 addr show dev cairn-svc0", "ip addr add 127.0.0.12/32 dev cairn-svc0"}},
		{"no dummy driver", &fakeIP{noLink: true, noDummy: true}, []string{"ip link show dev cairn-svc0", "ip link add cairn-svc0 type dummy", "ip link add cairn-svc0 type bridge", "ip link set dev cairn-svc0 up", "ip -o -4 addr show dev cairn-svc0", "ip addr add 127.0.0.12/32 dev cairn-svc0"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := newTestUserspace(t, tc.f, Options{})
			if err := u.Sync(context.Background(), []*corev1.Service{web}, nil, false); err != nil {
				t.Fatal(err)
			}
			if got := tc.f.take(); !slices.Equal(got, tc.want) {
				t.Errorf("commands\n%v\nwant\n%v", got, tc.want)
			}
			// A forced sync reads the addresses again but adds none.
			if err := u.Sync(context.Background(), []*corev1.Service{web}, nil, true); err != nil {
				t.Fatal(err)
			}
			if got := tc.f.take(); slices.ContainsFunc(got, func(c string) bool { return strings.Contains(c, "addr add") || strings.Contains(c, "link add") }) {
				t.Errorf("second sync changed the interface: %v", got)
			}
		})
	}
}

func TestUserspaceUDP(t *testing.T) {
	backends := []string{"127.0.0.5", "127.0.0.6"}
	epPortN := freePort(t, backends...)
	udpBackends(t, epPortN, backends...)
	clusterIP := "127.0.0.11"
	svcPortN := freePort(t, clusterIP)
	// The interface exists and holds a stale ClusterIP from a former run.
	f := &fakeIP{existing: "9: cairn-svc0    inet 127.0.0.99/32 scope global cairn-svc0\n"}
	u := newTestUserspace(t, f, Options{UDPIdleTimeout: time.Second})
	dns := svc("ns", "dns", clusterIP, corev1.ServicePort{Name: "dns", Port: svcPortN, Protocol: corev1.ProtocolUDP})
	e := eps("ns", "dns", backends, corev1.EndpointPort{Name: "dns", Port: epPortN, Protocol: corev1.ProtocolUDP})
	if err := u.Sync(context.Background(), []*corev1.Service{dns}, []*corev1.Endpoints{e}, false); err != nil {
		t.Fatal(err)
	}
	calls := f.take()
	if slices.Contains(calls, "ip link add cairn-svc0 type dummy") || !slices.Contains(calls, "ip addr del 127.0.0.99/32 dev cairn-svc0") {
		t.Errorf("existing interface: calls %v", calls)
	}

	ask := func(c net.Conn, q string) string {
		t.Helper()
		if _, err := c.Write([]byte(q)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 1500)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("no UDP reply to %q: %v", q, err)
		}
		return string(buf[:n])
	}
	addr := net.JoinHostPort(clusterIP, itoa(svcPortN))
	var first []string
	for i := range 4 {
		c, err := net.Dial("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// A session keeps its endpoint for every datagram.
		a := ask(c, fmt.Sprintf("q%d", i))
		b := ask(c, fmt.Sprintf("r%d", i))
		ipA, _, _ := strings.Cut(a, " ")
		ipB, _, _ := strings.Cut(b, " ")
		if ipA != ipB || !strings.HasSuffix(a, fmt.Sprintf("q%d", i)) {
			t.Errorf("session %d: replies %q then %q", i, a, b)
		}
		first = append(first, ipA)
	}
	if first[0] == first[1] || first[0] != first[2] || first[1] != first[3] {
		t.Errorf("UDP sessions went to %v, not in turn", first)
	}
}
