// Package perfenv holds what the benchmark commands (test/schedperf,
// test/controllerperf) share: clients as the components make them, and the
// process's CPU time.
package perfenv

import (
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
)

// Clientset is an identity's client speaking protobuf with no client-side
// rate limit, as cairn's components (and kube-scheduler's scheduler_perf)
// do.
func Clientset(srv *apiservertest.Server, identity string) (*kubernetes.Clientset, error) {
	cfg, err := srv.Config(identity)
	if err != nil {
		return nil, err
	}
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	return kubernetes.NewForConfig(cfg)
}

// ProcessCPU is the CPU time (user and system) this process has used.
func ProcessCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
