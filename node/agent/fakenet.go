package agent

import (
	"context"
	"errors"

	"net/netip"
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// fakeNetwork gives pods of the fake runtime addresses from the node's pod
// range, with no namespaces or interfaces behind them.
type fakeNetwork struct {
	mu     sync.Mutex
	prefix netip.Prefix
	next   netip.Addr
	ips    map[string]string
}

func (n *fakeNetwork) configure(podCIDR string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, err := netip.ParsePrefix(podCIDR)
	if err != nil || p == n.prefix {
		return
	}
	n.prefix, n.next = p.Masked(), p.Masked().Addr().Next()
}

func (n *fakeNetwork) ready() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.prefix.IsValid() {
		return errNoPodCIDR
	}
	return nil
}

func (n *fakeNetwork) SetUp(_ context.Context, pod *corev1.Pod) (string, string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.prefix.IsValid() {
		return "", "", errNoPodCIDR
	}
	if n.ips == nil {
		n.ips = map[string]string{}
	}
	if ip, ok := n.ips[string(pod.UID)]; ok {
		return "", ip, nil
	}
	n.next = n.next.Next()
	if !n.prefix.Contains(n.next) {
		return "", "", errors.New("fake pod network: pod range exhausted")
	}
	ip := n.next.String()
	n.ips[string(pod.UID)] = ip
	return "", ip, nil
}

func (n *fakeNetwork) TearDown(_ context.Context, pod *corev1.Pod) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.ips, string(pod.UID))
	return nil
}
