package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// Namespace sets the metadata-name label (SetDefaults_Namespace), the phase
// (SetDefaults_NamespaceStatus) and the "kubernetes" finalizer the namespace
// strategy requires on create. The finalizer is not re-added to a namespace
// being deleted: the namespace controller removes it to finish the deletion.
func Namespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
	if ns.DeletionTimestamp == nil {
		for _, f := range ns.Spec.Finalizers {
			if f == corev1.FinalizerKubernetes {
				return
			}
		}
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
	}
}

// Secret sets SetDefaults_Secret.
func Secret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
}

// ConfigMap sets SetDefaults_ConfigMap.
func ConfigMap(cm *corev1.ConfigMap) {
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
}

// PersistentVolumeClaim sets SetDefaults_PersistentVolumeClaim and
// SetDefaults_PersistentVolumeClaimSpec.
func PersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) {
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
	persistentVolumeClaimSpec(&pvc.Spec)
	resourceList(pvc.Status.Capacity)
	resourceList(pvc.Status.AllocatedResources)
}

func persistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
	}
	resourceList(spec.Resources.Limits)
	resourceList(spec.Resources.Requests)
}

// PersistentVolume sets SetDefaults_PersistentVolume and the defaults of its
// volume sources.
func PersistentVolume(pv *corev1.PersistentVolume) {
	if pv.Status.Phase == "" {
		pv.Status.Phase = corev1.VolumePending
	}
	if pv.Spec.PersistentVolumeReclaimPolicy == "" {
		pv.Spec.PersistentVolumeReclaimPolicy = corev1.PersistentVolumeReclaimRetain
	}
	if pv.Spec.VolumeMode == nil {
		pv.Spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
	}
	resourceList(pv.Spec.Capacity)
	src := &pv.Spec.PersistentVolumeSource
	if src.HostPath != nil {
		hostPath(src.HostPath)
	}
	if s := src.RBD; s != nil {
		rbd(&s.RBDPool, &s.RadosUser, &s.Keyring)
	}
	if s := src.ISCSI; s != nil && s.ISCSIInterface == "" {
		s.ISCSIInterface = "default"
	}
	if s := src.AzureDisk; s != nil {
		azureDisk(s)
	}
	if s := src.ScaleIO; s != nil {
		scaleIO(&s.StorageMode, &s.FSType)
	}
}

// Endpoints sets SetDefaults_Endpoints.
func Endpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if p := &ep.Subsets[i].Ports[j]; p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// Node sets SetDefaults_NodeStatus: allocatable defaults to capacity.
func Node(n *corev1.Node) {
	if n.Status.Allocatable == nil && n.Status.Capacity != nil {
		n.Status.Allocatable = make(corev1.ResourceList, len(n.Status.Capacity))
		for k, v := range n.Status.Capacity {
			n.Status.Allocatable[k] = v.DeepCopy()
		}
	}
	resourceList(n.Status.Capacity)
	resourceList(n.Status.Allocatable)
}

// LimitRange sets SetDefaults_LimitRangeItem: for Container limits, default
// falls back to max, and defaultRequest to default, then to min.
func LimitRange(lr *corev1.LimitRange) {
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		if item.Type == corev1.LimitTypeContainer {
			if item.Default == nil {
				item.Default = make(corev1.ResourceList)
			}
			if item.DefaultRequest == nil {
				item.DefaultRequest = make(corev1.ResourceList)
			}
			for k, v := range item.Max {
				if _, ok := item.Default[k]; !ok {
					item.Default[k] = v.DeepCopy()
				}
			}
			for k, v := range item.Default {
				if _, ok := item.DefaultRequest[k]; !ok {
					item.DefaultRequest[k] = v.DeepCopy()
				}
			}
			for k, v := range item.Min {
				if _, ok := item.DefaultRequest[k]; !ok {
					item.DefaultRequest[k] = v.DeepCopy()
				}
			}
		}
		resourceList(item.Max)
		resourceList(item.Min)
		resourceList(item.Default)
		resourceList(item.DefaultRequest)
		resourceList(item.MaxLimitRequestRatio)
	}
}

// ResourceQuota rounds its quantities as SetDefaults_ResourceList does.
func ResourceQuota(rq *corev1.ResourceQuota) {
	resourceList(rq.Spec.Hard)
	resourceList(rq.Status.Hard)
	resourceList(rq.Status.Used)
}

// resourceList is SetDefaults_ResourceList: quantities are rounded up to
// milli precision.
func resourceList(l corev1.ResourceList) {
	for k, v := range l {
		v.RoundUp(-3)
		l[k] = v
	}
}
