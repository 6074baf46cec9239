package view

import (
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func selectorString(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return "<error: " + err.Error() + ">"
	}
	return sel.String()
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// DescribeDeployment renders a deployment in kubectl describe's layout;
// newRS is the ReplicaSet of its current template (nil if none), oldRSs
// the others it owns.
func DescribeDeployment(dep *appsv1.Deployment, oldRSs []appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, events []corev1.Event, now time.Time) string {
	d := newDescriber()
	d.objectHeader(dep.ObjectMeta, true)
	d.labels(0, "Labels", dep.Labels)
	d.stringMap("Annotations", dep.Annotations, ": ")
	d.line(0, "Selector:\t%s\n", selectorString(dep.Spec.Selector))
	st := dep.Status
	d.line(0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable\n",
		replicas(dep.Spec.Replicas), st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas)
	d.line(0, "StrategyType:\t%s\n", dep.Spec.Strategy.Type)
	d.line(0, "MinReadySeconds:\t%d\n", dep.Spec.MinReadySeconds)
	if ru := dep.Spec.Strategy.RollingUpdate; ru != nil {
		d.line(0, "RollingUpdateStrategy:\t%s max unavailable, %s max surge\n", ru.MaxUnavailable.String(), ru.MaxSurge.String())
	}
	d.podTemplate(dep.Spec.Template)
	if len(st.Conditions) > 0 {
		d.line(0, "Conditions:\n  Type\tStatus\tReason\n")
		d.line(1, "----\t------\t------\n")
		for _, c := range st.Conditions {
			d.line(1, "%v \t%v\t%v\n", c.Type, c.Status, c.Reason)
		}
	}
	var old []string
	for _, rs := range oldRSs {
		old = append(old, rsSummary(&rs))
	}
	if len(old) == 0 {
		d.line(0, "OldReplicaSets:\t<none>\n")
	} else {
		d.line(0, "OldReplicaSets:\t%s\n", strings.Join(old, ", "))
	}
	if newRS == nil {
		d.line(0, "NewReplicaSet:\t<none>\n")
	} else {
		d.line(0, "NewReplicaSet:\t%s\n", rsSummary(newRS))
	}
	d.events(events, now)
	return d.String()
}

func rsSummary(rs *appsv1.ReplicaSet) string {
	return fmt.Sprintf("%s (%d/%d replicas created)", rs.Name, rs.Status.Replicas, replicas(rs.Spec.Replicas))
}

// DescribeReplicaSet renders a ReplicaSet with the pods it selects.
func DescribeReplicaSet(rs *appsv1.ReplicaSet, pods []corev1.Pod, events []corev1.Event, now time.Time) string {
	d := newDescriber()
	d.objectHeader(rs.ObjectMeta, false)
	d.line(0, "Selector:\t%s\n", selectorString(rs.Spec.Selector))
	d.labels(0, "Labels", rs.Labels)
	d.stringMap("Annotations", rs.Annotations, ": ")
	if c := controlledBy(rs.ObjectMeta); c != "" {
		d.line(0, "Controlled By:\t%s\n", c)
	}
	d.line(0, "Replicas:\t%d current / %d desired\n", rs.Status.Replicas, replicas(rs.Spec.Replicas))
	d.line(0, "Pods Status:\t%s\n", podsStatus(pods))
	d.podTemplate(rs.Spec.Template)
	if len(rs.Status.Conditions) > 0 {
		d.line(0, "Conditions:\n  Type\tStatus\tReason\n")
		d.line(1, "----\t------\t------\n")
		for _, c := range rs.Status.Conditions {
			d.line(1, "%v \t%v\t%v\n", c.Type, c.Status, c.Reason)
		}
	}
	d.events(events, now)
	return d.String()
}

// DescribeStatefulSet renders a StatefulSet with the pods it selects.
func DescribeStatefulSet(ss *appsv1.StatefulSet, pods []corev1.Pod, events []corev1.Event, now time.Time) string {
	d := newDescriber()
	d.objectHeader(ss.ObjectMeta, true)
	d.line(0, "Selector:\t%s\n", selectorString(ss.Spec.Selector))
	d.labels(0, "Labels", ss.Labels)
	d.stringMap("Annotations", ss.Annotations, ": ")
	d.line(0, "Replicas:\t%d desired | %d total\n", replicas(ss.Spec.Replicas), ss.Status.Replicas)
	d.line(0, "Update Strategy:\t%s\n", ss.Spec.UpdateStrategy.Type)
	if ru := ss.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		d.line(1, "Partition:\t%d\n", *ru.Partition)
	}
	d.line(0, "Pods Status:\t%s\n", podsStatus(pods))
	d.podTemplate(ss.Spec.Template)
	if len(ss.Spec.VolumeClaimTemplates) == 0 {
		d.line(0, "Volume Claims:\t<none>\n")
	} else {
		d.line(0, "Volume Claims:\n")
		for _, pvc := range ss.Spec.VolumeClaimTemplates {
			d.line(1, "Name:\t%s\n", pvc.Name)
			sc := "<none>"
			if pvc.Spec.StorageClassName != nil {
				sc = *pvc.Spec.StorageClassName
			}
			d.line(1, "StorageClass:\t%s\n", sc)
			if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
				d.line(1, "Capacity:\t%s\n", q.String())
			}
			modes := make([]string, len(pvc.Spec.AccessModes))
			for i, m := range pvc.Spec.AccessModes {
				modes[i] = string(m)
			}
			d.line(1, "Access Modes:\t%s\n", strings.Join(modes, ","))
		}
	}
	d.events(events, now)
	return d.String()
}

// DescribeDaemonSet renders a DaemonSet with the pods it selects.
func DescribeDaemonSet(ds *appsv1.DaemonSet, pods []corev1.Pod, events []corev1.Event, now time.Time) string {
	d := newDescriber()
	d.objectHeader(ds.ObjectMeta, false)
	d.line(0, "Selector:\t%s\n", selectorString(ds.Spec.Selector))
	d.line(0, "Node-Selector:\t%s\n", labelString(ds.Spec.Template.Spec.NodeSelector))
	d.labels(0, "Labels", ds.Labels)
	d.stringMap("Annotations", ds.Annotations, ": ")
	st := ds.Status
	d.line(0, "Desired Number of Nodes Scheduled: %d\n", st.DesiredNumberScheduled)
	d.line(0, "Current Number of Nodes Scheduled: %d\n", st.CurrentNumberScheduled)
	d.line(0, "Number of Nodes Scheduled with Up-to-date Pods: %d\n", st.UpdatedNumberScheduled)
	d.line(0, "Number of Nodes Scheduled with Available Pods: %d\n", st.NumberAvailable)
	d.line(0, "Number of Nodes Misscheduled: %d\n", st.NumberMisscheduled)
	d.line(0, "Pods Status:\t%s\n", podsStatus(pods))
	d.podTemplate(ds.Spec.Template)
	d.events(events, now)
	return d.String()
}

// OwnedReplicaSets splits the ReplicaSets a deployment controls into the
// one running its current template and the older ones (newest first).
func OwnedReplicaSets(dep *appsv1.Deployment, all []appsv1.ReplicaSet) (old []appsv1.ReplicaSet, current *appsv1.ReplicaSet) {
	for i := range all {
		rs := &all[i]
		ref := metav1.GetControllerOfNoCopy(rs)
		if ref == nil || ref.UID != dep.UID {
			continue
		}
		if templatesMatch(rs.Spec.Template, dep.Spec.Template) && current == nil {
			current = rs
			continue
		}
		old = append(old, *rs)
	}
	sort.SliceStable(old, func(i, j int) bool { return old[j].CreationTimestamp.Before(&old[i].CreationTimestamp) })
	return old, current
}

// templatesMatch compares pod templates ignoring the pod-template-hash
// label the deployment controller adds to its ReplicaSets.
func templatesMatch(a, b corev1.PodTemplateSpec) bool {
	a, b = *a.DeepCopy(), *b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(a.Labels) == 0 {
		a.Labels = nil
	}
	if len(b.Labels) == 0 {
		b.Labels = nil
	}
	return equalJSON(a, b)
}
