package view

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// describer writes kubectl describe's layout: two spaces of indent per
// level, cells separated by tabs and aligned per block of lines.
type describer struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newDescriber() *describer {
	d := &describer{}
	d.tw = tabwriter.NewWriter(&d.buf, 0, 8, 2, ' ', 0)
	return d
}

func (d *describer) line(level int, format string, args ...any) {
	fmt.Fprintf(d.tw, strings.Repeat("  ", level)+format, args...)
}

// flush ends a block: lines after it are aligned on their own.
func (d *describer) flush() { _ = d.tw.Flush() }

func (d *describer) String() string {
	d.flush()
	return d.buf.String()
}

// stringMap prints labels or annotations one per line, sorted, the first
// on the title's line: "<none>" when empty.
func (d *describer) stringMap(title string, m map[string]string, sep string) {
	d.line(0, "%s:\t", title)
	if len(m) == 0 {
		d.line(0, "<none>\n")
		return
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		if i > 0 {
			d.line(0, "\t")
		}
		d.line(0, "%s%s%s\n", k, sep, m[k])
	}
}

func (d *describer) labels(level int, title string, m map[string]string) {
	if level == 0 {
		d.stringMap(title, m, "=")
		return
	}
	d.line(level, "%s:\t%s\n", title, labelString(m))
}

// list prints values one per line under a title, the first on its line.
func (d *describer) list(title string, values []string) {
	d.line(0, "%s:\t", title)
	if len(values) == 0 {
		d.line(0, "<none>\n")
		return
	}
	for i, v := range values {
		if i > 0 {
			d.line(0, "\t")
		}
		d.line(0, "%s\n", v)
	}
}

func labelString(m map[string]string) string {
	if len(m) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ",")
}

func taintStrings(taints []corev1.Taint) []string {
	out := make([]string, len(taints))
	for i, t := range taints {
		out[i] = t.ToString()
	}
	return out
}

func tolerationStrings(ts []corev1.Toleration) []string {
	out := make([]string, 0, len(ts))
	for _, t := range ts {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + string(t.Effect)
		}
		if t.Operator == corev1.TolerationOpExists && t.Value == "" {
			if t.Key != "" || t.Effect != "" {
				s += " op=Exists"
			} else {
				s = "op=Exists"
			}
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		out = append(out, s)
	}
	return out
}

// controlledBy is "Kind/name" of the controlling owner, if any.
func controlledBy(m metav1.ObjectMeta) string {
	if ref := metav1.GetControllerOfNoCopy(&m); ref != nil {
		return ref.Kind + "/" + ref.Name
	}
	return ""
}

// events prints the Events section of a describe: oldest first, with the
// age of the last occurrence and, for repeats, the count.
func (d *describer) events(events []corev1.Event, now time.Time) {
	if len(events) == 0 {
		d.line(0, "Events:\t<none>\n")
		return
	}
	d.flush()
	sorted := append([]corev1.Event(nil), events...)
	SortEvents(sorted)
	d.line(0, "Events:\n  Type\tReason\tAge\tFrom\tMessage\n")
	d.line(1, "----\t------\t----\t----\t-------\n")
	for i := range sorted {
		e := &sorted[i]
		source := e.Source.Component
		if source == "" {
			source = e.ReportingController
		}
		d.line(1, "%s\t%s\t%s\t%s\t%s\n", e.Type, e.Reason, eventInterval(e, now), source, strings.TrimSpace(e.Message))
	}
}

// objectHeader prints the lines every namespaced describe starts with.
func (d *describer) objectHeader(m metav1.ObjectMeta, withTimestamp bool) {
	d.line(0, "Name:\t%s\n", m.Name)
	if m.Namespace != "" {
		d.line(0, "Namespace:\t%s\n", m.Namespace)
	}
	if withTimestamp {
		d.line(0, "CreationTimestamp:\t%s\n", Timestamp(m.CreationTimestamp))
	}
}

// podTemplate prints a pod template's labels, containers and volumes, as
// the workload describes do.
func (d *describer) podTemplate(t corev1.PodTemplateSpec) {
	d.line(0, "Pod Template:\n")
	d.labels(1, "Labels", t.Labels)
	if len(t.Annotations) > 0 {
		d.line(1, "Annotations:\t%s\n", labelString(t.Annotations))
	}
	if t.Spec.ServiceAccountName != "" {
		d.line(1, "Service Account:\t%s\n", t.Spec.ServiceAccountName)
	}
	if len(t.Spec.InitContainers) > 0 {
		d.line(1, "Init Containers:\n")
		for _, c := range t.Spec.InitContainers {
			d.templateContainer(c)
		}
	}
	d.line(1, "Containers:\n")
	if len(t.Spec.Containers) == 0 {
		d.line(2, "<none>\n")
	}
	for _, c := range t.Spec.Containers {
		d.templateContainer(c)
	}
	d.volumes(1, t.Spec.Volumes)
	if len(t.Spec.NodeSelector) > 0 {
		d.line(1, "Node-Selectors:\t%s\n", labelString(t.Spec.NodeSelector))
	}
	if len(t.Spec.Tolerations) > 0 {
		d.line(1, "Tolerations:\t%s\n", strings.Join(tolerationStrings(t.Spec.Tolerations), ", "))
	}
}

func (d *describer) templateContainer(c corev1.Container) {
	d.line(1, " %s:\n", c.Name)
	d.line(2, "Image:\t%s\n", c.Image)
	d.ports(c.Ports)
	if len(c.Command) > 0 {
		d.line(2, "Command:\t%s\n", strings.Join(c.Command, " "))
	}
	if len(c.Args) > 0 {
		d.line(2, "Args:\t%s\n", strings.Join(c.Args, " "))
	}
	d.resources(c.Resources)
	d.env(c.Env)
	d.mounts(c.VolumeMounts)
}

func (d *describer) ports(ports []corev1.ContainerPort) {
	if len(ports) == 0 {
		d.line(2, "Port:\t<none>\n")
		d.line(2, "Host Port:\t<none>\n")
		return
	}
	var p, hp []string
	for _, port := range ports {
		p = append(p, fmt.Sprintf("%d/%s", port.ContainerPort, protocol(port.Protocol)))
		hp = append(hp, fmt.Sprintf("%d/%s", port.HostPort, protocol(port.Protocol)))
	}
	title := "Port"
	if len(ports) > 1 {
		title = "Ports"
	}
	d.line(2, "%s:\t%s\n", title, strings.Join(p, ", "))
	d.line(2, "Host %s:\t%s\n", title, strings.Join(hp, ", "))
}

func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func (d *describer) resources(r corev1.ResourceRequirements) {
	for _, part := range []struct {
		title string
		list  corev1.ResourceList
	}{{"Limits", r.Limits}, {"Requests", r.Requests}} {
		if len(part.list) == 0 {
			continue
		}
		d.line(2, "%s:\n", part.title)
		for _, name := range sortedResourceNames(part.list) {
			q := part.list[name]
			d.line(3, "%s:\t%s\n", name, q.String())
		}
	}
}

func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for n := range l {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

func (d *describer) env(env []corev1.EnvVar) {
	if len(env) == 0 {
		d.line(2, "Environment:\t<none>\n")
		return
	}
	d.line(2, "Environment:\n")
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			d.line(3, "%s:\t%s\n", e.Name, e.Value)
		case e.ValueFrom.FieldRef != nil:
			d.line(3, "%s:\t (%s:%s)\n", e.Name, e.ValueFrom.FieldRef.APIVersion, e.ValueFrom.FieldRef.FieldPath)
		case e.ValueFrom.SecretKeyRef != nil:
			d.line(3, "%s:\t<set to the key '%s' in secret '%s'>\n", e.Name, e.ValueFrom.SecretKeyRef.Key, e.ValueFrom.SecretKeyRef.Name)
		case e.ValueFrom.ConfigMapKeyRef != nil:
			d.line(3, "%s:\t<set to the key '%s' of config map '%s'>\n", e.Name, e.ValueFrom.ConfigMapKeyRef.Key, e.ValueFrom.ConfigMapKeyRef.Name)
		default:
			d.line(3, "%s:\t<set from a reference>\n", e.Name)
		}
	}
}

func (d *describer) mounts(ms []corev1.VolumeMount) {
	if len(ms) == 0 {
		d.line(2, "Mounts:\t<none>\n")
		return
	}
	d.line(2, "Mounts:\n")
	for _, m := range ms {
		flags := "rw"
		if m.ReadOnly {
			flags = "ro"
		}
		d.line(3, "%s from %s (%s)\n", m.MountPath, m.Name, flags)
	}
}

func (d *describer) volumes(level int, vs []corev1.Volume) {
	if len(vs) == 0 {
		d.line(level, "Volumes:\t<none>\n")
		return
	}
	d.line(level, "Volumes:\n")
	for _, v := range vs {
		d.line(level+1, "%s:\n", v.Name)
		switch {
		case v.EmptyDir != nil:
			d.line(level+2, "Type:\tEmptyDir (a temporary directory that shares a pod's lifetime)\n")
			d.line(level+2, "Medium:\t%s\n", v.EmptyDir.Medium)
		case v.HostPath != nil:
			d.line(level+2, "Type:\tHostPath (bare host directory volume)\n")
			d.line(level+2, "Path:\t%s\n", v.HostPath.Path)
		case v.ConfigMap != nil:
			d.line(level+2, "Type:\tConfigMap (a volume populated by a ConfigMap)\n")
			d.line(level+2, "Name:\t%s\n", v.ConfigMap.Name)
		case v.Secret != nil:
			d.line(level+2, "Type:\tSecret (a volume populated by a Secret)\n")
			d.line(level+2, "SecretName:\t%s\n", v.Secret.SecretName)
		case v.PersistentVolumeClaim != nil:
			d.line(level+2, "Type:\tPersistentVolumeClaim (a reference to a PersistentVolumeClaim in the same namespace)\n")
			d.line(level+2, "ClaimName:\t%s\n", v.PersistentVolumeClaim.ClaimName)
			d.line(level+2, "ReadOnly:\t%v\n", v.PersistentVolumeClaim.ReadOnly)
		case v.Projected != nil:
			d.line(level+2, "Type:\tProjected (a volume that contains injected data from multiple sources)\n")
		default:
			d.line(level+2, "Type:\t<unknown>\n")
		}
	}
}

// podsStatus counts pods by phase for the workload describes.
func podsStatus(pods []corev1.Pod) string {
	var running, waiting, succeeded, failed int
	for _, p := range pods {
		switch p.Status.Phase {
		case corev1.PodRunning:
			running++
		case corev1.PodPending:
			waiting++
		case corev1.PodSucceeded:
			succeeded++
		case corev1.PodFailed:
			failed++
		}
	}
	return fmt.Sprintf("%d Running / %d Waiting / %d Succeeded / %d Failed", running, waiting, succeeded, failed)
}
