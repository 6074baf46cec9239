package view

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// DescribePod renders a pod in kubectl describe's layout.
func DescribePod(p *corev1.Pod, events []corev1.Event, now time.Time) string {
	d := newDescriber()
	d.objectHeader(p.ObjectMeta, false)
	priority := int32(0)
	if p.Spec.Priority != nil {
		priority = *p.Spec.Priority
	}
	d.line(0, "Priority:\t%d\n", priority)
	if p.Spec.PriorityClassName != "" {
		d.line(0, "Priority Class Name:\t%s\n", p.Spec.PriorityClassName)
	}
	if p.Spec.ServiceAccountName != "" {
		d.line(0, "Service Account:\t%s\n", p.Spec.ServiceAccountName)
	}
	switch {
	case p.Spec.NodeName == "":
		d.line(0, "Node:\t<none>\n")
	case p.Status.HostIP != "":
		d.line(0, "Node:\t%s/%s\n", p.Spec.NodeName, p.Status.HostIP)
	default:
		d.line(0, "Node:\t%s\n", p.Spec.NodeName)
	}
	if p.Status.StartTime != nil {
		d.line(0, "Start Time:\t%s\n", Timestamp(*p.Status.StartTime))
	}
	d.labels(0, "Labels", p.Labels)
	d.stringMap("Annotations", p.Annotations, ": ")
	if p.DeletionTimestamp != nil {
		d.line(0, "Status:\tTerminating (lasts %s)\n", Since(*p.DeletionTimestamp, now))
	} else {
		d.line(0, "Status:\t%s\n", p.Status.Phase)
	}
	if p.Status.Reason != "" {
		d.line(0, "Reason:\t%s\n", p.Status.Reason)
	}
	if p.Status.Message != "" {
		d.line(0, "Message:\t%s\n", strings.TrimSpace(p.Status.Message))
	}
	d.line(0, "IP:\t%s\n", p.Status.PodIP)
	if len(p.Status.PodIPs) == 0 {
		d.line(0, "IPs:\t<none>\n")
	} else {
		d.line(0, "IPs:\n")
		for _, ip := range p.Status.PodIPs {
			d.line(1, "IP:\t%s\n", ip.IP)
		}
	}
	if c := controlledBy(p.ObjectMeta); c != "" {
		d.line(0, "Controlled By:\t%s\n", c)
	}
	if p.Status.NominatedNodeName != "" {
		d.line(0, "NominatedNodeName:\t%s\n", p.Status.NominatedNodeName)
	}
	if len(p.Spec.InitContainers) > 0 {
		d.line(0, "Init Containers:\n")
		for _, c := range p.Spec.InitContainers {
			d.podContainer(c, p.Status.InitContainerStatuses)
		}
	}
	d.line(0, "Containers:\n")
	for _, c := range p.Spec.Containers {
		d.podContainer(c, p.Status.ContainerStatuses)
	}
	if len(p.Status.Conditions) > 0 {
		d.line(0, "Conditions:\n  Type\tStatus\n")
		for _, c := range p.Status.Conditions {
			d.line(1, "%v \t%v \n", c.Type, c.Status)
		}
	}
	d.volumes(0, p.Spec.Volumes)
	qos := string(p.Status.QOSClass)
	if qos == "" {
		qos = string(QOSClass(p))
	}
	d.line(0, "QoS Class:\t%s\n", qos)
	d.line(0, "Node-Selectors:\t%s\n", labelString(p.Spec.NodeSelector))
	d.list("Tolerations", tolerationStrings(p.Spec.Tolerations))
	d.events(events, now)
	return d.String()
}

func (d *describer) podContainer(c corev1.Container, statuses []corev1.ContainerStatus) {
	var st *corev1.ContainerStatus
	for i := range statuses {
		if statuses[i].Name == c.Name {
			st = &statuses[i]
		}
	}
	d.line(1, "%s:\n", c.Name)
	if st != nil {
		d.line(2, "Container ID:\t%s\n", st.ContainerID)
	}
	d.line(2, "Image:\t%s\n", c.Image)
	if st != nil {
		d.line(2, "Image ID:\t%s\n", st.ImageID)
	}
	d.ports(c.Ports)
	if len(c.Command) > 0 {
		d.line(2, "Command:\t%s\n", strings.Join(c.Command, " "))
	}
	if len(c.Args) > 0 {
		d.line(2, "Args:\t%s\n", strings.Join(c.Args, " "))
	}
	if st != nil {
		d.containerState("State", st.State)
		if st.LastTerminationState.Terminated != nil {
			d.containerState("Last State", st.LastTerminationState)
		}
		d.line(2, "Ready:\t%s\n", printBool(st.Ready))
		d.line(2, "Restart Count:\t%d\n", st.RestartCount)
	}
	d.resources(c.Resources)
	d.env(c.Env)
	d.mounts(c.VolumeMounts)
}

func (d *describer) containerState(title string, s corev1.ContainerState) {
	switch {
	case s.Running != nil:
		d.line(2, "%s:\tRunning\n", title)
		d.line(3, "Started:\t%s\n", Timestamp(s.Running.StartedAt))
	case s.Waiting != nil:
		d.line(2, "%s:\tWaiting\n", title)
		if s.Waiting.Reason != "" {
			d.line(3, "Reason:\t%s\n", s.Waiting.Reason)
		}
		if s.Waiting.Message != "" {
			d.line(3, "Message:\t%s\n", s.Waiting.Message)
		}
	case s.Terminated != nil:
		d.line(2, "%s:\tTerminated\n", title)
		if s.Terminated.Reason != "" {
			d.line(3, "Reason:\t%s\n", s.Terminated.Reason)
		}
		if s.Terminated.Message != "" {
			d.line(3, "Message:\t%s\n", s.Terminated.Message)
		}
		d.line(3, "Exit Code:\t%d\n", s.Terminated.ExitCode)
		d.line(3, "Started:\t%s\n", Timestamp(s.Terminated.StartedAt))
		d.line(3, "Finished:\t%s\n", Timestamp(s.Terminated.FinishedAt))
	default:
		d.line(2, "%s:\tWaiting\n", title)
	}
}

// QOSClass is the pod's quality of service class, computed as the
// kubelet does when the status does not say: Guaranteed when every
// container's limits equal its requests for cpu and memory, BestEffort
// when none sets any, Burstable otherwise.
func QOSClass(p *corev1.Pod) corev1.PodQOSClass {
	any, guaranteed := false, true
	for _, c := range append(append([]corev1.Container(nil), p.Spec.InitContainers...), p.Spec.Containers...) {
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[name]
			lim, hasLim := c.Resources.Limits[name]
			if hasReq || hasLim {
				any = true
			}
			if !hasLim || (hasReq && req.Cmp(lim) != 0) {
				guaranteed = false
			}
		}
	}
	switch {
	case !any:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// printBool is how describe prints booleans: True or False.
func printBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
