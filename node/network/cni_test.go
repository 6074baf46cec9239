package network

import (
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCNI is one node's CNI for a test, with its conf and lease
// directories in the test's temporary directory.
func testCNI(tb testing.TB, podCIDR string) (*CNI, string) {
	tb.Helper()
	dataDir := tb.TempDir()
	c, err := New(Config{
		PodCIDR:     podCIDR,
		ClusterCIDR: "10.88.0.0/16",
		ConfDir:     tb.TempDir(),
		DataDir:     dataDir,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c, filepath.Join(dataDir, NetworkName)
}

// setUp sets the pod up from a thread inside the node namespace, and
// tears it down at cleanup (which also clears the CNI result cache).
func setUp(tb testing.TB, c *CNI, nodePath, podID, podPath string, ports []PortMapping) net.IP {
	tb.Helper()
	var ip net.IP
	if err := Do(nodePath, func() error {
		var err error
		ip, err = c.SetUp(context.Background(), podID, podPath, ports)
		return err
	}); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := tearDown(c, nodePath, podID, podPath, ports); err != nil {
			tb.Error(err)
		}
	})
	return ip
}

func tearDown(c *CNI, nodePath, podID, podPath string, ports []PortMapping) error {
	return Do(nodePath, func() error {
		return c.TearDown(context.Background(), podID, podPath, ports)
	})
}

func leased(tb testing.TB, leaseDir string, ip net.IP) bool {
	tb.Helper()
	_, err := os.Stat(filepath.Join(leaseDir, ip.String()))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatal(err)
	}
	return err == nil
}

func TestConfList(t *testing.T) {
	b, err := confList(Config{PodCIDR: "10.88.1.0/24", Bridge: "cairn0", DataDir: "/leases", MTU: 1400}, "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []struct {
			Type         string          `json:"type"`
			Bridge       string          `json:"bridge"`
			IsGateway    bool            `json:"isGateway"`
			IPMasq       *bool           `json:"ipMasq"`
			HairpinMode  bool            `json:"hairpinMode"`
			MTU          int             `json:"mtu"`
			Capabilities map[string]bool `json:"capabilities"`
			SNAT         bool            `json:"snat"`
			IPAM         struct {
				Type    string                `json:"type"`
				Ranges  [][]map[string]string `json:"ranges"`
				Routes  []map[string]string   `json:"routes"`
				DataDir string                `json:"dataDir"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.CNIVersion != "1.0.0" || got.Name != "cairn" || len(got.Plugins) != 2 {
		t.Fatalf("conflist:\n%s", b)
	}
	br, pm := got.Plugins[0], got.Plugins[1]
	if br.Type != "bridge" || br.Bridge != "cairn0" || !br.IsGateway || br.IPMasq == nil || *br.IPMasq || !br.HairpinMode || br.MTU != 1400 {
		t.Errorf("bridge plugin:\n%s", b)
	}
	if br.IPAM.Type != "host-local" || br.IPAM.Ranges[0][0]["subnet"] != "10.88.1.0/24" ||
		br.IPAM.Routes[0]["dst"] != "0.0.0.0/0" || br.IPAM.DataDir != "/leases" {
		t.Errorf("ipam:\n%s", b)
	}
	if pm.Type != "portmap" || !pm.Capabilities["portMappings"] || !pm.SNAT {
		t.Errorf("portmap plugin:\n%s", b)
	}
	if _, err := confList(Config{PodCIDR: "nonsense"}, "1.0.0"); err == nil {
		t.Error("ConfList accepted an invalid pod CIDR")
	}
}

func TestNewValidates(t *testing.T) {
	for _, cfg := range []Config{
		{},
		{PodCIDR: "10.88.1.0"},
		{PodCIDR: "10.88.1.0/24", ClusterCIDR: "10.89.0.0/16"},
		{PodCIDR: "10.88.1.0/24", BinDirs: []string{t.TempDir()}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}

// TestPodNetwork sets two pods up on one node (a network namespace that
// stands for the node's host) and checks addresses, pod-to-pod traffic,
// hostPorts and teardown.
func TestPodNetwork(t *testing.T) {
	requireRoot(t, true)
	nodeName, nodePath := nodeNS(t)
	clientName, clientPath := nodeNS(t)
	// A link from another namespace to the node, to reach its hostPorts.
	run(t, nodeName, "ip", "link", "add", "uplink", "type", "veth", "peer", "name", "uplink", "netns", clientName)
	run(t, nodeName, "ip", "addr", "add", "192.168.77.1/24", "dev", "uplink")
	run(t, nodeName, "ip", "link", "set", "uplink", "up")
	run(t, clientName, "ip", "addr", "add", "192.168.77.2/24", "dev", "uplink")
	run(t, clientName, "ip", "link", "set", "uplink", "up")

	c, leases := testCNI(t, "10.88.1.0/24")
	if err := c.Status(); err != nil {
		t.Fatalf("Status: %v", err)
	}
	if got := c.cni.GetConfig().Networks[0].Config.CNIVersion; got != "1.0.0" {
		t.Errorf("conflist cniVersion %s, want 1.0.0 (the plugins support it)", got)
	}
	dir := netnsDir(t)
	idA, idB := randomName("pod-a-"), randomName("pod-b-")
	podA, podB := podNS(t, dir, idA), podNS(t, dir, idB)
	ports := []PortMapping{{HostPort: 30080, ContainerPort: 8080, Protocol: "TCP"}}

	_, subnet, _ := net.ParseCIDR("10.88.1.0/24")
	ipA := setUp(t, c, nodePath, idA, podA, nil)
	ipB := setUp(t, c, nodePath, idB, podB, ports)
	for _, ip := range []net.IP{ipA, ipB} {
		if !subnet.Contains(ip) || ip.Equal(net.IPv4(10, 88, 1, 1)) {
			t.Errorf("pod IP %s not a pod address in %s", ip, subnet)
		}
		if !leased(t, leases, ip) {
			t.Errorf("host-local has no lease for %s", ip)
		}
	}
	if ipA.Equal(ipB) {
		t.Fatalf("both pods got %s", ipA)
	}
	again := setUp(t, c, nodePath, idA, podA, nil)
	if !again.Equal(ipA) {
		t.Errorf("second SetUp gave %s, want %s", again, ipA)
	}
	t.Logf("pod A %s, pod B %s", ipA, ipB)

	// The plugins ran in the node namespace, not on the host: the bridge
	// and the hostPort rules are there and only there.
	run(t, nodeName, "ip", "link", "show", "cairn0")
	if _, err := net.InterfaceByName("cairn0"); err == nil {
		t.Error("a cairn0 bridge exists on the host")
	}
	if nat := run(t, nodeName, "iptables-save", "-t", "nat"); !strings.Contains(nat, idB) {
		t.Errorf("node nat table lacks pod B's hostPort rules:\n%s", nat)
	}
	if nat := run(t, "", "iptables-save", "-t", "nat"); strings.Contains(nat, idB) {
		t.Error("the host's nat table has pod B's hostPort rules")
	}

	// Pod to pod over the bridge, with the pod's own source address.
	serve(t, podB, ":8080")
	seen, err := dial(podA, net.JoinHostPort(ipB.String(), "8080"))
	if err != nil {
		t.Fatalf("pod A to pod B: %v", err)
	}
	if seen != ipA.String() {
		t.Errorf("pod B saw %s, want pod A's %s", seen, ipA)
	}

	// hostPort 30080 on the node's address reaches pod B's 8080.
	seen, err = dial(clientPath, "192.168.77.1:30080")
	if err != nil {
		t.Fatalf("client to node hostPort: %v", err)
	}
	if seen != "192.168.77.2" {
		t.Errorf("pod B saw %s through the hostPort, want 192.168.77.2", seen)
	}

	// TearDown releases the address and is idempotent; the pod can be set
	// up again.
	for range 2 {
		if err := tearDown(c, nodePath, idA, podA, nil); err != nil {
			t.Fatalf("TearDown: %v", err)
		}
	}
	if leased(t, leases, ipA) {
		t.Errorf("lease for %s still held after TearDown", ipA)
	}
	if err := Do(podA, func() error {
		_, err := net.InterfaceByName("eth0")
		return err
	}); err == nil {
		t.Error("pod A still has eth0 after TearDown")
	}
	ipA2 := setUp(t, c, nodePath, idA, podA, nil)
	if !subnet.Contains(ipA2) || ipA2.Equal(ipB) {
		t.Errorf("pod A set up again got %s", ipA2)
	}

	// With the pod's namespace already gone, TearDown still releases the
	// lease and the hostPort rules.
	if err := DeleteNetNS(podB); err != nil {
		t.Fatal(err)
	}
	if err := tearDown(c, nodePath, idB, podB, ports); err != nil {
		t.Fatalf("TearDown without netns: %v", err)
	}
	if leased(t, leases, ipB) {
		t.Errorf("lease for %s still held after TearDown without netns", ipB)
	}
	if nat := run(t, nodeName, "iptables-save", "-t", "nat"); strings.Contains(nat, idB) {
		t.Errorf("pod B's hostPort rules left after TearDown:\n%s", nat)
	}

	if err := c.Status(); err != nil {
		t.Errorf("Status after use: %v", err)
	}
}

// TestAddressReuse checks that a released address goes to the next pod,
// on a range with room for a single pod (10.88.9.1 is the gateway).
func TestAddressReuse(t *testing.T) {
	requireRoot(t, true)
	_, nodePath := nodeNS(t)
	c, err := New(Config{PodCIDR: "10.88.9.0/30", ConfDir: t.TempDir(), DataDir: t.TempDir(), Bridge: "cairn9"})
	if err != nil {
		t.Fatal(err)
	}
	dir := netnsDir(t)
	idX, idY := randomName("pod-x-"), randomName("pod-y-")
	podX, podY := podNS(t, dir, idX), podNS(t, dir, idY)
	ipX := setUp(t, c, nodePath, idX, podX, nil)
	if !ipX.Equal(net.IPv4(10, 88, 9, 2)) {
		t.Fatalf("pod X got %s, want 10.88.9.2", ipX)
	}
	if err := Do(nodePath, func() error {
		_, err := c.SetUp(context.Background(), idY, podY, nil)
		return err
	}); err == nil {
		t.Fatal("pod Y got an address from a full range")
	}
	if err := Do(podY, func() error {
		_, err := net.InterfaceByName("eth0")
		return err
	}); err == nil {
		t.Error("the failed SetUp left eth0 in pod Y")
	}
	if err := tearDown(c, nodePath, idX, podX, nil); err != nil {
		t.Fatal(err)
	}
	if ipY := setUp(t, c, nodePath, idY, podY, nil); !ipY.Equal(ipX) {
		t.Errorf("pod Y got %s after pod X released %s", ipY, ipX)
	}
}

// TestSetUpLatency measures SetUp per pod; the kubelet's pod start-up
// budget is 1s at p99.
func TestSetUpLatency(t *testing.T) {
	requireRoot(t, true)
	_, nodePath := nodeNS(t)
	c, _ := testCNI(t, "10.88.1.0/24")
	dir := netnsDir(t)
	const pods = 20
	measure := func(ports func(i int) []PortMapping) (took []time.Duration) {
		for i := range pods {
			id := randomName("pod-")
			path := podNS(t, dir, id)
			start := time.Now()
			ip := setUp(t, c, nodePath, id, path, ports(i))
			took = append(took, time.Since(start))
			if ip == nil {
				t.Fatalf("pod %d got no IP", i)
			}
		}
		slices.Sort(took)
		return took
	}
	for _, m := range []struct {
		name  string
		ports func(i int) []PortMapping
	}{
		{"without hostPorts", func(int) []PortMapping { return nil }},
		{"with one hostPort", func(i int) []PortMapping {
			return []PortMapping{{HostPort: int32(31000 + i), ContainerPort: 80}}
		}},
	} {
		took := measure(m.ports)
		t.Logf("SetUp of %d pods %s: min %v, median %v, max %v", pods, m.name, took[0], took[pods/2], took[pods-1])
		if took[pods/2] > time.Second {
			t.Errorf("median SetUp %s %v exceeds 1s", m.name, took[pods/2])
		}
	}
}

// TestConcurrentSetUp sets pods up in parallel, as the kubelet does.
func TestConcurrentSetUp(t *testing.T) {
	requireRoot(t, true)
	_, nodePath := nodeNS(t)
	c, _ := testCNI(t, "10.88.1.0/24")
	dir := netnsDir(t)
	const pods = 8
	ids, paths := make([]string, pods), make([]string, pods)
	for i := range pods {
		ids[i] = randomName("pod-")
		paths[i] = podNS(t, dir, ids[i])
	}
	ips := make([]net.IP, pods)
	errs := make([]error, pods)
	var wg sync.WaitGroup
	for i := range pods {
		wg.Go(func() {
			errs[i] = Do(nodePath, func() error {
				var err error
				ips[i], err = c.SetUp(context.Background(), ids[i], paths[i], nil)
				return err
			})
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range pods {
		t.Cleanup(func() {
			if err := tearDown(c, nodePath, ids[i], paths[i], nil); err != nil {
				t.Error(err)
			}
		})
		if errs[i] != nil {
			t.Errorf("pod %d: %v", i, errs[i])
			continue
		}
		if seen[ips[i].String()] {
			t.Errorf("address %s given twice", ips[i])
		}
		seen[ips[i].String()] = true
	}
}

// TestPluginVersion picks 1.0.0 when every plugin has it and otherwise
// the highest version they share.
func TestPluginVersion(t *testing.T) {
	fake := func(versions map[string]string) string {
		dir := t.TempDir()
		for _, p := range plugins {
			v := versions[p]
			if v == "" {
				v = `"0.3.1","0.4.0","1.0.0","1.1.0"`
			}
			script := "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[" + v + "]}'\n"
			if err := os.WriteFile(filepath.Join(dir, p), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, tc := range []struct {
		name     string
		versions map[string]string
		want     string
	}{
		{"all support 1.0.0", nil, "1.0.0"},
		{"one lacks 1.0.0", map[string]string{"portmap": `"0.3.0","0.3.1","0.4.0"`}, "0.4.0"},
		{"minor versions compare as numbers", map[string]string{
			"bridge":     `"0.2.0","0.10.0"`,
			"portmap":    `"0.2.0","0.10.0"`,
			"loopback":   `"0.2.0","0.10.0"`,
			"host-local": `"0.2.0","0.10.0"`,
		}, "0.10.0"},
		{"nothing in common", map[string]string{"bridge": `"0.1.0"`}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pluginVersion(context.Background(), []string{fake(tc.versions)})
			if tc.want == "" {
				if err == nil {
					t.Errorf("got %s, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %s", got, err, tc.want)
			}
		})
	}
}
