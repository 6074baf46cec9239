package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// DefaultServiceInterface is the dummy interface the userspace proxy puts
// ClusterIPs on so that it can listen on them.
const DefaultServiceInterface = "cairn-svc0"

// Userspace is the proxy for machines without iptables: a Go TCP or UDP
// proxy per service port, listening on the ClusterIP and on the NodePort of
// the node's addresses, sending each connection (or UDP session) to one of
// the ready endpoints in turn, or with ClientIP affinity to the endpoint the
// client had last. ClusterIPs are added to a dummy interface, created if
// missing, and removed when their Service goes; every `ip` command goes
// through Options.Exec. On a kernel without the dummy driver the interface
// is a bridge without ports instead.
type Userspace struct {
	opts Options

	mu     sync.Mutex // serializes syncs and guards the fields below
	ports  map[string]*userPort
	addrs  map[string]bool // ClusterIPs on the interface, as far as known
	linkOK bool
	closed bool
}

// NewUserspace returns a userspace proxy with the defaults of New filled
// in. It does not touch the host until the first sync.
func NewUserspace(opts Options) (*Userspace, error) {
	p, err := New(opts)
	if err != nil {
		return nil, err
	}
	opts = p.opts
	if opts.IPCommand == "" {
		opts.IPCommand = "ip"
	}
	if opts.ServiceInterface == "" {
		opts.ServiceInterface = DefaultServiceInterface
	}
	if opts.UDPIdleTimeout <= 0 {
		opts.UDPIdleTimeout = 250 * time.Millisecond
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = time.Second
	}
	return &Userspace{opts: opts, ports: map[string]*userPort{}}, nil
}

// Run watches Services and Endpoints through client and keeps the
// listeners and endpoints up to date, like Proxier.Run, until ctx ends;
// then it closes every listener and connection. The ClusterIPs stay on the
// interface for the next run.
func (u *Userspace) Run(ctx context.Context, client kubernetes.Interface) error {
	defer u.Close()
	return watchServices(ctx, client, u.opts, func(ctx context.Context, services []*corev1.Service, endpoints []*corev1.Endpoints, force bool) error {
		return u.Sync(ctx, services, endpoints, force)
	})
}

// portSpec is what a userPort listens on: a change means new listeners.
type portSpec struct {
	protocol  string // tcp or udp
	clusterIP string
	port      int32
	nodePort  int32
}

// Sync makes the listeners and endpoints match services and endpoints:
// listeners of new service ports are opened, those of removed ones closed,
// and the endpoints of the others updated in place. force re-reads the
// interface's addresses. An error leaves the rest of the state applied;
// the next sync tries again.
func (u *Userspace) Sync(ctx context.Context, services []*corev1.Service, endpoints []*corev1.Endpoints, force bool) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.closed {
		return errors.New("userspace proxy is closed")
	}
	desired := map[string]*servicePort{}
	clusterIPs := map[string]bool{}
	for _, sp := range servicePorts(services, endpoints) {
		if sp.protocol != "tcp" && sp.protocol != "udp" {
			continue
		}
		desired[sp.name+"/"+sp.protocol] = sp
		clusterIPs[sp.clusterIP] = true
	}

	var errs []error
	// Listeners of removed or changed ports go first, so that their
	// addresses and ports are free for what replaces them.
	for key, up := range u.ports {
		sp, ok := desired[key]
		if ok && up.spec == specOf(sp) {
			continue
		}
		up.close()
		delete(u.ports, key)
		u.opts.Logger.Info("userspace proxy closed service port", "port", key)
	}
	if force || !u.linkOK {
		if err := u.readAddrs(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if u.linkOK {
		for ip := range clusterIPs {
			if u.addrs[ip] {
				continue
			}
			if _, err := u.opts.Exec(ctx, nil, u.opts.IPCommand, "addr", "add", ip+"/32", "dev", u.opts.ServiceInterface); err != nil {
				errs = append(errs, fmt.Errorf("add ClusterIP %s to %s: %w", ip, u.opts.ServiceInterface, err))
				continue
			}
			u.addrs[ip] = true
		}
	}
	for key, sp := range desired {
		up, ok := u.ports[key]
		if !ok {
			if u.linkOK && !u.addrs[sp.clusterIP] {
				continue // reported above
			}
			var err error
			up, err = u.listen(sp)
			if err != nil {
				errs = append(errs, fmt.Errorf("proxy %s: %w", key, err))
				continue
			}
			u.ports[key] = up
			u.opts.Logger.Info("userspace proxy opened service port", "port", key, "clusterIP", sp.clusterIP, "nodePort", sp.nodePort)
		}
		eps := make([]string, len(sp.endpoints))
		for i, ep := range sp.endpoints {
			eps[i] = ep.str
		}
		up.lb.update(eps, time.Duration(sp.affinity)*time.Second)
	}
	if u.linkOK {
		for ip := range u.addrs {
			if clusterIPs[ip] {
				continue
			}
			if _, err := u.opts.Exec(ctx, nil, u.opts.IPCommand, "addr", "del", ip+"/32", "dev", u.opts.ServiceInterface); err != nil {
				errs = append(errs, fmt.Errorf("remove ClusterIP %s from %s: %w", ip, u.opts.ServiceInterface, err))
				continue
			}
			delete(u.addrs, ip)
		}
	}
	return errors.Join(errs...)
}

// readAddrs creates the interface if it is missing and reads its IPv4
// addresses.
func (u *Userspace) readAddrs(ctx context.Context) error {
	dev := u.opts.ServiceInterface
	if _, err := u.opts.Exec(ctx, nil, u.opts.IPCommand, "link", "show", "dev", dev); err != nil {
		// A kernel built without the dummy driver gets a bridge without
		// ports, which holds local addresses just as well.
		_, err := u.opts.Exec(ctx, nil, u.opts.IPCommand, "link", "add", dev, "type", "dummy")
		if err != nil {
			if _, errBridge := u.opts.Exec(ctx, nil, u.opts.IPCommand, "link", "add", dev, "type", "bridge"); errBridge != nil {
				u.linkOK = false
				return fmt.Errorf("create interface %s: %w", dev, errors.Join(err, errBridge))
			}
			u.opts.Logger.Warn("no dummy interface support: using a bridge without ports for ClusterIPs", "interface", dev, "err", err)
		}
	}
	if _, err := u.opts.Exec(ctx, nil, u.opts.IPCommand, "link", "set", "dev", dev, "up"); err != nil {
		u.linkOK = false
		return fmt.Errorf("bring interface %s up: %w", dev, err)
	}
	out, err := u.opts.Exec(ctx, nil, u.opts.IPCommand, "-o", "-4", "addr", "show", "dev", dev)
	if err != nil {
		u.linkOK = false
		return fmt.Errorf("list addresses of %s: %w", dev, err)
	}
	u.addrs = parseAddrs(out)
	u.linkOK = true
	return nil
}

// parseAddrs returns the IPv4 /32 addresses in `ip -o -4 addr show`
// output.
func parseAddrs(out []byte) map[string]bool {
	addrs := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		for i := 0; i+1 < len(f); i++ {
			if f[i] != "inet" {
				continue
			}
			if p, err := netip.ParsePrefix(f[i+1]); err == nil && p.Bits() == 32 {
				addrs[p.Addr().String()] = true
			}
		}
	}
	return addrs
}

// Close closes every listener and proxied connection. The proxy cannot be
// used afterwards.
func (u *Userspace) Close() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for key, up := range u.ports {
		up.close()
		delete(u.ports, key)
	}
	u.closed = true
}

func specOf(sp *servicePort) portSpec {
	return portSpec{protocol: sp.protocol, clusterIP: sp.clusterIP, port: sp.port, nodePort: sp.nodePort}
}

// listenAddrs are the addresses a service port listens on: the ClusterIP
// and, for a NodePort, every node address (or each of Options.NodeIPs).
func (u *Userspace) listenAddrs(sp *servicePort) []string {
	addrs := []string{net.JoinHostPort(sp.clusterIP, itoa(sp.port))}
	if sp.nodePort > 0 {
		if len(u.opts.NodeIPs) == 0 {
			addrs = append(addrs, ":"+itoa(sp.nodePort))
		}
		for _, ip := range u.opts.NodeIPs {
			addrs = append(addrs, net.JoinHostPort(ip, itoa(sp.nodePort)))
		}
	}
	return addrs
}

// userPort is the proxy of one service port.
type userPort struct {
	name    string
	spec    portSpec
	lb      *balancer
	timeout time.Duration // dial timeout (TCP), idle timeout (UDP)
	logger  *slog.Logger

	mu      sync.Mutex
	closers map[io.Closer]bool // listeners and live connections
	closed  bool
	wg      sync.WaitGroup
}

func (u *Userspace) listen(sp *servicePort) (*userPort, error) {
	up := &userPort{name: sp.name, spec: specOf(sp), lb: &balancer{}, logger: u.opts.Logger, closers: map[io.Closer]bool{}}
	for _, addr := range u.listenAddrs(sp) {
		switch sp.protocol {
		case "tcp":
			l, err := net.Listen("tcp4", addr)
			if err != nil {
				up.close()
				return nil, fmt.Errorf("listen on tcp %s: %w", addr, err)
			}
			up.track(l)
			up.timeout = u.opts.DialTimeout
			up.wg.Add(1)
			go up.serveTCP(l)
		case "udp":
			ua, err := net.ResolveUDPAddr("udp4", addr)
			if err != nil {
				up.close()
				return nil, err
			}
			c, err := net.ListenUDP("udp4", ua)
			if err != nil {
				up.close()
				return nil, fmt.Errorf("listen on udp %s: %w", addr, err)
			}
			up.track(c)
			up.timeout = u.opts.UDPIdleTimeout
			up.wg.Add(1)
			go up.serveUDP(c, u.opts.DialTimeout)
		}
	}
	return up, nil
}

// track registers c to be closed with the port; false if the port is
// already closed, in which case c is closed now.
func (up *userPort) track(c io.Closer) bool {
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.closed {
		c.Close()
		return false
	}
	up.closers[c] = true
	return true
}

func (up *userPort) untrack(c io.Closer) {
	up.mu.Lock()
	delete(up.closers, c)
	up.mu.Unlock()
	c.Close()
}

// close closes the listeners and every live connection and waits for the
// goroutines serving them.
func (up *userPort) close() {
	up.mu.Lock()
	up.closed = true
	for c := range up.closers {
		c.Close()
	}
	clear(up.closers)
	up.mu.Unlock()
	up.wg.Wait()
}

func (up *userPort) serveTCP(l net.Listener) {
	defer up.wg.Done()
	for {
		c, err := l.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if !up.track(c) {
			return
		}
		up.wg.Add(1)
		go func() {
			defer up.wg.Done()
			defer up.untrack(c)
			up.proxyTCP(c)
		}()
	}
}

// proxyTCP connects the client to an endpoint, trying the others when one
// does not answer, and copies both ways until both sides are done. Without
// endpoints the client's connection is closed at once.
func (up *userPort) proxyTCP(c net.Conn) {
	client := hostOf(c.RemoteAddr())
	var backend net.Conn
	for try := 0; ; try++ {
		ep, ok := up.lb.pick(client, time.Now(), try)
		if !ok || try >= 3 {
			return
		}
		b, err := net.DialTimeout("tcp", ep, up.timeout)
		if err == nil {
			backend = b
			break
		}
		up.logger.Debug("userspace proxy: endpoint did not answer", "port", up.name, "endpoint", ep, "err", err)
	}
	if !up.track(backend) {
		return
	}
	defer up.untrack(backend)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(backend, c)
	go pipe(c, backend)
	<-done
	<-done
}

// udpSession is one client's flow through a UDP service port.
type udpSession struct {
	backend *net.UDPConn
}

// serveUDP reads datagrams from clients and forwards each client's to its
// session's endpoint; a session's replies go back to the client from the
// service address, and it ends after the idle timeout.
func (up *userPort) serveUDP(l *net.UDPConn, dialTimeout time.Duration) {
	defer up.wg.Done()
	var mu sync.Mutex
	sessions := map[string]*udpSession{}
	buf := make([]byte, 65535)
	for {
		n, from, err := l.ReadFromUDP(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		key := from.String()
		mu.Lock()
		s := sessions[key]
		mu.Unlock()
		if s == nil {
			ep, ok := up.lb.pick(from.IP.String(), time.Now(), 0)
			if !ok {
				continue
			}
			d := net.Dialer{Timeout: dialTimeout}
			bc, err := d.Dial("udp4", ep)
			if err != nil {
				up.logger.Debug("userspace proxy: dial udp endpoint", "port", up.name, "endpoint", ep, "err", err)
				continue
			}
			if !up.track(bc) {
				return
			}
			s = &udpSession{backend: bc.(*net.UDPConn)}
			mu.Lock()
			sessions[key] = s
			mu.Unlock()
			up.wg.Add(1)
			go func() {
				defer up.wg.Done()
				defer func() {
					mu.Lock()
					delete(sessions, key)
					mu.Unlock()
					up.untrack(s.backend)
				}()
				reply := make([]byte, 65535)
				for {
					_ = s.backend.SetReadDeadline(time.Now().Add(up.timeout))
					n, err := s.backend.Read(reply)
					if err != nil {
						return
					}
					if _, err := l.WriteToUDP(reply[:n], from); err != nil {
						return
					}
				}
			}()
		}
		_ = s.backend.SetReadDeadline(time.Now().Add(up.timeout))
		if _, err := s.backend.Write(buf[:n]); err != nil {
			up.logger.Debug("userspace proxy: forward udp", "port", up.name, "err", err)
		}
	}
}

func hostOf(a net.Addr) string {
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// userspacePortKeys lists the service ports being proxied, sorted; for
// tests and logs.
func (u *Userspace) userspacePortKeys() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	keys := make([]string, 0, len(u.ports))
	for k := range u.ports {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
