package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParentAndOrdinal(t *testing.T) {
	for _, tc := range []struct {
		name, parent string
		ordinal      int
	}{
		{"web-0", "web", 0},
		{"web-12", "web", 12},
		{"my-db-3", "my-db", 3},
		{"web", "", -1},
		{"web-x", "", -1},
		{"web-99999999999", "web", -1},
	} {
		p, o := parentAndOrdinal(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: tc.name}})
		if p != tc.parent || o != tc.ordinal {
			t.Errorf("%s: got (%q, %d), want (%q, %d)", tc.name, p, o, tc.parent, tc.ordinal)
		}
	}
}

func TestNewPodIdentity(t *testing.T) {
	set := newSet(3)
	set.Spec.Template.Spec.Volumes = []corev1.Volume{
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	p := newPod(set, 2)
	if p.Name != "web-2" || p.Namespace != "default" {
		t.Errorf("name %s/%s", p.Namespace, p.Name)
	}
	for k, v := range map[string]string{"app": "web", appsv1.StatefulSetPodNameLabel: "web-2", appsv1.PodIndexLabel: "2"} {
		if p.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, p.Labels[k], v)
		}
	}
	if p.Spec.Hostname != "web-2" || p.Spec.Subdomain != "web-svc" {
		t.Errorf("hostname %q subdomain %q", p.Spec.Hostname, p.Spec.Subdomain)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil || ref.UID != set.UID || ref.Kind != "StatefulSet" || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("controller ref %+v", ref)
	}
	// The claim replaces the template's volume of the same name; others stay.
	if len(p.Spec.Volumes) != 2 || p.Spec.Volumes[0].Name != "data" || p.Spec.Volumes[0].PersistentVolumeClaim == nil ||
		p.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "data-web-2" || p.Spec.Volumes[1].Name != "config" {
		t.Errorf("volumes %+v", p.Spec.Volumes)
	}
	if !identityMatches(set, p) || !storageMatches(set, p) {
		t.Error("a new pod does not match its own identity or storage")
	}
	broken := p.DeepCopy()
	delete(broken.Labels, appsv1.StatefulSetPodNameLabel)
	broken.Spec.Volumes = broken.Spec.Volumes[1:]
	if identityMatches(set, broken) || storageMatches(set, broken) {
		t.Error("a pod without its label and claim volume matches")
	}
	if set.Spec.Template.Labels[appsv1.StatefulSetPodNameLabel] != "" {
		t.Error("newPod changed the set's template")
	}
}

func TestClaims(t *testing.T) {
	set := newSet(2)
	set.Spec.VolumeClaimTemplates = append(set.Spec.VolumeClaimTemplates, corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: "logs", Labels: map[string]string{"kind": "logs"}},
	})
	got := claimsFor(set, newPod(set, 1))
	if len(got) != 2 || got[0].Name != "data-web-1" || got[1].Name != "logs-web-1" {
		t.Fatalf("claims %v", got)
	}
	if got[0].Namespace != "default" || got[0].Labels["app"] != "web" || got[1].Labels["app"] != "web" || got[1].Labels["kind"] != "logs" {
		t.Errorf("claim metadata %+v / %+v", got[0].ObjectMeta, got[1].ObjectMeta)
	}
	if set.Spec.VolumeClaimTemplates[1].Labels["app"] != "" {
		t.Error("claimsFor changed the template")
	}
}

func TestOrdinalRange(t *testing.T) {
	set := newSet(3)
	set.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5}
	for _, tc := range []struct {
		ordinal int
		in      bool
	}{{4, false}, {5, true}, {7, true}, {8, false}, {0, false}} {
		if got := inOrdinalRange(set, newPod(set, tc.ordinal)); got != tc.in {
			t.Errorf("ordinal %d in range: %v, want %v", tc.ordinal, got, tc.in)
		}
	}
}
