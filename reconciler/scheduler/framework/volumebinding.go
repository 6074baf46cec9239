package framework

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// VolumeBindingName is the VolumeBinding plugin's name.
const VolumeBindingName = "VolumeBinding"

// VolumeBinding's reasons. The node conflict text is Kubernetes' since
// 1.33; before it read "node(s) had volume node affinity conflict".
const (
	ErrReasonVolumeNodeConflict = "node(s) didn't match PersistentVolume's node affinity"
	ErrReasonBindConflict       = "node(s) didn't find available persistent volumes to bind"
	ErrReasonPVNotExist         = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	ErrReasonUnboundImmediate   = "pod has unbound immediate PersistentVolumeClaims"
)

// Annotations the volume controllers set on claims.
const (
	annBindCompleted = "pv.kubernetes.io/bind-completed"
	annSelectedNode  = "volume.kubernetes.io/selected-node"
)

const volumeBindingPreFilterKey = "PreFilter" + VolumeBindingName

// VolumeBinding checks the pod's PersistentVolumeClaims: a claim must
// exist; a bound claim's volume must exist and its node affinity (local
// volumes, zones) must match the node; an unbound claim must use a
// storage class with volumeBindingMode WaitForFirstConsumer.
//
// An unbound WaitForFirstConsumer claim is accepted on every node, unless
// the provisioner already chose another node for it: finding a matching
// pre-provisioned volume, dynamic provisioning, allowedTopologies and
// storage capacity are the volume controllers' business and are not
// checked here.
type VolumeBinding struct{}

// Name implements Plugin.
func (*VolumeBinding) Name() string { return VolumeBindingName }

type volumeBindingState struct {
	// bound holds, for each bound claim, its volume's node affinity; a
	// nil entry is a claim whose volume does not exist.
	bound []*boundVolume
	// selectedNodes are the nodes the provisioner chose for unbound
	// WaitForFirstConsumer claims that have one.
	selectedNodes []string
}

type boundVolume struct {
	affinity *nodeSelector // nil: no required node affinity
}

// PreFilter looks up the pod's claims, rejects the pod when one is
// missing, lost, being deleted or unbound with immediate binding, and
// skips the filter when the pod has no claim.
func (*VolumeBinding) PreFilter(_ context.Context, state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status {
	s := &volumeBindingState{}
	hasPVC := false
	immediate := false
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		var name string
		ephemeral := false
		switch {
		case v.PersistentVolumeClaim != nil:
			name = v.PersistentVolumeClaim.ClaimName
		case v.Ephemeral != nil:
			name = pod.Name + "-" + v.Name
			ephemeral = true
		default:
			continue
		}
		hasPVC = true
		pvc := snap.PersistentVolumeClaim(pod.Namespace, name)
		switch {
		case pvc == nil && ephemeral:
			return NewStatus(UnschedulableAndUnresolvable,
				fmt.Sprintf("waiting for ephemeral volume controller to create the persistentvolumeclaim %q", name))
		case pvc == nil:
			return NewStatus(UnschedulableAndUnresolvable, claimNotFound(name))
		case pvc.Status.Phase == corev1.ClaimLost:
			return NewStatus(UnschedulableAndUnresolvable,
				fmt.Sprintf("persistentvolumeclaim %q bound to non-existent persistentvolume %q", pvc.Name, pvc.Spec.VolumeName))
		case pvc.DeletionTimestamp != nil:
			return NewStatus(UnschedulableAndUnresolvable, fmt.Sprintf("persistentvolumeclaim %q is being deleted", pvc.Name))
		case ephemeral && !metav1.IsControlledBy(pvc, pod):
			return NewStatus(UnschedulableAndUnresolvable,
				fmt.Sprintf("PVC %s/%s was not created for pod %s/%s (pod is not owner)", pvc.Namespace, pvc.Name, pod.Namespace, pod.Name))
		}

		if claimBound(pvc) {
			pv := snap.PersistentVolume(pvc.Spec.VolumeName)
			if pv == nil {
				s.bound = append(s.bound, nil)
				continue
			}
			bv := &boundVolume{}
			if pv.Spec.NodeAffinity != nil && pv.Spec.NodeAffinity.Required != nil {
				bv.affinity = newNodeSelector(pv.Spec.NodeAffinity.Required)
			}
			s.bound = append(s.bound, bv)
			continue
		}
		if pvc.Spec.VolumeName == "" && delayedBinding(pvc, snap) {
			if n, ok := pvc.Annotations[annSelectedNode]; ok {
				s.selectedNodes = append(s.selectedNodes, n)
			}
			continue
		}
		// Unbound with immediate binding, or pre-bound to a volume the
		// controller has not bound yet: the volume controller must act
		// first.
		immediate = true
	}
	if !hasPVC {
		return NewStatus(Skip)
	}
	if immediate {
		return NewStatus(UnschedulableAndUnresolvable, ErrReasonUnboundImmediate)
	}
	state.Write(volumeBindingPreFilterKey, s)
	return nil
}

// claimBound reports whether a claim is bound to its volume: the volume
// controller has set the bind-completed annotation (what kube-scheduler
// checks) or reports the claim Bound.
func claimBound(pvc *corev1.PersistentVolumeClaim) bool {
	if pvc.Spec.VolumeName == "" {
		return false
	}
	_, annotated := pvc.Annotations[annBindCompleted]
	return annotated || pvc.Status.Phase == corev1.ClaimBound
}

// delayedBinding reports whether the claim's storage class binds on first
// consumer. A claim without a class or with a class that does not exist
// binds immediately; a class without a binding mode is Immediate, the API
// server's default.
func delayedBinding(pvc *corev1.PersistentVolumeClaim, snap *Snapshot) bool {
	class := ""
	if c, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
		class = c
	} else if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	if class == "" {
		return false
	}
	sc := snap.StorageClass(class)
	return sc != nil && sc.VolumeBindingMode != nil && *sc.VolumeBindingMode == storagev1.VolumeBindingWaitForFirstConsumer
}

// Filter implements FilterPlugin.
func (*VolumeBinding) Filter(_ context.Context, state *CycleState, _ *corev1.Pod, node *NodeInfo) *Status {
	v, ok := state.Read(volumeBindingPreFilterKey)
	if !ok {
		return nil
	}
	s := v.(*volumeBindingState)
	nodeConflict, pvMissing, bindConflict := false, false, false
	for _, bv := range s.bound {
		if bv == nil {
			pvMissing = true
			break
		}
		// As in Kubernetes, a volume's node affinity is matched against
		// the node's labels only.
		if bv.affinity != nil && !bv.affinity.Match(labels.Set(node.Node.Labels), "") {
			nodeConflict = true
			break
		}
	}
	for _, n := range s.selectedNodes {
		if n != node.Node.Name {
			bindConflict = true
		}
	}
	if !nodeConflict && !pvMissing && !bindConflict {
		return nil
	}
	var reasons []string
	if nodeConflict {
		reasons = append(reasons, ErrReasonVolumeNodeConflict)
	}
	if bindConflict {
		reasons = append(reasons, ErrReasonBindConflict)
	}
	if pvMissing {
		reasons = append(reasons, ErrReasonPVNotExist)
	}
	return &Status{code: UnschedulableAndUnresolvable, reasons: reasons, plugin: VolumeBindingName}
}
