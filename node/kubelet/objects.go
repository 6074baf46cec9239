package kubelet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// apiObjects reads the objects pods refer to straight from the API server,
// so a container always starts with the current ConfigMap or Secret.
type apiObjects struct{ client kubernetes.Interface }

func (o apiObjects) ConfigMap(ctx context.Context, ns, name string) (*corev1.ConfigMap, error) {
	return o.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o apiObjects) Secret(ctx context.Context, ns, name string) (*corev1.Secret, error) {
	return o.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o apiObjects) PersistentVolumeClaim(ctx context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	return o.client.CoreV1().PersistentVolumeClaims(ns).Get(ctx, name, metav1.GetOptions{})
}

func (o apiObjects) PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error) {
	return o.client.CoreV1().PersistentVolumes().Get(ctx, name, metav1.GetOptions{})
}

// removePodDir removes a pod's directory (volumes, logs, hosts file).
func removePodDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing pod directory: %w", err)
	}
	return nil
}
