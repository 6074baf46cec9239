package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/node/sim"
	"github.com/cairn-dev/cairn/reconciler/scheduler"
)

// schedulerCluster is an API server, simulated nodes and a scheduler, all
// in this process.
type schedulerCluster struct {
	ts    *testServer
	admin *kubernetes.Clientset
	sched *scheduler.Scheduler
}

func startSchedulerCluster(t *testing.T, nodes []sim.NodeSpec) *schedulerCluster {
	t.Helper()
	ts := startServer(t, t.TempDir(), nil)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait) // after cancel: cleanups run last-in first-out
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cluster, err := sim.New(sim.Config{Client: ts.client("admin"), Nodes: nodes, NoPods: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = cluster.Run(ctx) })
	select {
	case <-cluster.Registered():
	case <-time.After(60 * time.Second):
		t.Fatal("simulated nodes did not register in 60s")
	}
	s, err := scheduler.New(scheduler.Config{Client: ts.client("scheduler"), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	<-s.Synced()
	return &schedulerCluster{ts: ts, admin: ts.client("admin"), sched: s}
}

// settle waits until the scheduler has nothing left to try: no pod in
// its active or backoff queue, and the pods' state unchanged for a while.
func (c *schedulerCluster) settle(t *testing.T, ns string, want int) []corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	last, stable := "", 0
	for time.Now().Before(deadline) {
		time.Sleep(500 * time.Millisecond)
		active, backoff, _ := c.sched.Pending()
		pods, err := c.admin.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		bound, failed := 0, 0
		for _, p := range pods.Items {
			if p.Spec.NodeName != "" {
				bound++
			} else if cond := podScheduledCondition(&p); cond != nil && cond.Status == corev1.ConditionFalse {
				failed++
			}
		}
		state := fmt.Sprintf("%d/%d/%d", len(pods.Items), bound, failed)
		if active == 0 && backoff == 0 && bound+failed == want && state == last {
			if stable++; stable >= 4 {
				return pods.Items
			}
		} else {
			stable = 0
		}
		last = state
	}
	t.Fatalf("the scheduler did not settle in 3m (pods/bound/failed %s)", last)
	return nil
}

func podScheduledCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodScheduled {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// mixedNodes are 50 nodes in three zones, of three sizes, five of them
// tainted for a database, two cordoned, every third with an SSD label.
func mixedNodes() []sim.NodeSpec {
	sizes := []struct {
		name, cpu, mem string
		pods           int64
	}{{"small", "2", "4Gi", 30}, {"medium", "4", "16Gi", 110}, {"large", "16", "64Gi", 110}}
	var out []sim.NodeSpec
	for i := range 50 {
		size := sizes[i%3]
		n := sim.NodeSpec{
			Name: fmt.Sprintf("node-%02d", i), Zone: []string{"zone-a", "zone-b", "zone-c"}[(i/3)%3],
			CPU: resource.MustParse(size.cpu), Memory: resource.MustParse(size.mem), Pods: size.pods,
			InstanceType: size.name, Labels: map[string]string{},
		}
		if i%3 == 1 {
			n.Labels["disk"] = "ssd"
		}
		if i%10 == 7 {
			n.Taints = []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		}
		if i == 11 || i == 23 {
			n.Unschedulable = true
		}
		out = append(out, n)
	}
	return out
}

func requests(cpu, mem string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem),
	}}
}

// mixedPod is pod i of the 1,000: ten kinds of constraint in turn.
func mixedPod(i int) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%04d", i), Labels: map[string]string{}}}
	c := corev1.Container{Name: "c", Image: "registry.example/app:1",
		Resources: requests(fmt.Sprintf("%dm", 100+(i*37)%400), fmt.Sprintf("%dMi", 128+(i*53)%896))}
	switch i % 10 {
	case 0:
		p.Labels["tier"] = "backend"
	case 1:
		p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	case 2:
		p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: corev1.LabelTopologyZone, Operator: corev1.NodeSelectorOpIn, Values: []string{"zone-b", "zone-c"}},
					{Key: corev1.LabelInstanceTypeStable, Operator: corev1.NodeSelectorOpNotIn, Values: []string{"small"}},
				},
			}}},
		}}
	case 3:
		p.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		p.Spec.NodeSelector = map[string]string{corev1.LabelInstanceTypeStable: "large"}
	case 4:
		c.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
	case 5:
		group := fmt.Sprintf("g%d", i/50)
		p.Labels["group"] = group
		p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"group": group}},
				TopologyKey:   corev1.LabelTopologyZone, // five pods, three zones: two stay pending
			}},
		}}
	case 6:
		p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "backend"}},
				TopologyKey:   corev1.LabelTopologyZone,
			}},
		}}
	case 7:
		p.Labels["spread"] = "yes"
		p.Spec.NodeSelector = map[string]string{corev1.LabelInstanceTypeStable: "small"} // crowded: 30 pods, 2 cpu
		p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: corev1.LabelTopologyZone, WhenUnsatisfiable: corev1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"spread": "yes"}},
		}}
	case 8:
		c.Resources = requests("24", "1Gi") // larger than any node
	case 9:
		c.Resources = requests("250m", fmt.Sprintf("%dMi", 2048+(i*97)%4096))
	}
	p.Spec.Containers = []corev1.Container{c}
	return p
}

func TestSchedulerMixedConstraints(t *testing.T) {
	c := startSchedulerCluster(t, mixedNodes())
	ctx := ctxT(t)
	const n = 1000
	createPods(t, ctx, c.admin, "default", n, mixedPod)
	pods := c.settle(t, "default", n)
	nodes, err := c.admin.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := newVerifier(nodes.Items, pods)
	bound := 0
	for i := range pods {
		p := &pods[i]
		if p.Spec.NodeName == "" {
			v.checkPending(t, p)
			continue
		}
		bound++
		v.checkBound(t, p)
	}
	v.checkNodes(t)
	t.Logf("%d of %d pods bound, %d pending", bound, n, n-bound)
	if bound < n/2 || bound == n {
		t.Errorf("%d of %d pods bound: the mix is meant to leave some, not most, pending", bound, n)
	}
	// hostPort 8080 on 48 nodes for 100 pods; five pods per zone-exclusive
	// group over three zones; spread over crowded small nodes; 24 cpu.
	for _, kind := range []int{4, 5, 7, 8} {
		if v.pendingByKind[kind] == 0 {
			t.Errorf("no pod of kind %d pending; the test expects some", kind)
		}
	}
}

func createPods(t *testing.T, ctx context.Context, c kubernetes.Interface, ns string, n int, pod func(int) *corev1.Pod) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 32)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := c.CoreV1().Pods(ns).Create(ctx, pod(i), metav1.CreateOptions{}); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// verifier checks the scheduler's decisions with its own, deliberately
// simple, reading of each constraint: no code is shared with the
// scheduler's plugins.
type verifier struct {
	nodes         map[string]*corev1.Node
	onNode        map[string][]*corev1.Pod
	bound         []*corev1.Pod
	pendingByKind map[int]int
}

func newVerifier(nodes []corev1.Node, pods []corev1.Pod) *verifier {
	v := &verifier{nodes: map[string]*corev1.Node{}, onNode: map[string][]*corev1.Pod{}, pendingByKind: map[int]int{}}
	for i := range nodes {
		v.nodes[nodes[i].Name] = &nodes[i]
	}
	for i := range pods {
		if p := &pods[i]; p.Spec.NodeName != "" {
			v.onNode[p.Spec.NodeName] = append(v.onNode[p.Spec.NodeName], p)
			v.bound = append(v.bound, p)
		}
	}
	return v
}

func podKind(p *corev1.Pod) int {
	i, _ := strconv.Atoi(strings.TrimPrefix(p.Name, "p-"))
	return i % 10
}

func podRequest(p *corev1.Pod, r corev1.ResourceName) int64 {
	var sum int64
	for _, c := range p.Spec.Containers {
		q := c.Resources.Requests[r]
		if r == corev1.ResourceCPU {
			sum += q.MilliValue()
		} else {
			sum += q.Value()
		}
	}
	return sum
}

func allocatable(n *corev1.Node, r corev1.ResourceName) int64 {
	q := n.Status.Allocatable[r]
	if r == corev1.ResourceCPU {
		return q.MilliValue()
	}
	return q.Value()
}

func (v *verifier) used(node string, r corev1.ResourceName) int64 {
	var sum int64
	for _, p := range v.onNode[node] {
		sum += podRequest(p, r)
	}
	return sum
}

// Each of these says whether the constraint rules node out for pod p.
func (v *verifier) cordoned(p *corev1.Pod, n *corev1.Node) bool { return n.Spec.Unschedulable }

func (v *verifier) untolerated(p *corev1.Pod, n *corev1.Node) (string, bool) {
	for _, taint := range n.Spec.Taints {
		if taint.Effect == corev1.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for _, tol := range p.Spec.Tolerations {
			if tol.Key == taint.Key && (tol.Operator == corev1.TolerationOpExists || tol.Value == taint.Value) && (tol.Effect == "" || tol.Effect == taint.Effect) {
				ok = true
			}
		}
		if !ok {
			return fmt.Sprintf("{%s: %s}", taint.Key, taint.Value), true
		}
	}
	return "", false
}

func (v *verifier) selectorMismatch(p *corev1.Pod, n *corev1.Node) bool {
	for k, want := range p.Spec.NodeSelector {
		if n.Labels[k] != want {
			return true
		}
	}
	if p.Spec.Affinity == nil || p.Spec.Affinity.NodeAffinity == nil || p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return false
	}
	for _, term := range p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		all := true
		for _, e := range term.MatchExpressions {
			val, has := n.Labels[e.Key]
			in := false
			for _, x := range e.Values {
				in = in || x == val
			}
			switch e.Operator {
			case corev1.NodeSelectorOpIn:
				all = all && has && in
			case corev1.NodeSelectorOpNotIn:
				all = all && !(has && in)
			}
		}
		if all {
			return false
		}
	}
	return true
}

func (v *verifier) portTaken(p *corev1.Pod, n *corev1.Node) bool {
	for _, c := range p.Spec.Containers {
		for _, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			for _, other := range v.onNode[n.Name] {
				if other.UID == p.UID {
					continue
				}
				for _, oc := range other.Spec.Containers {
					for _, op := range oc.Ports {
						if op.HostPort == port.HostPort && op.Protocol == port.Protocol {
							return true
						}
					}
				}
			}
		}
	}
	return false
}

func (v *verifier) antiAffinityViolated(p *corev1.Pod, n *corev1.Node) bool {
	if p.Spec.Affinity == nil || p.Spec.Affinity.PodAntiAffinity == nil {
		return false
	}
	for _, term := range p.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, _ := metav1.LabelSelectorAsSelector(term.LabelSelector)
		for _, other := range v.bound {
			if other.UID != p.UID && sel.Matches(labels.Set(other.Labels)) &&
				v.nodes[other.Spec.NodeName].Labels[term.TopologyKey] == n.Labels[term.TopologyKey] {
				return true
			}
		}
	}
	return false
}

func (v *verifier) affinityUnmet(p *corev1.Pod, n *corev1.Node) bool {
	if p.Spec.Affinity == nil || p.Spec.Affinity.PodAffinity == nil {
		return false
	}
	for _, term := range p.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		sel, _ := metav1.LabelSelectorAsSelector(term.LabelSelector)
		found := false
		for _, other := range v.bound {
			if other.UID != p.UID && sel.Matches(labels.Set(other.Labels)) &&
				v.nodes[other.Spec.NodeName].Labels[term.TopologyKey] == n.Labels[term.TopologyKey] {
				found = true
			}
		}
		if !found {
			return true
		}
	}
	return false
}

// skewExceeded: placing p in n's zone would make the spread pods' zone
// counts differ by more than maxSkew (over zones with an eligible node).
func (v *verifier) skewExceeded(p *corev1.Pod, n *corev1.Node, extra int) bool {
	for _, c := range p.Spec.TopologySpreadConstraints {
		sel, _ := metav1.LabelSelectorAsSelector(c.LabelSelector)
		counts := map[string]int{}
		for _, node := range v.nodes {
			if !v.selectorMismatch(p, node) {
				counts[node.Labels[c.TopologyKey]] += 0
			}
		}
		for _, other := range v.bound {
			if other.UID != p.UID && sel.Matches(labels.Set(other.Labels)) {
				counts[v.nodes[other.Spec.NodeName].Labels[c.TopologyKey]]++
			}
		}
		low := -1
		for _, k := range counts {
			if low < 0 || k < low {
				low = k
			}
		}
		if counts[n.Labels[c.TopologyKey]]+extra-low > int(c.MaxSkew) {
			return true
		}
	}
	return false
}

func (v *verifier) checkBound(t *testing.T, p *corev1.Pod) {
	t.Helper()
	n := v.nodes[p.Spec.NodeName]
	switch {
	case n == nil:
		t.Errorf("%s bound to missing node %s", p.Name, p.Spec.NodeName)
	case v.cordoned(p, n):
		t.Errorf("%s bound to cordoned node %s", p.Name, n.Name)
	case v.selectorMismatch(p, n):
		t.Errorf("%s bound to %s, which its nodeSelector/affinity rules out", p.Name, n.Name)
	case v.portTaken(p, n):
		t.Errorf("%s bound to %s, where its hostPort is taken", p.Name, n.Name)
	case v.antiAffinityViolated(p, n):
		t.Errorf("%s bound to %s against its anti-affinity", p.Name, n.Name)
	case v.affinityUnmet(p, n):
		t.Errorf("%s bound to %s with no backend pod in its zone", p.Name, n.Name)
	case v.skewExceeded(p, n, 0):
		t.Errorf("%s bound to %s: zone spread skew exceeds 1", p.Name, n.Name)
	}
	if taint, bad := v.untolerated(p, n); n != nil && bad {
		t.Errorf("%s bound to %s with untolerated taint %s", p.Name, n.Name, taint)
	}
}

func (v *verifier) checkNodes(t *testing.T) {
	t.Helper()
	for name, n := range v.nodes {
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			if used, alloc := v.used(name, r), allocatable(n, r); used > alloc {
				t.Errorf("node %s overcommitted: %s requested %d > allocatable %d", name, r, used, alloc)
			}
		}
		if pods, max := int64(len(v.onNode[name])), allocatable(n, corev1.ResourcePods); pods > max {
			t.Errorf("node %s runs %d pods > %d", name, pods, max)
		}
	}
}

var reasonRE = regexp.MustCompile(`^(\d+) (.+)$`)

// checkPending reads a pending pod's FailedScheduling message and checks
// that each claim holds: "3 Insufficient memory" must be true of at least
// three nodes now (every constraint here only gets harder as pods bind),
// and the counts must cover every node.
func (v *verifier) checkPending(t *testing.T, p *corev1.Pod) {
	t.Helper()
	v.pendingByKind[podKind(p)]++
	cond := podScheduledCondition(p)
	if v.pendingByKind[podKind(p)] == 1 && cond != nil {
		t.Logf("pending %s (kind %d): %s", p.Name, podKind(p), cond.Message)
	}
	if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != corev1.PodReasonUnschedulable {
		t.Errorf("pending %s has no PodScheduled=False/Unschedulable condition: %+v", p.Name, cond)
		return
	}
	prefix := fmt.Sprintf("0/%d nodes are available: ", len(v.nodes))
	msg, ok := strings.CutPrefix(cond.Message, prefix)
	if !ok || !strings.HasSuffix(msg, ".") {
		t.Errorf("%s: message %q does not read %q...\".\"", p.Name, cond.Message, prefix)
		return
	}
	msg, _, _ = strings.Cut(msg, ". preemption:")
	total := 0
	for _, part := range strings.Split(strings.TrimSuffix(msg, "."), ", ") {
		m := reasonRE.FindStringSubmatch(part)
		if m == nil {
			t.Errorf("%s: cannot read %q in %q", p.Name, part, cond.Message)
			continue
		}
		claimed, _ := strconv.Atoi(m[1])
		total += claimed
		holds := 0
		for _, n := range v.nodes {
			if v.reasonHolds(p, n, m[2]) {
				holds++
			}
		}
		if holds < claimed {
			t.Errorf("%s: message says %d nodes %q but that is true of %d (%q)", p.Name, claimed, m[2], holds, cond.Message)
		}
	}
	if total < len(v.nodes) {
		t.Errorf("%s: message accounts for %d of %d nodes: %q", p.Name, total, len(v.nodes), cond.Message)
	}
}

func (v *verifier) reasonHolds(p *corev1.Pod, n *corev1.Node, reason string) bool {
	free := func(r corev1.ResourceName) bool { return podRequest(p, r) > allocatable(n, r)-v.used(n.Name, r) }
	switch {
	case reason == "node(s) were unschedulable":
		return v.cordoned(p, n)
	case reason == "node(s) had untolerated taint(s)":
		_, bad := v.untolerated(p, n)
		return bad
	case reason == "node(s) didn't match Pod's node affinity/selector":
		return v.selectorMismatch(p, n)
	case reason == "Insufficient cpu":
		return free(corev1.ResourceCPU)
	case reason == "Insufficient memory":
		return free(corev1.ResourceMemory)
	case reason == "Too many pods":
		return int64(len(v.onNode[n.Name]))+1 > allocatable(n, corev1.ResourcePods)
	case reason == "node(s) didn't have free ports for the requested pod ports":
		return v.portTaken(p, n)
	case reason == "node(s) didn't match pod anti-affinity rules":
		return v.antiAffinityViolated(p, n)
	case reason == "node(s) didn't match pod affinity rules":
		return v.affinityUnmet(p, n)
	case reason == "node(s) didn't match pod topology spread constraints":
		return v.skewExceeded(p, n, 1)
	}
	return false
}

// TestSchedulerNeverOvercommits creates 2,000 pods at once on 20 nodes
// that have room for 1,200: the assume cache must keep every node within
// its allocatable while bindings are still in flight.
func TestSchedulerNeverOvercommits(t *testing.T) {
	var nodes []sim.NodeSpec
	for i := range 20 {
		nodes = append(nodes, sim.NodeSpec{Name: fmt.Sprintf("n-%02d", i), CPU: resource.MustParse("6"), Memory: resource.MustParse("12Gi"), Pods: 110})
	}
	c := startSchedulerCluster(t, nodes)
	ctx := ctxT(t)
	const n = 2000
	createPods(t, ctx, c.admin, "default", n, func(i int) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("burst-%04d", i)},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "app", Resources: requests("100m", "64Mi")}}},
		}
	})
	pods := c.settle(t, "default", n)
	v := newVerifier(nil, pods)
	nodeList, err := c.admin.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v = newVerifier(nodeList.Items, pods)
	v.checkNodes(t)
	if len(v.bound) != 1200 {
		t.Errorf("%d pods bound, want exactly 1200 (20 nodes x 6 cpu / 100m)", len(v.bound))
	}
	for name := range v.nodes {
		if got := len(v.onNode[name]); got != 60 {
			t.Errorf("node %s runs %d pods, want 60", name, got)
		}
	}
}

// TestSchedulerLeaderElectionAndProfiles: of two schedulers campaigning for
// kube-system/kube-scheduler one binds; when it stops the other takes
// over within the lease duration. Pods naming another schedulerName are
// left alone; metrics count the attempts.
func TestSchedulerLeaderElectionAndProfiles(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nodes, err := sim.New(sim.Config{Client: ts.client("admin"), NoPods: true, Logger: quiet,
		Nodes: []sim.NodeSpec{{Name: "n-0"}, {Name: "n-1"}}})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = nodes.Run(ctx) })
	<-nodes.Registered()

	type instance struct {
		s       *scheduler.Scheduler
		reg     *prometheus.Registry
		stop    context.CancelFunc
		stopped chan struct{}
	}
	start := func(id string) *instance {
		reg := prometheus.NewRegistry()
		s, err := scheduler.New(scheduler.Config{Client: ts.client("scheduler"), Logger: quiet, Registerer: reg,
			LeaderElect: true, Identity: id, LeaseDuration: 2 * time.Second, RenewDeadline: 1500 * time.Millisecond, RetryPeriod: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ictx, stop := context.WithCancel(ctx)
		in := &instance{s: s, reg: reg, stop: stop, stopped: make(chan struct{})}
		wg.Go(func() {
			defer close(in.stopped)
			if err := s.Run(ictx); err != nil {
				t.Errorf("scheduler %s: %v", id, err)
			}
		})
		return in
	}
	a, b := start("a"), start("b")
	admin := ts.client("admin")
	lctx := ctxT(t)
	holder := func() string {
		l, err := admin.CoordinationV1().Leases("kube-system").Get(lctx, "kube-scheduler", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	eventually(t, 10*time.Second, "a leader", func() bool { return holder() != "" })
	leader, standby := a, b
	if holder() == "b" {
		leader, standby = b, a
	}
	pod := func(name, schedulerName string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			SchedulerName: schedulerName, Containers: []corev1.Container{{Name: "c", Image: "app", Resources: requests("100m", "64Mi")}}}}
	}
	bound := func(name string) bool {
		p, err := admin.CoreV1().Pods("default").Get(lctx, name, metav1.GetOptions{})
		return err == nil && p.Spec.NodeName != ""
	}
	for _, p := range []*corev1.Pod{pod("first", ""), pod("elsewhere", "other-scheduler")} {
		if _, err := admin.CoreV1().Pods("default").Create(lctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "the leader to bind a pod", func() bool { return bound("first") })
	if n, _ := leader.s.Bound(); n != 1 {
		t.Errorf("leader bound %d pods, want 1", n)
	}
	if n, _ := standby.s.Bound(); n != 0 {
		t.Errorf("standby bound %d pods, want 0", n)
	}
	if got := counter(t, leader.reg, "scheduler_schedule_attempts_total", "scheduled"); got != 1 {
		t.Errorf("scheduler_schedule_attempts_total{result=scheduled} = %v, want 1", got)
	}

	leader.stop()
	<-leader.stopped
	took := time.Now()
	if _, err := admin.CoreV1().Pods("default").Create(lctx, pod("second", ""), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the standby to take over and bind", func() bool { return bound("second") })
	t.Logf("standby bound a pod %v after the leader stopped", time.Since(took).Round(time.Millisecond))
	if time.Since(took) > 3*time.Second {
		t.Errorf("takeover took %v, longer than the 2s lease plus a retry", time.Since(took))
	}
	if bound("elsewhere") {
		t.Error("a pod naming another scheduler was bound")
	}
}

func counter(t *testing.T, g prometheus.Gatherer, name, result string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
