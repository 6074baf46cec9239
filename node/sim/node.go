package sim

import (
	"context"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// simNode is one simulated node's state.
type simNode struct {
	spec  NodeSpec
	index int
	ip    netip.Addr

	// ready once the Node and its Lease exist.
	ready atomic.Bool
	// writing is held (shared) by every heartbeat and pod sync of the node
	// and taken by StopHeartbeats, so that none is under way once it
	// returns.
	writing sync.RWMutex

	mu        sync.Mutex
	paused    bool // heartbeats stopped
	overrides map[corev1.NodeConditionType]conditionOverride
	dropped   map[corev1.NodeConditionType]bool // cleared custom conditions
	uid       types.UID
	pods      podIPs
	node      *corev1.Node          // as last written or read
	lease     *coordinationv1.Lease // as last written or read
}

// conditionOverride is a condition set by SetCondition.
type conditionOverride struct {
	status          corev1.ConditionStatus
	reason, message string
}

func newSimNode(spec NodeSpec, index int) *simNode {
	spec = spec.withDefaults()
	return &simNode{
		spec: spec, index: index, ip: nodeIP(index),
		pods:      newPodIPs(podCIDR(index)),
		overrides: map[corev1.NodeConditionType]conditionOverride{},
		dropped:   map[corev1.NodeConditionType]bool{},
	}
}

func (n *simNode) name() string { return n.spec.Name }

func (n *simNode) isPaused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

func (n *simNode) cachedNode() *corev1.Node {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.node
}

// setNode records the Node as the server has it. The pod range follows a
// pod CIDR the Node already has (an adopted or re-created Node).
func (n *simNode) setNode(node *corev1.Node) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.node = node
	if node == nil {
		return
	}
	n.uid = node.UID
	if p, err := netip.ParsePrefix(node.Spec.PodCIDR); err == nil && usable(p) && p.Masked().Addr() != n.pods.base {
		if len(n.pods.byUID) == 0 {
			n.pods = newPodIPs(p)
		}
	}
}

func (n *simNode) nodeUID() types.UID {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.uid
}

// capacity is the node's status.capacity.
func (n *simNode) capacity() corev1.ResourceList {
	s := n.spec
	rl := corev1.ResourceList{
		corev1.ResourceCPU:              s.CPU.DeepCopy(),
		corev1.ResourceMemory:           s.Memory.DeepCopy(),
		corev1.ResourceEphemeralStorage: s.EphemeralStorage.DeepCopy(),
		corev1.ResourcePods:             *resource.NewQuantity(s.Pods, resource.DecimalSI),
	}
	for k, v := range s.Extended {
		rl[k] = v.DeepCopy()
	}
	return rl
}

// allocatable is capacity less what is reserved, never below zero.
func (n *simNode) allocatable() corev1.ResourceList {
	rl := n.capacity()
	for k, r := range n.spec.Reserved {
		if v, ok := rl[k]; ok {
			v.Sub(r)
			if v.Sign() < 0 {
				v = *resource.NewQuantity(0, v.Format)
			}
			rl[k] = v
		}
	}
	return rl
}

// labels are the well-known node labels the kubelet sets, then the spec's.
func (n *simNode) labels() map[string]string {
	s := n.spec
	l := map[string]string{
		corev1.LabelHostname:           s.Name,
		corev1.LabelOSStable:           "linux",
		corev1.LabelArchStable:         "amd64",
		corev1.LabelInstanceTypeStable: s.InstanceType,
		LabelSimulated:                 "true",
	}
	if s.Zone != "" {
		l[corev1.LabelTopologyZone] = s.Zone
	}
	if s.Region != "" {
		l[corev1.LabelTopologyRegion] = s.Region
	}
	for k, v := range s.Labels {
		l[k] = v
	}
	return l
}

// newNode is the Node the simulated kubelet registers.
func (n *simNode) newNode(now time.Time) *corev1.Node {
	cidr := podCIDR(n.index).String()
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: n.spec.Name, Labels: n.labels()},
		Spec: corev1.NodeSpec{
			PodCIDR: cidr, PodCIDRs: []string{cidr},
			Taints:        append([]corev1.Taint(nil), n.spec.Taints...),
			Unschedulable: n.spec.Unschedulable,
		},
	}
	node.Status = n.desiredStatus(corev1.NodeStatus{}, now)
	return node
}

// defaultConditions are a healthy node's conditions, in the kubelet's order.
var defaultConditions = []corev1.NodeCondition{
	{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
	{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
	{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
	{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
	{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated", Message: "simulated pod network is up"},
}

// desiredStatus is the status to post over prev: the fields the kubelet
// owns recomputed, heartbeats at now, transition times kept while a
// condition's status holds, anything else prev has kept.
func (n *simNode) desiredStatus(prev corev1.NodeStatus, now time.Time) corev1.NodeStatus {
	t := metav1.NewTime(now.Truncate(time.Second))
	st := *prev.DeepCopy()
	st.Capacity = n.capacity()
	st.Allocatable = n.allocatable()
	st.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: n.ip.String()},
		{Type: corev1.NodeHostName, Address: n.spec.Name},
	}
	st.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}}
	id := uuid.NewSHA1(uuid.NameSpaceOID, []byte("cairn-sim/"+n.spec.Name)).String()
	st.NodeInfo = corev1.NodeSystemInfo{
		MachineID: id, SystemUUID: id, BootID: id,
		KernelVersion: "6.1.0-sim", OSImage: "cairn simulated node",
		ContainerRuntimeVersion: RuntimeVersion, KubeletVersion: KubeletVersion,
		OperatingSystem: "linux", Architecture: "amd64",
	}

	n.mu.Lock()
	overrides := make(map[corev1.NodeConditionType]conditionOverride, len(n.overrides))
	for k, v := range n.overrides {
		overrides[k] = v
	}
	dropped := make(map[corev1.NodeConditionType]bool, len(n.dropped))
	for k := range n.dropped {
		dropped[k] = true
	}
	n.mu.Unlock()
	want := make([]corev1.NodeCondition, 0, len(defaultConditions)+len(overrides))
	seen := map[corev1.NodeConditionType]bool{}
	for _, c := range defaultConditions {
		if o, ok := overrides[c.Type]; ok {
			c.Status, c.Reason, c.Message = o.status, o.reason, o.message
		}
		want = append(want, c)
		seen[c.Type] = true
	}
	var extra []corev1.NodeCondition
	for ty, o := range overrides {
		if !seen[ty] {
			extra = append(extra, corev1.NodeCondition{Type: ty, Status: o.status, Reason: o.reason, Message: o.message})
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].Type < extra[j].Type })
	want = append(want, extra...)

	for i := range want {
		c := &want[i]
		c.LastHeartbeatTime = t
		c.LastTransitionTime = t
		for _, p := range prev.Conditions {
			if p.Type == c.Type && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
				c.LastTransitionTime = p.LastTransitionTime
			}
		}
	}
	// Conditions others added (a node problem detector) stay.
	for _, p := range prev.Conditions {
		if _, ok := overrides[p.Type]; !ok && !seen[p.Type] && !dropped[p.Type] {
			want = append(want, p)
		}
	}
	st.Conditions = want
	return st
}

// registerNode creates the Node, or adopts one of that name: it adds the
// well-known labels it misses and posts the status.
func (c *Cluster) registerNode(ctx context.Context, n *simNode) error {
	nodes := c.client.CoreV1().Nodes()
	var created *corev1.Node
	err := retryTransient(ctx, func() error {
		var err error
		created, err = nodes.Create(ctx, n.newNode(time.Now()), metav1.CreateOptions{})
		return err
	})
	switch {
	case err == nil:
		n.setNode(created)
		return nil
	case !apierrors.IsAlreadyExists(err):
		return fmt.Errorf("sim: registering node %s: %w", n.name(), err)
	}
	// Adopt: labels first, then status, each with optimistic concurrency.
	err = retryTransient(ctx, func() error {
		cur, err := nodes.Get(ctx, n.name(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		want := n.labels()
		changed := false
		for k, v := range want {
			if cur.Labels[k] != v {
				if cur.Labels == nil {
					cur.Labels = map[string]string{}
				}
				cur.Labels[k] = v
				changed = true
			}
		}
		if changed {
			if cur, err = nodes.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				return err
			}
		}
		n.setNode(cur)
		return nil
	})
	if err != nil {
		return fmt.Errorf("sim: adopting node %s: %w", n.name(), err)
	}
	c.log.Debug("adopted existing node", "node", n.name())
	return c.postStatus(ctx, n)
}

// postStatus writes the node's status (nodes/status), fetching the Node
// again when someone else changed it since.
func (c *Cluster) postStatus(ctx context.Context, n *simNode) error {
	nodes := c.client.CoreV1().Nodes()
	for attempt := 0; ; attempt++ {
		cur := n.cachedNode()
		if cur == nil {
			got, err := nodes.Get(ctx, n.name(), metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				// Deleted behind our back: register again, as a restarted
				// kubelet would.
				c.log.Info("node was deleted; registering it again", "node", n.name())
				return c.registerNode(ctx, n)
			}
			if err != nil {
				return fmt.Errorf("sim: node %s: reading for a status update: %w", n.name(), err)
			}
			cur = got
		}
		next := cur.DeepCopy()
		next.Status = n.desiredStatus(cur.Status, time.Now())
		out, err := nodes.UpdateStatus(ctx, next, metav1.UpdateOptions{})
		switch {
		case err == nil:
			n.setNode(out)
			c.stats.nodeStatus.Add(1)
			return nil
		case (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) && attempt < 5:
			c.stats.conflicts.Add(1)
			n.setNode(nil)
			continue
		}
		return fmt.Errorf("sim: node %s: posting status: %w", n.name(), err)
	}
}
