package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pv(name string, affinity *corev1.NodeSelector) *corev1.PersistentVolume {
	v := &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if affinity != nil {
		v.Spec.NodeAffinity = &corev1.VolumeNodeAffinity{Required: affinity}
	}
	return v
}

func pvc(name, class, volume string) *corev1.PersistentVolumeClaim {
	c := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Annotations: map[string]string{}}}
	if class != "" {
		c.Spec.StorageClassName = &class
	}
	c.Spec.VolumeName = volume
	if volume != "" {
		c.Annotations[annBindCompleted] = "yes"
		c.Status.Phase = corev1.ClaimBound
	} else {
		c.Status.Phase = corev1.ClaimPending
	}
	return c
}

func storageClass(name string, mode storagev1.VolumeBindingMode) *storagev1.StorageClass {
	return &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Provisioner: "example.com/csi", VolumeBindingMode: &mode}
}

func volumeSnapshot(extraPods ...podB) *Snapshot {
	zonal := pvc("zonal", "", "pv-zone")
	delete(zonal.Annotations, annBindCompleted) // bound, as the claim's status says
	prebound := pvc("prebound", "wffc", "")
	prebound.Spec.VolumeName = "pv-x"
	lost := pvc("lost", "", "pv-x")
	lost.Status.Phase = corev1.ClaimLost
	deleting := pvc("deleting", "", "pv-local")
	deleting.DeletionTimestamp = &metav1.Time{}
	selected := pvc("selected", "wffc", "")
	selected.Annotations[annSelectedNode] = "n2"
	rwop := pvc("rwop", "", "pv-free")
	rwop.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
	rwop2 := pvc("rwop-unused", "", "pv-free2")
	rwop2.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOncePod}
	claims := []*corev1.PersistentVolumeClaim{
		pvc("local", "", "pv-local"), zonal, pvc("orphan", "", "pv-gone"),
		pvc("immediate", "fast", ""), pvc("wffc", "wffc", ""), pvc("noclass", "", ""), pvc("unknownclass", "nope", ""),
		prebound, lost, deleting, selected, rwop, rwop2,
	}
	volumes := []*corev1.PersistentVolume{
		pv("pv-local", &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{nodeReq(corev1.LabelHostname, corev1.NodeSelectorOpIn, "n1")}}),
		pv("pv-zone", &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{nodeReq(corev1.LabelTopologyZone, corev1.NodeSelectorOpIn, "a")}}),
		pv("pv-free", nil), pv("pv-free2", nil),
	}
	classes := []*storagev1.StorageClass{
		storageClass("fast", storagev1.VolumeBindingImmediate), storageClass("wffc", storagev1.VolumeBindingWaitForFirstConsumer),
	}
	all := append([]podB{newPod("user").on("n1").claim("rwop")}, extraPods...)
	return NewSnapshot(nodes(newNode("n1").zone("a"), newNode("n2").zone("b"), newNode("n3").zone("a")), pods(all...),
		WithVolumes(claims, volumes, classes))
}

func TestVolumeBinding(t *testing.T) {
	const (
		affinity = "UnschedulableAndUnresolvable: node(s) didn't match PersistentVolume's node affinity"
		bind     = "UnschedulableAndUnresolvable: node(s) didn't find available persistent volumes to bind"
		missing  = "UnschedulableAndUnresolvable: node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
	)
	ok := map[string]string{"n1": "", "n2": "", "n3": ""}
	ephemeral := newPod("p").obj()
	ephemeral.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{}}}}
	tests := []struct {
		name string
		pod  *corev1.Pod
		pre  string
		want map[string]string
	}{
		{"no claims: skipped", newPod("p").obj(), "skip", nil},
		{"claim not found", newPod("p").claim("missing").obj(),
			`UnschedulableAndUnresolvable: persistentvolumeclaim "missing" not found`, nil},
		{"local volume only on its node", newPod("p").claim("local").obj(), "",
			map[string]string{"n1": "", "n2": affinity, "n3": affinity}},
		{"zonal volume only in its zone", newPod("p").claim("zonal").obj(), "",
			map[string]string{"n1": "", "n2": affinity, "n3": ""}},
		{"local and zonal together", newPod("p").claim("zonal").claim("local").obj(), "",
			map[string]string{"n1": "", "n2": affinity, "n3": affinity}},
		{"bound to a volume that does not exist", newPod("p").claim("orphan").obj(), "",
			map[string]string{"n1": missing, "n2": missing, "n3": missing}},
		{"unbound with Immediate binding", newPod("p").claim("immediate").obj(),
			"UnschedulableAndUnresolvable: pod has unbound immediate PersistentVolumeClaims", nil},
		{"unbound without a class binds immediately", newPod("p").claim("noclass").obj(),
			"UnschedulableAndUnresolvable: pod has unbound immediate PersistentVolumeClaims", nil},
		{"unbound with a class that does not exist", newPod("p").claim("unknownclass").obj(),
			"UnschedulableAndUnresolvable: pod has unbound immediate PersistentVolumeClaims", nil},
		{"pre-bound but not yet bound", newPod("p").claim("prebound").obj(),
			"UnschedulableAndUnresolvable: pod has unbound immediate PersistentVolumeClaims", nil},
		{"WaitForFirstConsumer is accepted everywhere", newPod("p").claim("wffc").obj(), "", ok},
		{"WaitForFirstConsumer with a node already selected", newPod("p").claim("selected").obj(), "",
			map[string]string{"n1": bind, "n2": "", "n3": bind}},
		{"lost claim", newPod("p").claim("lost").obj(),
			`UnschedulableAndUnresolvable: persistentvolumeclaim "lost" bound to non-existent persistentvolume "pv-x"`, nil},
		{"claim being deleted", newPod("p").claim("deleting").obj(),
			`UnschedulableAndUnresolvable: persistentvolumeclaim "deleting" is being deleted`, nil},
		{"ephemeral volume not created yet", ephemeral,
			`UnschedulableAndUnresolvable: waiting for ephemeral volume controller to create the persistentvolumeclaim "p-scratch"`, nil},
	}
	snap := volumeSnapshot()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pre, got := filterNodes(t, &VolumeBinding{}, tc.pod, snap)
			if pre != tc.pre {
				t.Fatalf("PreFilter: got %q, want %q", pre, tc.pre)
			}
			if tc.want != nil && !equalMaps(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestVolumeRestrictions(t *testing.T) {
	const rwop = "Unschedulable: node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
	disk := func(name string, readOnly bool) podB {
		b := newPod(name).req()
		b.p.Spec.Volumes = append(b.p.Spec.Volumes, corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{
			GCEPersistentDisk: &corev1.GCEPersistentDiskVolumeSource{PDName: "disk1", ReadOnly: readOnly}}})
		return b
	}
	snap := volumeSnapshot(disk("writer", false).on("n2"), disk("reader", true).on("n3"))
	tests := []struct {
		name string
		pod  *corev1.Pod
		pre  string
		want map[string]string
	}{
		{"ReadWriteOncePod claim in use by another pod", newPod("p").claim("rwop").obj(), "",
			map[string]string{"n1": rwop, "n2": rwop, "n3": rwop}},
		{"ReadWriteOncePod claim not in use", newPod("p").claim("rwop-unused").obj(), "skip", nil},
		{"claim not found", newPod("p").claim("missing").obj(),
			`UnschedulableAndUnresolvable: persistentvolumeclaim "missing" not found`, nil},
		{"disk mounted read-write elsewhere", disk("p", false).obj(), "",
			map[string]string{"n1": "", "n2": "Unschedulable: node(s) had no available disk", "n3": "Unschedulable: node(s) had no available disk"}},
		{"read-only mounts share a disk", disk("p", true).obj(), "",
			map[string]string{"n1": "", "n2": "Unschedulable: node(s) had no available disk", "n3": ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pre, got := filterNodes(t, &VolumeRestrictions{}, tc.pod, snap)
			if pre != tc.pre {
				t.Fatalf("PreFilter: got %q, want %q", pre, tc.pre)
			}
			if tc.want != nil && !equalMaps(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}
