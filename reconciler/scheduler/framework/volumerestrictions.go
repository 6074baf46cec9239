package framework

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// VolumeRestrictionsName is the VolumeRestrictions plugin's name.
const VolumeRestrictionsName = "VolumeRestrictions"

// VolumeRestrictions' reasons.
const (
	ErrReasonDiskConflict             = "node(s) had no available disk"
	ErrReasonReadWriteOncePodConflict = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)

var (
	statusDiskConflict = rejection(VolumeRestrictionsName, Unschedulable, ErrReasonDiskConflict)
	statusRWOPConflict = rejection(VolumeRestrictionsName, Unschedulable, ErrReasonReadWriteOncePodConflict)
)

const volumeRestrictionsPreFilterKey = "PreFilter" + VolumeRestrictionsName

// VolumeRestrictions rejects nodes where an inline disk the pod mounts
// (GCE PD, AWS EBS, iSCSI, RBD) is already mounted read-write by another
// pod, and every node while a ReadWriteOncePod claim of the pod is in use
// by another pod. Its PreFilter is also where a claim that does not exist
// first rejects the pod.
type VolumeRestrictions struct{}

// Name implements Plugin.
func (*VolumeRestrictions) Name() string { return VolumeRestrictionsName }

type volumeRestrictionsState struct {
	conflictingPVCRefCount int
}

// PreFilter looks up the pod's claims and counts the pods already using
// its ReadWriteOncePod ones.
func (*VolumeRestrictions) PreFilter(_ context.Context, state *CycleState, pod *corev1.Pod, snap *Snapshot) *Status {
	needsCheck := false
	var rwop []string
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if isDiskVolume(v) {
			needsCheck = true
		}
		if v.PersistentVolumeClaim == nil {
			continue
		}
		pvc := snap.PersistentVolumeClaim(pod.Namespace, v.PersistentVolumeClaim.ClaimName)
		if pvc == nil {
			return NewStatus(UnschedulableAndUnresolvable, claimNotFound(v.PersistentVolumeClaim.ClaimName))
		}
		if slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOncePod) {
			rwop = append(rwop, pod.Namespace+"/"+pvc.Name)
		}
	}
	s := &volumeRestrictionsState{}
	if len(rwop) > 0 {
		for _, ni := range snap.List() {
			for _, key := range rwop {
				s.conflictingPVCRefCount += ni.PVCRefCounts[key]
			}
		}
	}
	if !needsCheck && s.conflictingPVCRefCount == 0 {
		return NewStatus(Skip)
	}
	state.Write(volumeRestrictionsPreFilterKey, s)
	return nil
}

// claimNotFound is the API server's not-found message for a claim, which
// kube-scheduler passes on.
func claimNotFound(name string) string {
	return fmt.Sprintf("persistentvolumeclaim %q not found", name)
}

// Filter implements FilterPlugin.
func (*VolumeRestrictions) Filter(_ context.Context, state *CycleState, pod *corev1.Pod, node *NodeInfo) *Status {
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		if !isDiskVolume(v) {
			continue
		}
		for _, existing := range node.Pods {
			if isVolumeConflict(v, existing.Pod) {
				return statusDiskConflict
			}
		}
	}
	if v, ok := state.Read(volumeRestrictionsPreFilterKey); ok && v.(*volumeRestrictionsState).conflictingPVCRefCount > 0 {
		return statusRWOPConflict
	}
	return nil
}

// isVolumeConflict reports whether an inline disk volume is already
// mounted by a pod in a way that excludes another mount: read-write on
// either side for GCE PD, iSCSI and RBD, any mount for AWS EBS.
func isVolumeConflict(v *corev1.Volume, pod *corev1.Pod) bool {
	if !isDiskVolume(v) {
		return false
	}
	for i := range pod.Spec.Volumes {
		e := &pod.Spec.Volumes[i]
		if v.GCEPersistentDisk != nil && e.GCEPersistentDisk != nil {
			d, ed := v.GCEPersistentDisk, e.GCEPersistentDisk
			if d.PDName == ed.PDName && !(d.ReadOnly && ed.ReadOnly) {
				return true
			}
		}
		if v.AWSElasticBlockStore != nil && e.AWSElasticBlockStore != nil &&
			v.AWSElasticBlockStore.VolumeID == e.AWSElasticBlockStore.VolumeID {
			return true
		}
		if v.ISCSI != nil && e.ISCSI != nil && v.ISCSI.IQN == e.ISCSI.IQN && !(v.ISCSI.ReadOnly && e.ISCSI.ReadOnly) {
			return true
		}
		if v.RBD != nil && e.RBD != nil {
			r, er := v.RBD, e.RBD
			if haveOverlap(r.CephMonitors, er.CephMonitors) && r.RBDPool == er.RBDPool && r.RBDImage == er.RBDImage &&
				!(r.ReadOnly && er.ReadOnly) {
				return true
			}
		}
	}
	return false
}

func haveOverlap(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

func isDiskVolume(v *corev1.Volume) bool {
	return v.GCEPersistentDisk != nil || v.AWSElasticBlockStore != nil || v.RBD != nil || v.ISCSI != nil
}
