package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/cairn-dev/cairn/node/network"
)

// errNoPodCIDR: the pod network waits for the node's pod range.
var errNoPodCIDR = errors.New("the node has no spec.podCIDR yet (is the node IPAM controller on, --allocate-node-cidrs?)")

// podNetwork is the kubelet's pod network: a network namespace per pod
// under dir, wired by CNI once the node's pod range is known.
type podNetwork struct {
	dir         string // network namespaces
	confDir     string
	dataDir     string
	clusterCIDR string
	log         *slog.Logger

	mu      sync.Mutex
	cni     *network.CNI
	podCIDR string
	err     error
}

// configure sets the pod network up for the node's pod range; it is
// called on every Node update and does work only when the range changes.
func (n *podNetwork) configure(ctx context.Context, podCIDR string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if podCIDR == "" || podCIDR == n.podCIDR && n.cni != nil {
		return
	}
	cni, err := network.New(network.Config{PodCIDR: podCIDR, ClusterCIDR: n.clusterCIDR, ConfDir: n.confDir, DataDir: n.dataDir})
	if err == nil && n.clusterCIDR != "" {
		err = network.EnsureMasquerade(ctx, podCIDR, n.clusterCIDR)
	}
	if err == nil {
		err = network.EnableForwarding()
	}
	if err != nil {
		n.err = fmt.Errorf("pod network for %s: %w", podCIDR, err)
		n.log.Warn("pod network not ready", "err", n.err)
		return
	}
	n.cni, n.podCIDR, n.err = cni, podCIDR, nil
	n.log.Info("pod network ready", "podCIDR", podCIDR, "clusterCIDR", n.clusterCIDR)
}

// ready is nil once pods can get addresses; the node's Ready condition and
// NetworkUnavailable follow it.
func (n *podNetwork) ready() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.err != nil:
		return n.err
	case n.cni == nil:
		return errNoPodCIDR
	}
	return n.cni.Status()
}

func (n *podNetwork) current() (*network.CNI, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cni == nil {
		if n.err != nil {
			return nil, n.err
		}
		return nil, errNoPodCIDR
	}
	return n.cni, nil
}

func (n *podNetwork) netnsPath(pod *corev1.Pod) string {
	return filepath.Join(n.dir, string(pod.UID))
}

// SetUp gives the pod its namespace and address; idempotent.
func (n *podNetwork) SetUp(ctx context.Context, pod *corev1.Pod) (string, string, error) {
	cni, err := n.current()
	if err != nil {
		return "", "", err
	}
	path, err := network.CreateNetNS(n.dir, string(pod.UID))
	if err != nil {
		return "", "", err
	}
	ip, err := cni.SetUp(ctx, string(pod.UID), path, hostPorts(pod))
	if err != nil {
		return "", "", err
	}
	return path, ip.String(), nil
}

// TearDown releases the pod's address and host ports and removes its
// namespace.
func (n *podNetwork) TearDown(ctx context.Context, pod *corev1.Pod) error {
	path := n.netnsPath(pod)
	if cni, err := n.current(); err == nil {
		if err := cni.TearDown(ctx, string(pod.UID), path, hostPorts(pod)); err != nil {
			return err
		}
	}
	return network.DeleteNetNS(path)
}

// hostPorts are the pod's containers' hostPort mappings.
func hostPorts(pod *corev1.Pod) []network.PortMapping {
	var out []network.PortMapping
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort == 0 {
				continue
			}
			out = append(out, network.PortMapping{HostPort: p.HostPort, ContainerPort: p.ContainerPort,
				Protocol: strings.ToLower(string(p.Protocol)), HostIP: p.HostIP})
		}
	}
	return out
}

// syncRoutes routes every other node's pod range via its InternalIP.
func syncRoutes(ctx context.Context, nodes []*corev1.Node, self string) error {
	nodes = slices.DeleteFunc(slices.Clone(nodes), func(n *corev1.Node) bool { return n == nil })
	return network.SyncRoutes(ctx, network.Routes(nodes, self))
}
