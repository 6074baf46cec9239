package printers

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// betaStorageClassAnnotation is the pre-storageClassName way of naming a
// volume's class; it wins over the field, as in Kubernetes.
const betaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

func init() {
	pvSpec := corev1.PersistentVolumeSpec{}.SwaggerDoc()
	pvStatus := corev1.PersistentVolumeStatus{}.SwaggerDoc()
	register("", "PersistentVolume", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Capacity", "string", pvSpec["capacity"]),
		column("Access Modes", "string", pvSpec["accessModes"]),
		column("Reclaim Policy", "string", pvSpec["persistentVolumeReclaimPolicy"]),
		column("Status", "string", pvStatus["phase"]),
		column("Claim", "string", pvSpec["claimRef"]),
		column("StorageClass", "string", "StorageClass of the pv"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
		column("Reason", "string", pvStatus["reason"]),
		ageColumn(),
		wideColumn("VolumeMode", "string", pvSpec["volumeMode"]),
	}, persistentVolumeCells))

	pvcSpec := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	pvcStatus := corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	register("", "PersistentVolumeClaim", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", pvcStatus["phase"]),
		column("Volume", "string", pvcSpec["volumeName"]),
		column("Capacity", "string", pvcStatus["capacity"]),
		column("Access Modes", "string", pvcStatus["accessModes"]),
		column("StorageClass", "string", "StorageClass of the pvc"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
		ageColumn(),
		wideColumn("VolumeMode", "string", pvcSpec["volumeMode"]),
	}, persistentVolumeClaimCells))

	scDoc := storagev1.StorageClass{}.SwaggerDoc()
	register("storage.k8s.io", "StorageClass", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Provisioner", "string", scDoc["provisioner"]),
		column("ReclaimPolicy", "string", scDoc["reclaimPolicy"]),
		column("VolumeBindingMode", "string", scDoc["volumeBindingMode"]),
		column("AllowVolumeExpansion", "string", scDoc["allowVolumeExpansion"]),
		ageColumn(),
	}, storageClassCells))
}

// storageClassCells follow kubectl: the default class is marked in its
// name column.
func storageClassCells(sc *storagev1.StorageClass, now time.Time) []any {
	name := sc.Name
	if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" || sc.Annotations["storageclass.beta.kubernetes.io/is-default-class"] == "true" {
		name += " (default)"
	}
	reclaim, mode, expand := string(corev1.PersistentVolumeReclaimDelete), string(storagev1.VolumeBindingImmediate), "false"
	if sc.ReclaimPolicy != nil {
		reclaim = string(*sc.ReclaimPolicy)
	}
	if sc.VolumeBindingMode != nil {
		mode = string(*sc.VolumeBindingMode)
	}
	if sc.AllowVolumeExpansion != nil && *sc.AllowVolumeExpansion {
		expand = "true"
	}
	return []any{name, sc.Provisioner, reclaim, mode, expand, age(now, sc.CreationTimestamp)}
}

func persistentVolumeCells(pv *corev1.PersistentVolume, now time.Time) []any {
	claim := ""
	if ref := pv.Spec.ClaimRef; ref != nil {
		claim = ref.Namespace + "/" + ref.Name
	}
	phase := string(pv.Status.Phase)
	if pv.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	size := pv.Spec.Capacity[corev1.ResourceStorage]
	class := pv.Spec.StorageClassName
	if c, ok := pv.Annotations[betaStorageClassAnnotation]; ok {
		class = c
	}
	return []any{
		pv.Name,
		size.String(),
		accessModes(pv.Spec.AccessModes),
		string(pv.Spec.PersistentVolumeReclaimPolicy),
		phase,
		claim,
		class,
		orUnset(pv.Spec.VolumeAttributesClassName),
		pv.Status.Reason,
		age(now, pv.CreationTimestamp),
		volumeMode(pv.Spec.VolumeMode),
	}
}

func persistentVolumeClaimCells(pvc *corev1.PersistentVolumeClaim, now time.Time) []any {
	phase := string(pvc.Status.Phase)
	if pvc.DeletionTimestamp != nil {
		phase = "Terminating"
	}
	// Capacity and access modes are those of the bound volume.
	capacity, modes := "", ""
	if pvc.Spec.VolumeName != "" {
		size := pvc.Status.Capacity[corev1.ResourceStorage]
		capacity = size.String()
		modes = accessModes(pvc.Status.AccessModes)
	}
	class := ""
	if c, ok := pvc.Annotations[betaStorageClassAnnotation]; ok {
		class = c
	} else if pvc.Spec.StorageClassName != nil {
		class = *pvc.Spec.StorageClassName
	}
	return []any{
		pvc.Name,
		phase,
		pvc.Spec.VolumeName,
		capacity,
		modes,
		class,
		orUnset(pvc.Spec.VolumeAttributesClassName),
		age(now, pvc.CreationTimestamp),
		volumeMode(pvc.Spec.VolumeMode),
	}
}

// accessModes abbreviates access modes (RWO, ROX, RWX, RWOP), in that order.
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range modes {
		has[m] = true
	}
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has[m.mode] {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func orUnset(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}
