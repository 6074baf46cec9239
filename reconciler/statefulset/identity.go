package statefulset

import (
	"fmt"
	"regexp"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podNameRE splits a pod name into its StatefulSet's name and its
// ordinal, as Kubernetes' statefulPodRegex.
var podNameRE = regexp.MustCompile("(.*)-([0-9]+)$")

// parentAndOrdinal is the StatefulSet a pod's name says it belongs to and
// its ordinal; ordinal -1 for a name that carries none.
func parentAndOrdinal(p *corev1.Pod) (string, int) {
	m := podNameRE.FindStringSubmatch(p.Name)
	if len(m) < 3 {
		return "", -1
	}
	i, err := strconv.ParseInt(m[2], 10, 32)
	if err != nil {
		return m[1], -1
	}
	return m[1], int(i)
}

func ordinalOf(p *corev1.Pod) int {
	_, o := parentAndOrdinal(p)
	return o
}

// isMemberOf: the pod's name says it belongs to the set; only such pods
// are claimed, so a pod matching the selector under another name is
// left alone.
func isMemberOf(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	parent, _ := parentAndOrdinal(p)
	return parent == set.Name
}

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

// claimName is a claim template's claim for one ordinal,
// <template>-<set>-<ordinal>.
func claimName(set *appsv1.StatefulSet, template string, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", template, set.Name, ordinal)
}

func replicasOf(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas == nil {
		return 1
	}
	return int(*set.Spec.Replicas)
}

// startOrdinal is spec.ordinals.start, 0 when unset.
func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

// endOrdinal is the highest ordinal the set keeps (start-1 at 0 replicas).
func endOrdinal(set *appsv1.StatefulSet) int {
	return startOrdinal(set) + replicasOf(set) - 1
}

func inOrdinalRange(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	o := ordinalOf(p)
	return o >= startOrdinal(set) && o <= endOrdinal(set)
}

func podRevision(p *corev1.Pod) string { return p.Labels[appsv1.StatefulSetRevisionLabel] }

func setPodRevision(p *corev1.Pod, revision string) {
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[appsv1.StatefulSetRevisionLabel] = revision
}

// updateIdentity sets the name, namespace and the pod-name and pod-index
// labels the ordinal implies.
func updateIdentity(set *appsv1.StatefulSet, p *corev1.Pod) {
	o := ordinalOf(p)
	p.Name = podName(set, o)
	p.Namespace = set.Namespace
	if p.Labels == nil {
		p.Labels = map[string]string{}
	}
	p.Labels[appsv1.StatefulSetPodNameLabel] = p.Name
	p.Labels[appsv1.PodIndexLabel] = strconv.Itoa(o)
}

// identityMatches: the pod has the name, namespace and labels of its
// ordinal in the set.
func identityMatches(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	parent, o := parentAndOrdinal(p)
	return o >= 0 && parent == set.Name && p.Name == podName(set, o) && p.Namespace == set.Namespace &&
		p.Labels[appsv1.StatefulSetPodNameLabel] == p.Name && p.Labels[appsv1.PodIndexLabel] == strconv.Itoa(o)
}

// claimsFor builds the pod's claims from the set's volumeClaimTemplates,
// in template order, labelled with the selector's matchLabels so that
// they can be found again.
func claimsFor(set *appsv1.StatefulSet, p *corev1.Pod) []corev1.PersistentVolumeClaim {
	o := ordinalOf(p)
	out := make([]corev1.PersistentVolumeClaim, 0, len(set.Spec.VolumeClaimTemplates))
	for i := range set.Spec.VolumeClaimTemplates {
		c := set.Spec.VolumeClaimTemplates[i].DeepCopy()
		c.Name = claimName(set, set.Spec.VolumeClaimTemplates[i].Name, o)
		c.Namespace = set.Namespace
		if c.Labels == nil {
			c.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				c.Labels[k] = v
			}
		}
		out = append(out, *c)
	}
	return out
}

// storageMatches: every claim template is mounted as a volume of its
// name that uses the ordinal's claim.
func storageMatches(set *appsv1.StatefulSet, p *corev1.Pod) bool {
	o := ordinalOf(p)
	if o < 0 {
		return false
	}
	vols := map[string]corev1.Volume{}
	for _, v := range p.Spec.Volumes {
		vols[v.Name] = v
	}
	for _, t := range set.Spec.VolumeClaimTemplates {
		v, ok := vols[t.Name]
		if !ok || v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != claimName(set, t.Name, o) {
			return false
		}
	}
	return true
}

// updateStorage points the pod's volumes named like claim templates at
// the ordinal's claims, replacing template volumes of the same name.
func updateStorage(set *appsv1.StatefulSet, p *corev1.Pod) {
	claims := claimsFor(set, p)
	byTemplate := map[string]bool{}
	vols := make([]corev1.Volume, 0, len(claims)+len(p.Spec.Volumes))
	for i, c := range claims {
		name := set.Spec.VolumeClaimTemplates[i].Name
		byTemplate[name] = true
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name},
		}})
	}
	for _, v := range p.Spec.Volumes {
		if !byTemplate[v.Name] {
			vols = append(vols, v)
		}
	}
	p.Spec.Volumes = vols
}

// newPod is the set's pod for an ordinal: the template's labels,
// annotations, finalizers and spec, a controller reference, the stable
// identity, hostname and subdomain, and the claims' volumes.
func newPod(set *appsv1.StatefulSet, ordinal int) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            podName(set, ordinal),
			Namespace:       set.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, setKind)},
		},
		Spec: t.Spec,
	}
	updateIdentity(set, p)
	// Set on creation only: they are immutable afterwards.
	p.Spec.Hostname = p.Name
	p.Spec.Subdomain = set.Spec.ServiceName
	updateStorage(set, p)
	return p
}

// newVersionedPod builds the pod for an ordinal at the revision it
// should run: the current revision below the partition of a rolling
// update, the update revision otherwise.
func newVersionedPod(currentSet, updateSet *appsv1.StatefulSet, currentRevision, updateRevision string, ordinal int) *corev1.Pod {
	ru := currentSet.Spec.UpdateStrategy.RollingUpdate
	rolling := currentSet.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType ||
		currentSet.Spec.UpdateStrategy.Type == ""
	// Kubernetes' precedence: the first arm needs a rolling update, the
	// second only a partition.
	if (rolling && ru == nil && ordinal < startOrdinal(currentSet)+int(currentSet.Status.CurrentReplicas)) ||
		(ru != nil && ordinal < startOrdinal(currentSet)+partition(currentSet)) {
		p := newPod(currentSet, ordinal)
		setPodRevision(p, currentRevision)
		return p
	}
	p := newPod(updateSet, ordinal)
	setPodRevision(p, updateRevision)
	return p
}

func partition(set *appsv1.StatefulSet) int {
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		return int(*ru.Partition)
	}
	return 0
}

// isCreated: the API server has the pod (it sets the phase on create);
// placeholders for pods still to create have none.
func isCreated(p *corev1.Pod) bool { return p.Status.Phase != "" }

func isPending(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodPending }

func isFailed(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed }

func isSucceeded(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded }

func isTerminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }

func readyCondition(p *corev1.Pod) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == corev1.PodReady {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

func isReady(p *corev1.Pod) bool {
	c := readyCondition(p)
	return c != nil && c.Status == corev1.ConditionTrue
}

func isRunningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && isReady(p)
}

// isRunningAndAvailable: running and ready for minReadySeconds.
func isRunningAndAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isRunningAndReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	c := readyCondition(p)
	d := time.Duration(minReadySeconds) * time.Second
	return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(d).After(now)
}

// isHealthy: running, ready and not being deleted.
func isHealthy(p *corev1.Pod) bool { return isRunningAndReady(p) && !isTerminating(p) }
