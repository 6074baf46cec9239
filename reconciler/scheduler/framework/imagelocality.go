package framework

import (
	"context"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ImageLocalityName is the ImageLocality plugin's name.
const ImageLocalityName = "ImageLocality"

// ImageLocality's thresholds: below 23MB of the pod's images present a
// node scores 0; at 1000MB per container it scores 100.
const (
	mb                    int64 = 1024 * 1024
	minImageThreshold     int64 = 23 * mb
	maxContainerThreshold int64 = 1000 * mb
)

const imageLocalityPreScoreKey = "PreScore" + ImageLocalityName

// ImageLocality favours nodes that already have the pod's images, each
// image's size scaled by the share of nodes that have it so that an image
// present everywhere does not draw pods to one node.
type ImageLocality struct{}

// Name implements Plugin.
func (*ImageLocality) Name() string { return ImageLocalityName }

type imageLocalityState struct {
	snap       *Snapshot
	images     []string // the pod's images that some node has, normalised
	containers int      // the pod's containers and init containers
}

// PreScore records the pod's images and the snapshot that counts the
// nodes having each.
func (*ImageLocality) PreScore(_ context.Context, state *CycleState, pod *corev1.Pod, _ []*NodeInfo, snap *Snapshot) *Status {
	s := &imageLocalityState{snap: snap}
	for i := range pod.Spec.InitContainers {
		s.images = append(s.images, normalizedImageName(pod.Spec.InitContainers[i].Image))
	}
	for i := range pod.Spec.Containers {
		s.images = append(s.images, normalizedImageName(pod.Spec.Containers[i].Image))
	}
	s.containers = len(s.images)
	// Images no node has cannot score: drop them, so that Score need not
	// look into every node's images (a cache miss per node) for nothing.
	s.images = slices.DeleteFunc(s.images, func(img string) bool { return snap.ImageNumNodes(img) == 0 })
	state.Write(imageLocalityPreScoreKey, s)
	return nil
}

// Score implements ScorePlugin.
func (*ImageLocality) Score(_ context.Context, state *CycleState, _ *corev1.Pod, node *NodeInfo) (int64, *Status) {
	v, ok := state.Read(imageLocalityPreScoreKey)
	if !ok {
		return 0, NewStatus(Error, "ImageLocality: PreScore did not run")
	}
	s := v.(*imageLocalityState)
	if len(s.images) == 0 {
		return imageScore(0, s.containers), nil
	}
	total := s.snap.NumNodes()
	var sum int64
	for _, img := range s.images {
		if st, ok := node.ImageStates[img]; ok && total > 0 {
			spread := float64(s.snap.ImageNumNodes(img)) / float64(total)
			sum += int64(float64(st.Size) * spread)
		}
	}
	return imageScore(sum, s.containers), nil
}

// imageScore maps the summed scaled sizes to [0, 100] between the
// thresholds.
func imageScore(sum int64, numContainers int) int64 {
	maxThreshold := maxContainerThreshold * int64(numContainers)
	if sum < minImageThreshold {
		sum = minImageThreshold
	} else if sum > maxThreshold {
		sum = maxThreshold
	}
	if maxThreshold <= minImageThreshold {
		return 0
	}
	return MaxNodeScore * (sum - minImageThreshold) / (maxThreshold - minImageThreshold)
}

// normalizedImageName adds the ":latest" tag to an image without a tag
// or digest, as kube-scheduler does before looking it up.
func normalizedImageName(name string) string {
	if strings.LastIndex(name, ":") <= strings.LastIndex(name, "/") {
		name += ":latest"
	}
	return name
}

// NormalizeScore is a no-op: Score is already in [0, 100].
func (*ImageLocality) NormalizeScore(context.Context, *CycleState, *corev1.Pod, []NodeScore) *Status {
	return nil
}
