package view

import (
	"fmt"
	"sort"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeDescription is everything `describe node` shows besides the node:
// its Lease (nil with LeaseErr set when it could not be read), the pods
// bound to it and its events.
type NodeDescription struct {
	Node     *corev1.Node
	Lease    *coordinationv1.Lease
	LeaseErr error
	Pods     []corev1.Pod
	Events   []corev1.Event
}

// DescribeNode renders a node in kubectl describe's layout.
func DescribeNode(in NodeDescription, now time.Time) string {
	n := in.Node
	d := newDescriber()
	d.line(0, "Name:\t%s\n", n.Name)
	roles := nodeRoles(n)
	if len(roles) == 0 {
		d.line(0, "Roles:\t<none>\n")
	} else {
		d.line(0, "Roles:\t%s\n", strings.Join(roles, ","))
	}
	d.labels(0, "Labels", n.Labels)
	d.stringMap("Annotations", n.Annotations, ": ")
	d.line(0, "CreationTimestamp:\t%s\n", Timestamp(n.CreationTimestamp))
	d.list("Taints", taintStrings(n.Spec.Taints))
	d.line(0, "Unschedulable:\t%v\n", n.Spec.Unschedulable)

	switch {
	case in.Lease != nil:
		holder := "<unset>"
		if in.Lease.Spec.HolderIdentity != nil {
			holder = *in.Lease.Spec.HolderIdentity
		}
		d.line(0, "Lease:\n")
		d.line(1, "HolderIdentity:\t%s\n", holder)
		d.line(1, "AcquireTime:\t%s\n", microTimestamp(in.Lease.Spec.AcquireTime))
		d.line(1, "RenewTime:\t%s\n", microTimestamp(in.Lease.Spec.RenewTime))
	case in.LeaseErr != nil:
		d.line(0, "Lease:\tFailed to get lease: %v\n", in.LeaseErr)
	}

	d.flush()
	if len(n.Status.Conditions) > 0 {
		d.line(0, "Conditions:\n  Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage\n")
		d.line(1, "----\t------\t-----------------\t------------------\t------\t-------\n")
		for _, c := range n.Status.Conditions {
			d.line(1, "%s \t%s \t%s \t%s \t%s \t%s\n", c.Type, c.Status,
				Timestamp(c.LastHeartbeatTime), Timestamp(c.LastTransitionTime), c.Reason, c.Message)
		}
	}
	d.flush()
	d.line(0, "Addresses:\n")
	for _, a := range n.Status.Addresses {
		d.line(1, "%s:\t%s\n", a.Type, a.Address)
	}
	d.flush()
	resourceList := func(title string, l corev1.ResourceList) {
		if len(l) == 0 {
			return
		}
		d.line(0, "%s:\n", title)
		for _, name := range sortedResourceNames(l) {
			q := l[name]
			d.line(1, "%s:\t%s\n", name, q.String())
		}
	}
	resourceList("Capacity", n.Status.Capacity)
	resourceList("Allocatable", n.Status.Allocatable)
	si := n.Status.NodeInfo
	d.line(0, "System Info:\n")
	d.line(1, "Machine ID:\t%s\n", si.MachineID)
	d.line(1, "System UUID:\t%s\n", si.SystemUUID)
	d.line(1, "Boot ID:\t%s\n", si.BootID)
	d.line(1, "Kernel Version:\t%s\n", si.KernelVersion)
	d.line(1, "OS Image:\t%s\n", si.OSImage)
	d.line(1, "Operating System:\t%s\n", si.OperatingSystem)
	d.line(1, "Architecture:\t%s\n", si.Architecture)
	d.line(1, "Container Runtime Version:\t%s\n", si.ContainerRuntimeVersion)
	d.line(1, "Kubelet Version:\t%s\n", si.KubeletVersion)
	d.line(1, "Kube-Proxy Version:\t%s\n", si.KubeProxyVersion)
	if n.Spec.PodCIDR != "" {
		d.line(0, "PodCIDR:\t%s\n", n.Spec.PodCIDR)
		d.line(0, "PodCIDRs:\t%s\n", strings.Join(n.Spec.PodCIDRs, ","))
	}
	if n.Spec.ProviderID != "" {
		d.line(0, "ProviderID:\t%s\n", n.Spec.ProviderID)
	}

	var pods []corev1.Pod
	for _, p := range in.Pods {
		if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
			pods = append(pods, p)
		}
	}
	sort.SliceStable(pods, func(i, j int) bool {
		if pods[i].Namespace != pods[j].Namespace {
			return pods[i].Namespace < pods[j].Namespace
		}
		return pods[i].Name < pods[j].Name
	})
	alloc := n.Status.Allocatable
	if len(alloc) == 0 {
		alloc = n.Status.Capacity
	}
	d.line(0, "Non-terminated Pods:\t(%d in total)\n", len(pods))
	d.line(1, "Namespace\tName\t\tCPU Requests\tCPU Limits\tMemory Requests\tMemory Limits\tAge\n")
	d.line(1, "---------\t----\t\t------------\t----------\t---------------\t-------------\t---\n")
	reqs, limits := corev1.ResourceList{}, corev1.ResourceList{}
	for _, p := range pods {
		r, l := PodRequestsAndLimits(&p)
		addResources(reqs, r)
		addResources(limits, l)
		d.line(1, "%s\t%s\t\t%s\t%s\t%s\t%s\t%s\n", p.Namespace, p.Name,
			withFraction(r, alloc, corev1.ResourceCPU), withFraction(l, alloc, corev1.ResourceCPU),
			withFraction(r, alloc, corev1.ResourceMemory), withFraction(l, alloc, corev1.ResourceMemory),
			Since(p.CreationTimestamp, now))
	}
	d.flush()
	d.line(0, "Allocated resources:\n  (Total limits may be over 100 percent, i.e., overcommitted.)\n")
	d.line(1, "Resource\tRequests\tLimits\n")
	d.line(1, "--------\t--------\t------\n")
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		d.line(1, "%s\t%s\t%s\n", name, withFraction(reqs, alloc, name), withFraction(limits, alloc, name))
	}
	for _, name := range sortedResourceNames(alloc) {
		if strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix) {
			d.line(1, "%s\t%s\t%s\n", name, withFraction(reqs, alloc, name), withFraction(limits, alloc, name))
		}
	}
	d.events(in.Events, now)
	return d.String()
}

// nodeRoles are the node-role.kubernetes.io/<role> labels' roles, and
// kubernetes.io/role's value.
func nodeRoles(n *corev1.Node) []string {
	var roles []string
	for k, v := range n.Labels {
		switch {
		case strings.HasPrefix(k, "node-role.kubernetes.io/"):
			if r := strings.TrimPrefix(k, "node-role.kubernetes.io/"); r != "" {
				roles = append(roles, r)
			}
		case k == "kubernetes.io/role" && v != "":
			roles = append(roles, v)
		}
	}
	sort.Strings(roles)
	return roles
}

func microTimestamp(t *metav1.MicroTime) string {
	if t == nil || t.IsZero() {
		return "<unset>"
	}
	return t.Time.Format(time.RFC1123Z)
}

// PodRequestsAndLimits is what a pod asks of its node: the sum over its
// containers, at least any one init container's (they run one at a
// time, before the others), plus the pod overhead.
func PodRequestsAndLimits(p *corev1.Pod) (reqs, limits corev1.ResourceList) {
	reqs, limits = corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range p.Spec.Containers {
		addResources(reqs, c.Resources.Requests)
		addResources(limits, c.Resources.Limits)
	}
	for _, c := range p.Spec.InitContainers {
		maxResources(reqs, c.Resources.Requests)
		maxResources(limits, c.Resources.Limits)
	}
	if len(p.Spec.Overhead) > 0 {
		addResources(reqs, p.Spec.Overhead)
		for name, q := range p.Spec.Overhead {
			if _, ok := limits[name]; ok {
				v := limits[name]
				v.Add(q)
				limits[name] = v
			}
		}
	}
	return reqs, limits
}

func addResources(into, l corev1.ResourceList) {
	for name, q := range l {
		v, ok := into[name]
		if !ok {
			into[name] = q.DeepCopy()
			continue
		}
		v.Add(q)
		into[name] = v
	}
}

func maxResources(into, l corev1.ResourceList) {
	for name, q := range l {
		if v, ok := into[name]; !ok || q.Cmp(v) > 0 {
			into[name] = q.DeepCopy()
		}
	}
}

// withFraction is "100m (5%)": a quantity and its share of allocatable.
func withFraction(l, alloc corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		q = *resource.NewQuantity(0, resource.DecimalSI)
	}
	total := alloc[name]
	pct := int64(0)
	if name == corev1.ResourceCPU {
		if total.MilliValue() != 0 {
			pct = int64(float64(q.MilliValue()) / float64(total.MilliValue()) * 100)
		}
	} else if total.Value() != 0 {
		pct = int64(float64(q.Value()) / float64(total.Value()) * 100)
	}
	return fmt.Sprintf("%s (%d%%)", q.String(), pct)
}
