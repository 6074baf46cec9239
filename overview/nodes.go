package overview

import (
	"cmp"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// pressureConditions are the node conditions that mean trouble when True.
var pressureConditions = []corev1.NodeConditionType{
	corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure, corev1.NodeNetworkUnavailable,
}

// buildNodesAndPods walks the pods once: their requests land on their
// nodes, and their phase and readiness on the pod counts.
func buildNodesAndPods(nodes []corev1.Node, pods []corev1.Pod) (Nodes, Pods) {
	ns := Nodes{Total: len(nodes), Items: make([]Node, 0, len(nodes))}
	index := make(map[string]int, len(nodes))
	for _, n := range nodes {
		item := Node{Name: n.Name, Cordoned: n.Spec.Unschedulable, NotReadyReason: "NoCondition",
			CPU:    Usage{Allocatable: n.Status.Allocatable.Cpu().MilliValue()},
			Memory: Usage{Allocatable: n.Status.Allocatable.Memory().Value()}}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				item.Ready = c.Status == corev1.ConditionTrue
				item.NotReadyReason = c.Reason
				if item.NotReadyReason == "" {
					item.NotReadyReason = string(c.Status)
				}
			}
			if slices.Contains(pressureConditions, c.Type) && c.Status == corev1.ConditionTrue {
				item.Pressure = append(item.Pressure, string(c.Type))
			}
		}
		if item.Ready {
			item.NotReadyReason = ""
		}
		slices.Sort(item.Pressure)
		ns.Items = append(ns.Items, item)
	}
	slices.SortFunc(ns.Items, func(a, b Node) int { return strings.Compare(a.Name, b.Name) })
	for i, n := range ns.Items {
		index[n.Name] = i
		switch {
		case n.Ready:
			ns.Ready++
		default:
			ns.NotReady++
		}
		if n.Cordoned {
			ns.Cordoned++
		}
		if len(n.Pressure) > 0 {
			ns.Pressure++
		}
	}

	var ps Pods
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		ps.Total++
		if p.Spec.NodeName == "" {
			ps.Unscheduled++
		} else if j, ok := index[p.Spec.NodeName]; ok {
			cpu, mem := podRequests(p)
			ns.Items[j].CPU.Requested += cpu
			ns.Items[j].Memory.Requested += mem
			ns.Items[j].Pods++
		}
		switch p.Status.Phase {
		case corev1.PodRunning:
			ps.Running++
		default:
			ps.Pending++
		}
		if !podReady(p) {
			ps.NotReady++
			ps.NotReadyItems = append(ps.NotReadyItems, Pod{Namespace: p.Namespace, Name: p.Name,
				Phase: string(p.Status.Phase), Reason: podReason(p), Node: p.Spec.NodeName,
				Created: p.CreationTimestamp.UTC()})
		}
	}
	slices.SortFunc(ps.NotReadyItems, func(a, b Pod) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
	})
	ps.NotReadyItems = slices.Clip(ps.NotReadyItems[:min(len(ps.NotReadyItems), MaxPods)])
	if len(ps.NotReadyItems) == 0 {
		ps.NotReadyItems = nil
	}
	return ns, ps
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podReason is the most specific word the status has for why a pod is
// not ready: a waiting container's reason, the pod's, or an unschedulable
// PodScheduled condition.
func podReason(p *corev1.Pod) string {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return c.Reason
		}
	}
	if p.Status.Phase == corev1.PodRunning {
		return "NotReady"
	}
	return ""
}

// podRequests is what the scheduler charges a node for a pod: the larger
// of the regular containers (plus sidecars) and any one init container,
// plus the pod overhead.
func podRequests(p *corev1.Pod) (cpu, mem int64) {
	var sideCPU, sideMem int64
	for _, c := range p.Spec.InitContainers {
		r := c.Resources.Requests
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sideCPU += r.Cpu().MilliValue()
			sideMem += r.Memory().Value()
			continue
		}
		cpu = max(cpu, sideCPU+r.Cpu().MilliValue())
		mem = max(mem, sideMem+r.Memory().Value())
	}
	var sumCPU, sumMem int64
	for _, c := range p.Spec.Containers {
		sumCPU += c.Resources.Requests.Cpu().MilliValue()
		sumMem += c.Resources.Requests.Memory().Value()
	}
	cpu = max(cpu, sumCPU+sideCPU)
	mem = max(mem, sumMem+sideMem)
	cpu += p.Spec.Overhead.Cpu().MilliValue()
	mem += p.Spec.Overhead.Memory().Value()
	return cpu, mem
}
