package sim

import (
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// NewClient is a clientset fit for thousands of simulated nodes: protobuf
// on the wire and no client-side rate limit unless cfg sets one (QPS > 0).
func NewClient(cfg *rest.Config) (*kubernetes.Clientset, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if cfg.QPS <= 0 {
		cfg.QPS, cfg.Burst = -1, 0
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "cairn-sim"
	}
	return kubernetes.NewForConfig(cfg)
}
