package nodee2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cairn-dev/cairn/node/network"
	"github.com/cairn-dev/cairn/node/runtime/imagetest"
)

// The test network: a bridge in the host namespace with the API server's
// address, and one namespace per node attached to it by a veth pair.
const (
	bridgeName  = "ce2e0"
	bridgeIP    = "192.168.231.1"
	clusterCIDR = "10.244.0.0/16"
	netnsPrefix = "ce2e-"
)

// node is one agent in its own network namespace.
type node struct {
	name, ip, netns string
	dir             string
	cmd             *exec.Cmd
	log             *os.File
}

// cluster is a cairn server and its agents on this machine.
type cluster struct {
	dir    string
	bin    string
	images string
	server *exec.Cmd
	addr   string // the API server's port on bridgeIP
	token  string
	client kubernetes.Interface
	nodes  map[string]*node
}

var shared *cluster

// prerequisites are what the node e2e tests need on the machine.
func prerequisites() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("the node e2e tests need root")
	}
	for _, tool := range []string{"containerd", "runc", "ip", "iptables", "nsenter", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s is not installed (hack/prereqs.sh installs it)", tool)
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		if _, err := os.Stat("/opt/cni/bin/bridge"); err != nil {
			return fmt.Errorf("the CNI plugins are not installed (containernetworking-plugins)")
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	if err := prerequisites(); err != nil {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "node e2e:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "node e2e: skipping:", err)
		os.Exit(0)
	}
	c, err := startCluster("e2e-a", "e2e-b")
	if err != nil {
		fmt.Fprintln(os.Stderr, "node e2e: starting the cluster:", err)
		if c != nil {
			c.dumpLogs(os.Stderr)
			c.stop()
		}
		os.Exit(1)
	}
	shared = c
	code := m.Run()
	if code != 0 {
		c.dumpLogs(os.Stderr)
	}
	c.stop()
	os.Exit(code)
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

func startCluster(names ...string) (*cluster, error) {
	dir, err := os.MkdirTemp("", "ce2e-")
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir, bin: filepath.Join(dir, "cairn"), images: filepath.Join(dir, "images"), nodes: map[string]*node{}}
	build := exec.Command("go", "build", "-o", c.bin, "github.com/cairn-dev/cairn/cmd/cairn")
	if out, err := build.CombinedOutput(); err != nil {
		return c, fmt.Errorf("building cairn: %w: %s", err, out)
	}
	if err := os.MkdirAll(c.images, 0o755); err != nil {
		return c, err
	}
	if _, err := imagetest.Build(c.images, imagetest.Ref); err != nil {
		return c, fmt.Errorf("building the test image: %w", err)
	}
	cleanNetwork(len(names))
	if err := run("ip", "link", "add", bridgeName, "type", "bridge"); err != nil {
		return c, err
	}
	if err := run("ip", "addr", "add", bridgeIP+"/24", "dev", bridgeName); err != nil {
		return c, err
	}
	if err := run("ip", "link", "set", bridgeName, "up"); err != nil {
		return c, err
	}
	if err := c.startServer(); err != nil {
		return c, err
	}
	for i, name := range names {
		n := &node{name: name, ip: fmt.Sprintf("192.168.231.%d", 11+i), netns: fmt.Sprintf("%s%d", netnsPrefix, i),
			dir: filepath.Join(dir, name)}
		c.nodes[name] = n
		if err := n.plumb(i); err != nil {
			return c, err
		}
		if err := c.startAgent(n); err != nil {
			return c, err
		}
	}
	if err := c.waitNodesReady(90 * time.Second); err != nil {
		return c, err
	}
	return c, nil
}

// cleanNetwork removes what an earlier run that was killed left behind.
func cleanNetwork(nodes int) {
	_ = exec.Command("ip", "link", "del", bridgeName).Run()
	for i := range nodes {
		_ = exec.Command("ip", "netns", "del", fmt.Sprintf("%s%d", netnsPrefix, i)).Run()
	}
}

// plumb makes the node's namespace: a veth into the bridge, its address,
// a default route through the bridge, and a loopback.
func (n *node) plumb(i int) error {
	host := fmt.Sprintf("ce2e-h%d", i)
	for _, args := range [][]string{
		{"netns", "add", n.netns},
		{"link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", n.netns},
		{"link", "set", host, "master", bridgeName},
		{"link", "set", host, "up"},
		{"-n", n.netns, "addr", "add", n.ip + "/24", "dev", "eth0"},
		{"-n", n.netns, "link", "set", "eth0", "up"},
		{"-n", n.netns, "link", "set", "lo", "up"},
		{"-n", n.netns, "route", "add", "default", "via", bridgeIP},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

func (c *cluster) startServer() error {
	data := filepath.Join(c.dir, "server")
	c.server = exec.Command(c.bin, "server", "--data-dir", data, "--secure-port", "0", "--bind-address", "0.0.0.0",
		"--advertise-address", bridgeIP, "--allocate-node-cidrs", "--cluster-cidr", clusterCIDR, "--components", "apiserver,controller-manager,scheduler")
	logf, err := os.Create(filepath.Join(c.dir, "server.log"))
	if err != nil {
		return err
	}
	c.server.Stdout, c.server.Stderr = logf, logf
	if err := c.server.Start(); err != nil {
		return err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		addr, err1 := os.ReadFile(filepath.Join(data, "server.addr"))
		token, err2 := os.ReadFile(filepath.Join(data, "join-token"))
		_, err3 := os.Stat(filepath.Join(data, "admin.kubeconfig"))
		if err1 == nil && err2 == nil && err3 == nil && len(addr) > 0 {
			_, port, _ := strings.Cut(strings.TrimSpace(string(addr)), ":")
			c.addr = bridgeIP + ":" + port
			c.token = strings.TrimSpace(string(token))
			cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(data, "admin.kubeconfig"))
			if err != nil {
				return err
			}
			cfg.QPS, cfg.Burst = 100, 200
			if c.client, err = kubernetes.NewForConfig(cfg); err != nil {
				return err
			}
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("the server did not start within 60s")
}

func (c *cluster) startAgent(n *node) error {
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(c.dir, n.name+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n.log = logf
	// nsenter changes only the network namespace: `ip netns exec` would
	// also remount /sys and hide the cgroup hierarchies from containerd.
	n.cmd = exec.Command("nsenter", "--net=/var/run/netns/"+n.netns, "--",
		c.bin, "agent", "--server", "https://"+c.addr, "--token", c.token, "--node-name", n.name, "--node-ip", n.ip,
		"--data-dir", n.dir, "--containerd-address", filepath.Join(n.dir, "containerd.sock"), "--image-dir", c.images,
		"--cgroup-parent", "/"+netnsPrefix+n.name, "--cluster-cidr", clusterCIDR, "--proxy-mode", "iptables", "--log-level", agentLogLevel())
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	return n.cmd.Start()
}

// agentLogLevel is the agents' --log-level: CAIRN_E2E_AGENT_LOG, or info.
func agentLogLevel() string {
	if l := os.Getenv("CAIRN_E2E_AGENT_LOG"); l != "" {
		return l
	}
	return "info"
}

// restartAgent kills a node's agent without warning and starts it again.
func (c *cluster) restartAgent(t *testing.T, name string) {
	n := c.nodes[name]
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.cmd.Wait()
	if err := c.startAgent(n); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) waitNodesReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		nodes, err := c.client.CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
		if err == nil {
			ready := 0
			last = ""
			for _, n := range nodes.Items {
				for _, cond := range n.Status.Conditions {
					if cond.Type == corev1.NodeReady {
						last += fmt.Sprintf("%s Ready=%s (%s) podCIDR=%q; ", n.Name, cond.Status, cond.Message, n.Spec.PodCIDR)
						if cond.Status == corev1.ConditionTrue {
							ready++
						}
					}
				}
			}
			if ready == len(c.nodes) {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("nodes not Ready within %v: %s", timeout, last)
}

// stop deletes every pod, waits for the agents to clean up, stops every
// process and removes the network and the files.
func (c *cluster) stop() {
	if c.client != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		zero := int64(1)
		_ = c.client.CoreV1().Pods("default").DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero}, metav1.ListOptions{})
		for ctx.Err() == nil {
			pods, err := c.client.CoreV1().Pods("default").List(ctx, metav1.ListOptions{})
			if err != nil || len(pods.Items) == 0 {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		cancel()
	}
	for _, n := range c.nodes {
		if n.cmd != nil && n.cmd.Process != nil {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			_ = n.cmd.Wait()
		}
	}
	if c.server != nil && c.server.Process != nil {
		_ = c.server.Process.Signal(syscall.SIGTERM)
		_ = c.server.Wait()
	}
	// containerd and its shims were started detached by the agents; every
	// one of them names a path under the test's directory.
	_ = exec.Command("pkill", "-9", "-f", c.dir).Run()
	for _, n := range c.nodes {
		killCgroup("/" + netnsPrefix + n.name)
	}
	unmountUnder(c.dir)
	cleanNetwork(len(c.nodes))
	_ = exec.Command("iptables", "-t", "nat", "-F").Run() // nothing: the nodes' rules died with their namespaces
	if keep := os.Getenv("CAIRN_E2E_KEEP_LOGS"); keep != "" {
		_ = os.MkdirAll(keep, 0o755)
		for _, name := range []string{"server.log", "e2e-a.log", "e2e-b.log"} {
			if b, err := os.ReadFile(filepath.Join(c.dir, name)); err == nil {
				_ = os.WriteFile(filepath.Join(keep, name), b, 0o644)
			}
		}
	}
	_ = os.RemoveAll(c.dir)
}

// killCgroup kills every process left in a cgroup tree and removes it.
func killCgroup(parent string) {
	root := filepath.Join("/sys/fs/cgroup/pids", parent)
	if _, err := os.Stat(root); err != nil {
		root = filepath.Join("/sys/fs/cgroup", parent)
	}
	var dirs []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	for _, d := range dirs {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			var pid int
			if _, err := fmt.Sscan(f, &pid); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	time.Sleep(100 * time.Millisecond)
	for _, ctrl := range []string{"pids", "memory", "cpu", "cpuacct", "cpuset", "blkio", "devices", "freezer", "systemd", ""} {
		base := filepath.Join("/sys/fs/cgroup", ctrl, parent)
		var all []string
		_ = filepath.WalkDir(base, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				all = append(all, p)
			}
			return nil
		})
		sort.Sort(sort.Reverse(sort.StringSlice(all)))
		for _, p := range all {
			_ = syscall.Rmdir(p)
		}
	}
}

// unmountUnder unmounts every mount below dir, deepest first.
func unmountUnder(dir string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var mounts []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], dir) {
			mounts = append(mounts, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

func (c *cluster) dumpLogs(w io.Writer) {
	for _, name := range []string{"server.log", "e2e-a.log", "e2e-b.log"} {
		b, err := os.ReadFile(filepath.Join(c.dir, name))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		fmt.Fprintf(w, "---- %s (last %d lines)\n%s\n", name, len(lines), strings.Join(lines, "\n"))
	}
}

// get fetches url from inside a node's network namespace. The connection
// is dialled on the thread inside the namespace (http.Transport would dial
// from another goroutine, in the host's namespace); the socket keeps its
// namespace afterwards.
func (n *node) get(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", err
	}
	var conn net.Conn
	err = network.Do("/var/run/netns/"+n.netns, func() error {
		var err error
		conn, err = net.DialTimeout("tcp", u.Host, 3*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Close = true
	if err := req.Write(conn); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s: %s", rawURL, resp.Status, b)
	}
	return string(b), nil
}
