package framework

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestImageLocalityScore(t *testing.T) {
	snap := NewSnapshot(nodes(
		newNode("n1").image(500*mb, "app:1").image(3000*mb, "big:2"),
		newNode("n2").image(500*mb, "app:1"),
		newNode("n3").image(400*mb, "nginx:latest"),
		newNode("n4").image(500*mb, "docker.io/library/app:1"),
	), nil)
	p := newPod("p").obj()
	p.Spec.Containers = []corev1.Container{{Name: "a", Image: "app:1"}, {Name: "b", Image: "big:2"}}
	// Each image's size is scaled by the share of the 4 nodes having it:
	//   n1: 500MB*2/4 + 3000MB*1/4 = 1000MB; of 2 containers' 2000MB:
	//       100*(1000-23)/(2000-23) = 49
	//   n2: 250MB -> 100*(250-23)/1977 = 11
	//   n3, n4: none of the names match -> 0
	got := scoreNodes(t, &ImageLocality{}, p, snap)
	if want := map[string]int64{"n1": 49, "n2": 11, "n3": 0, "n4": 0}; !equalMaps(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// An image without a tag is looked up as :latest: n3 has 400MB on 1
	// of 4 nodes, 100MB: 100*(100-23)/(1000-23) = 7.
	p.Spec.Containers = []corev1.Container{{Name: "a", Image: "nginx"}}
	got = scoreNodes(t, &ImageLocality{}, p, snap)
	if want := map[string]int64{"n1": 0, "n2": 0, "n3": 7, "n4": 0}; !equalMaps(got, want) {
		t.Errorf("untagged image: got %v, want %v", got, want)
	}
}
