package printers

import (
	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func storage(q string) corev1.ResourceList {
	return corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(q)}
}

func storageCases() []goldenCase {
	filesystem := ptr(corev1.PersistentVolumeFilesystem)
	block := ptr(corev1.PersistentVolumeBlock)

	bound := &corev1.PersistentVolumeClaim{
		ObjectMeta: objMeta("data-db-0", 7*day),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:        corev1.VolumeResourceRequirements{Requests: storage("10Gi")},
			StorageClassName: ptr("local-path"),
			VolumeName:       "pvc-3f1e9a52-8c1d-4a57-9e2b-6c0d7f4b1a23",
			VolumeMode:       filesystem,
		},
		Status: corev1.PersistentVolumeClaimStatus{
			Phase:       corev1.ClaimBound,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce, corev1.ReadWriteOncePod},
			Capacity:    storage("10Gi"),
		},
	}
	pending := &corev1.PersistentVolumeClaim{
		ObjectMeta: objMeta("scratch", 3*minute),
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:               []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany},
			Resources:                 corev1.VolumeResourceRequirements{Requests: storage("1Ti")},
			StorageClassName:          ptr("nfs"),
			VolumeAttributesClassName: ptr("gold"),
		},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
	}
	terminating := &corev1.PersistentVolumeClaim{
		ObjectMeta: objMeta("old-data", 90*day),
		Spec: corev1.PersistentVolumeClaimSpec{
			VolumeName: "pv-legacy-01",
			VolumeMode: block,
		},
		Status: corev1.PersistentVolumeClaimStatus{
			Phase:       corev1.ClaimBound,
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany},
			Capacity:    storage("500Mi"),
		},
	}
	terminating.DeletionTimestamp = ptr(ago(minute))
	terminating.Annotations = map[string]string{betaStorageClassAnnotation: "legacy"}

	pvs := []runtime.Object{
		&corev1.PersistentVolume{
			ObjectMeta: clusterMeta("pvc-3f1e9a52-8c1d-4a57-9e2b-6c0d7f4b1a23", 7*day),
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      storage("10Gi"),
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
				ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "data-db-0"},
				StorageClassName:              "local-path",
				VolumeMode:                    filesystem,
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound},
		},
		&corev1.PersistentVolume{
			ObjectMeta: clusterMeta("pv-nfs-01", 30*day),
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      storage("2Ti"),
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadOnlyMany, corev1.ReadWriteMany},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				StorageClassName:              "nfs",
				VolumeAttributesClassName:     ptr("gold"),
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeAvailable},
		},
		&corev1.PersistentVolume{
			ObjectMeta: metav1.ObjectMeta{
				Name: "pv-legacy-01", CreationTimestamp: ago(400 * day),
				Annotations: map[string]string{betaStorageClassAnnotation: "legacy"},
			},
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      storage("500Mi"),
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadOnlyMany},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				ClaimRef:                      &corev1.ObjectReference{Namespace: "default", Name: "old-data"},
				StorageClassName:              "ignored-for-annotation",
				VolumeMode:                    block,
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeReleased},
		},
		&corev1.PersistentVolume{
			ObjectMeta: clusterMeta("pv-broken", 2*hour),
			Spec: corev1.PersistentVolumeSpec{
				Capacity:                      storage("1Gi"),
				AccessModes:                   []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod},
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimDelete,
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeFailed, Reason: "ProvisioningFailed"},
		},
	}
	deleting := pvs[1].(*corev1.PersistentVolume).DeepCopy()
	deleting.Name = "pv-deleting"
	deleting.DeletionTimestamp = ptr(ago(30 * second))
	pvs = append(pvs, deleting)

	localPath := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{
			Name: "local-path", CreationTimestamp: ago(30 * day),
			Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"},
		},
		Provisioner:       "rancher.io/local-path",
		ReclaimPolicy:     ptr(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr(storagev1.VolumeBindingWaitForFirstConsumer),
	}
	nfs := &storagev1.StorageClass{
		ObjectMeta:           clusterMeta("nfs", 2*hour),
		Provisioner:          "nfs.csi.k8s.io",
		ReclaimPolicy:        ptr(corev1.PersistentVolumeReclaimRetain),
		AllowVolumeExpansion: ptr(true),
	}

	return []goldenCase{
		{kind: "PersistentVolumeClaim", resource: "persistentvolumeclaims", objects: []runtime.Object{bound, pending, terminating}},
		{kind: "PersistentVolume", resource: "persistentvolumes", objects: pvs},
		{group: "storage.k8s.io", kind: "StorageClass", resource: "storageclasses", objects: []runtime.Object{localPath, nfs}},
	}
}
