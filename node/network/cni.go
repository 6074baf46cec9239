package network

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	gocni "github.com/containerd/go-cni"
	"github.com/containernetworking/cni/pkg/version"

	"github.com/cairn-dev/cairn/atomicfile"
)

// NetworkName is the name of cairn's CNI network and of its conflist file
// (<ConfDir>/cairn.conflist).
const NetworkName = "cairn"

// podInterface is the pod's side of its veth pair.
const podInterface = "eth0"

// plugins are the CNI plugins cairn's network uses.
var plugins = []string{"bridge", "host-local", "portmap", "loopback"}

// preferredCNIVersion is written into the conflist when every plugin
// supports it; otherwise the highest version they all support is used.
const preferredCNIVersion = "1.0.0"

// Config describes the node's pod network. Zero values take the defaults
// documented on each field.
type Config struct {
	// PodCIDR is the node's spec.podCIDR, the range host-local assigns
	// pod addresses from. Required.
	PodCIDR string
	// ClusterCIDR is the whole pod network; when set, PodCIDR must lie in
	// it.
	ClusterCIDR string
	// BinDirs are searched in order for the plugins; default
	// /usr/lib/cni and /opt/cni/bin.
	BinDirs []string
	// ConfDir receives cairn.conflist; default /etc/cni/net.d.
	ConfDir string
	// DataDir holds host-local's address leases; default host-local's own
	// (/var/lib/cni/networks).
	DataDir string
	// Bridge is the node's pod bridge; default cairn0.
	Bridge string
	// MTU of the bridge and the pods' interfaces; 0 keeps the kernel's.
	MTU int
}

// PortMapping is a pod's hostPort: traffic to HostIP:HostPort (any local
// address when HostIP is empty) goes to the pod's ContainerPort.
type PortMapping struct {
	HostPort      int32
	ContainerPort int32
	// Protocol is tcp (default), udp or sctp, in any case.
	Protocol string
	HostIP   string
}

// CNI wires pods' network namespaces to the node's bridge with the
// distro's CNI plugins through go-cni. Its methods are safe for concurrent
// use.
type CNI struct {
	cfg      Config
	subnet   *net.IPNet
	confPath string
	conf     []byte
	cni      gocni.CNI
}

// New checks cfg and the plugins, writes the conflist and loads it.
func New(cfg Config) (*CNI, error) {
	if len(cfg.BinDirs) == 0 {
		cfg.BinDirs = []string{"/usr/lib/cni", "/opt/cni/bin"}
	}
	if cfg.ConfDir == "" {
		cfg.ConfDir = "/etc/cni/net.d"
	}
	if cfg.Bridge == "" {
		cfg.Bridge = "cairn0"
	}
	_, subnet, err := net.ParseCIDR(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("cni: pod CIDR: %w", err)
	}
	if cfg.ClusterCIDR != "" {
		_, cluster, err := net.ParseCIDR(cfg.ClusterCIDR)
		if err != nil {
			return nil, fmt.Errorf("cni: cluster CIDR: %w", err)
		}
		if !containsNet(cluster, subnet) {
			return nil, fmt.Errorf("cni: pod CIDR %s is not inside cluster CIDR %s", subnet, cluster)
		}
	}
	if err := findPlugins(cfg.BinDirs); err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cniVersion, err := pluginVersion(ctx, cfg.BinDirs)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	conf, err := confList(cfg, cniVersion)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	c := &CNI{
		cfg:      cfg,
		subnet:   subnet,
		confPath: filepath.Join(cfg.ConfDir, NetworkName+".conflist"),
		conf:     conf,
	}
	if err := writeFileAtomic(c.confPath, conf); err != nil {
		return nil, fmt.Errorf("cni: write conflist: %w", err)
	}
	c.cni, err = gocni.New(
		gocni.WithPluginDir(cfg.BinDirs),
		gocni.WithPluginConfDir(cfg.ConfDir),
		gocni.WithMinNetworkCount(2),
	)
	if err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	// The conflist goes first so that its interface is eth0; loopback is
	// its own network on lo, as the CRI does it.
	if err := c.cni.Load(gocni.WithConfListFile(c.confPath), gocni.WithLoNetwork); err != nil {
		return nil, fmt.Errorf("cni: load %s: %w", c.confPath, err)
	}
	return c, nil
}

// confList renders cairn's conflist for cfg (defaults already applied):
// bridge with host-local IPAM over PodCIDR and a default route, then
// portmap for hostPorts.
func confList(cfg Config, cniVersion string) ([]byte, error) {
	ip, _, err := net.ParseCIDR(cfg.PodCIDR)
	if err != nil {
		return nil, fmt.Errorf("pod CIDR: %w", err)
	}
	defaultRoute := "0.0.0.0/0"
	if ip.To4() == nil {
		defaultRoute = "::/0"
	}
	ipam := map[string]any{
		"type":   "host-local",
		"ranges": [][]map[string]string{{{"subnet": cfg.PodCIDR}}},
		"routes": []map[string]string{{"dst": defaultRoute}},
	}
	if cfg.DataDir != "" {
		ipam["dataDir"] = cfg.DataDir
	}
	bridge := map[string]any{
		"type":        "bridge",
		"bridge":      cfg.Bridge,
		"isGateway":   true,
		"ipMasq":      false,
		"hairpinMode": true,
		"ipam":        ipam,
	}
	if cfg.MTU > 0 {
		bridge["mtu"] = cfg.MTU
	}
	list := map[string]any{
		"cniVersion": cniVersion,
		"name":       NetworkName,
		"plugins": []any{
			bridge,
			map[string]any{
				"type":         "portmap",
				"capabilities": map[string]bool{"portMappings": true},
				"snat":         true,
			},
		},
	}
	return json.MarshalIndent(list, "", "  ")
}

// SetUp adds the pod's network namespace to the network and returns the
// pod's IP. A pod whose namespace already has its address gets that
// address back and nothing changes. If setting up fails halfway, what was
// set up is torn down again.
func (c *CNI) SetUp(ctx context.Context, podID, netnsPath string, ports []PortMapping) (net.IP, error) {
	if ip, err := c.podIP(netnsPath); err != nil {
		return nil, fmt.Errorf("cni setup %s: %w", podID, err)
	} else if ip != nil {
		return ip, nil
	}
	// Serially, so every plugin is started from the calling goroutine's
	// thread (and so in its network namespace, when run inside Do).
	res, err := c.cni.SetupSerially(ctx, podID, netnsPath, portOpts(ports)...)
	if err != nil {
		if rmErr := c.cni.Remove(context.WithoutCancel(ctx), podID, netnsPath, portOpts(ports)...); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("undo: %w", rmErr))
		}
		return nil, fmt.Errorf("cni setup %s: %w", podID, err)
	}
	if iface := res.Interfaces[podInterface]; iface != nil {
		for _, ipc := range iface.IPConfigs {
			if c.subnet.Contains(ipc.IP) {
				return ipc.IP, nil
			}
		}
	}
	return nil, fmt.Errorf("cni setup %s: result has no address in %s for %s", podID, c.subnet, podInterface)
}

// TearDown removes the pod from the network: its hostPort rules, its
// veth and its address lease. netnsPath may already be gone, in which
// case the lease and rules are still released. Tearing down a pod that is
// not set up does nothing.
func (c *CNI) TearDown(ctx context.Context, podID, netnsPath string, ports []PortMapping) error {
	if !isNetNS(netnsPath) {
		netnsPath = ""
	}
	if err := c.cni.Remove(ctx, podID, netnsPath, portOpts(ports)...); err != nil {
		return fmt.Errorf("cni teardown %s: %w", podID, err)
	}
	return nil
}

// Status returns nil when the plugins are installed and the conflist is
// written and loaded.
func (c *CNI) Status() error {
	if err := findPlugins(c.cfg.BinDirs); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	got, err := os.ReadFile(c.confPath)
	if err != nil {
		return fmt.Errorf("cni: conflist: %w", err)
	}
	if !bytes.Equal(got, c.conf) {
		return fmt.Errorf("cni: conflist %s was changed", c.confPath)
	}
	if err := c.cni.Status(); err != nil {
		return fmt.Errorf("cni: %w", err)
	}
	return nil
}

// podIP returns the pod's address on eth0 when its namespace has one in
// the pod CIDR, and nil otherwise.
func (c *CNI) podIP(netnsPath string) (net.IP, error) {
	var ip net.IP
	err := Do(netnsPath, func() error {
		iface, err := net.InterfaceByName(podInterface)
		if err != nil {
			return nil // not set up yet
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return fmt.Errorf("addresses of %s: %w", podInterface, err)
		}
		for _, a := range addrs {
			if n, ok := a.(*net.IPNet); ok && c.subnet.Contains(n.IP) {
				ip = n.IP
				return nil
			}
		}
		return nil
	})
	return ip, err
}

func portOpts(ports []PortMapping) []gocni.NamespaceOpts {
	var pm []gocni.PortMapping
	for _, p := range ports {
		if p.HostPort == 0 {
			continue
		}
		proto := strings.ToLower(p.Protocol)
		if proto == "" {
			proto = "tcp"
		}
		pm = append(pm, gocni.PortMapping{
			HostPort:      p.HostPort,
			ContainerPort: p.ContainerPort,
			Protocol:      proto,
			HostIP:        p.HostIP,
		})
	}
	if len(pm) == 0 {
		return nil
	}
	return []gocni.NamespaceOpts{gocni.WithCapabilityPortMap(pm)}
}

// findPlugins returns an error naming the plugins missing from dirs.
func findPlugins(dirs []string) error {
	var missing []string
	for _, p := range plugins {
		if _, err := pluginPath(dirs, p); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("plugins %s not found in %s", strings.Join(missing, ", "), strings.Join(dirs, ", "))
	}
	return nil
}

func pluginPath(dirs []string, name string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("plugin %s not found", name)
}

// pluginVersion asks every plugin for the CNI versions it supports (the
// VERSION command) and picks preferredCNIVersion if all support it, else
// the highest version they have in common.
func pluginVersion(ctx context.Context, dirs []string) (string, error) {
	var common []string
	for i, name := range plugins {
		path, err := pluginPath(dirs, name)
		if err != nil {
			return "", err
		}
		cmd := exec.CommandContext(ctx, path)
		cmd.Env = append(os.Environ(), "CNI_COMMAND=VERSION")
		cmd.Stdin = strings.NewReader(`{"cniVersion":"` + preferredCNIVersion + `"}`)
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("%s VERSION: %w", name, err)
		}
		var info struct {
			SupportedVersions []string `json:"supportedVersions"`
		}
		if err := json.Unmarshal(out, &info); err != nil {
			return "", fmt.Errorf("%s VERSION: %w", name, err)
		}
		if i == 0 {
			common = info.SupportedVersions
			continue
		}
		common = slices.DeleteFunc(common, func(v string) bool {
			return !slices.Contains(info.SupportedVersions, v)
		})
	}
	if slices.Contains(common, preferredCNIVersion) {
		return preferredCNIVersion, nil
	}
	best := ""
	for _, v := range common {
		if _, _, _, err := version.ParseVersion(v); err != nil {
			continue
		}
		if best == "" {
			best = v
		} else if newer, err := version.GreaterThan(v, best); err == nil && newer {
			best = v
		}
	}
	if best == "" {
		return "", fmt.Errorf("plugins %s share no CNI version", strings.Join(plugins, ", "))
	}
	return best, nil
}

// writeFileAtomic writes data to path so that readers never see a partial
// file, leaving an identical file untouched.
func writeFileAtomic(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o644)
}

// containsNet reports whether inner lies entirely inside outer.
func containsNet(outer, inner *net.IPNet) bool {
	oo, ob := outer.Mask.Size()
	io, ib := inner.Mask.Size()
	return ob == ib && oo <= io && outer.Contains(inner.IP)
}
