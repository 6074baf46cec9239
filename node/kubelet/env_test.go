package kubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeObjects is an in-memory objects and claims source.
type fakeObjects struct {
	cms  map[string]*corev1.ConfigMap
	secs map[string]*corev1.Secret
	pvcs map[string]*corev1.PersistentVolumeClaim
	pvs  map[string]*corev1.PersistentVolume
}

func notFound(res, name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: res}, name)
}

func (f fakeObjects) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	if o, ok := f.cms[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("configmaps", name)
}

func (f fakeObjects) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	if o, ok := f.secs[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("secrets", name)
}

func (f fakeObjects) PersistentVolumeClaim(_ context.Context, ns, name string) (*corev1.PersistentVolumeClaim, error) {
	if o, ok := f.pvcs[ns+"/"+name]; ok {
		return o, nil
	}
	return nil, notFound("persistentvolumeclaims", name)
}

func (f fakeObjects) PersistentVolume(_ context.Context, name string) (*corev1.PersistentVolume, error) {
	if o, ok := f.pvs[name]; ok {
		return o, nil
	}
	return nil, notFound("persistentvolumes", name)
}

func objectsFixture() fakeObjects {
	return fakeObjects{
		cms: map[string]*corev1.ConfigMap{"ns/cfg": {ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"},
			Data: map[string]string{"mode": "fast", "level": "3", "bad key": "x"}}},
		secs: map[string]*corev1.Secret{"ns/sec": {ObjectMeta: metav1.ObjectMeta{Name: "sec", Namespace: "ns"},
			Data: map[string][]byte{"password": []byte("hunter2")}}},
	}
}

func TestContainerEnv(t *testing.T) {
	yes := true
	pod := testPod("Always", nil, "a")
	pod.Labels = map[string]string{"app": "web"}
	pod.Spec.ServiceAccountName = "sa"
	c := &pod.Spec.Containers[0]
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	c.EnvFrom = []corev1.EnvFromSource{{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
	c.Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "v"},
		{Name: "REF", Value: "$(PLAIN)-$(CFG_mode)"},
		{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "APP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
		{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
		{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "CPU", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
		{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
		{Name: "PASS", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
		{Name: "OPT", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "missing"}, Key: "k", Optional: &yes}}},
	}
	in := envInput{podIP: "10.0.0.5", hostIP: "192.168.1.1",
		allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")},
		services:    serviceEnv([]*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "my-db"}, Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9", Ports: []corev1.ServicePort{{Name: "sql", Port: 5432, Protocol: "TCP"}}}}})}
	env, err := containerEnv(context.Background(), pod, c, in, objectsFixture())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"PLAIN=v", "REF=v-fast", "POD=p", "APP=web", "IP=10.0.0.5", "NODE=n1", "MEM=64", "CPU=2",
		"MODE=fast", "PASS=hunter2", "CFG_level=3", "MY_DB_SERVICE_HOST=10.96.0.9", "MY_DB_SERVICE_PORT=5432",
		"MY_DB_SERVICE_PORT_SQL=5432", "MY_DB_PORT=tcp://10.96.0.9:5432", "MY_DB_PORT_5432_TCP_ADDR=10.96.0.9"} {
		if !slices.Contains(env, want) {
			t.Errorf("missing %s in %v", want, env)
		}
	}
	for _, e := range env {
		if strings.HasPrefix(e, "OPT=") || strings.HasPrefix(e, "CFG_bad key") {
			t.Errorf("unexpected %s", e)
		}
	}

	// A missing key is a config error naming it.
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope"}}}}
	_, err = containerEnv(context.Background(), pod, c, in, objectsFixture())
	var ce *configError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "couldn't find key nope in ConfigMap ns/cfg") {
		t.Errorf("missing key: %v", err)
	}
	c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Key: "k"}}}}
	if _, err = containerEnv(context.Background(), pod, c, in, objectsFixture()); !errors.As(err, &ce) || !strings.Contains(err.Error(), `secret "gone" not found`) {
		t.Errorf("missing secret: %v", err)
	}
}

func TestSetUpVolumes(t *testing.T) {
	dir := t.TempDir()
	mode := int32(0o600)
	dirType := corev1.HostPathDirectoryOrCreate
	pod := testPod("Always", nil, "a")
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: filepath.Join(dir, "host"), Type: &dirType}}},
		{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items: []corev1.KeyToPath{{Key: "mode", Path: "conf/mode.txt"}}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "sec", DefaultMode: &mode}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}},
	}
	pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{
		{Name: "cfg", MountPath: "/etc/cfg", ReadOnly: true},
		{Name: "scratch", MountPath: "/data", SubPath: "sub/dir"},
	}
	objs := objectsFixture()
	paths, err := setUpVolumes(context.Background(), pod, podDirs{dir}, objs, envInput{})
	if err != nil {
		t.Fatal(err)
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return string(b) }
	if got := read(filepath.Join(paths["cfg"], "conf/mode.txt")); got != "fast" {
		t.Errorf("configmap item: %q", got)
	}
	if fi, err := os.Stat(filepath.Join(paths["sec"], "password")); err != nil || fi.Mode().Perm() != 0o600 || read(filepath.Join(paths["sec"], "password")) != "hunter2" {
		t.Errorf("secret file: %v %v", fi, err)
	}
	if got := read(filepath.Join(paths["info"], "name")); got != "p" {
		t.Errorf("downward API: %q", got)
	}
	if fi, err := os.Stat(filepath.Join(dir, "host")); err != nil || !fi.IsDir() {
		t.Errorf("DirectoryOrCreate: %v", err)
	}
	mounts, err := containerMounts(&pod.Spec.Containers[0], paths)
	if err != nil {
		t.Fatal(err)
	}
	if len(mounts) != 2 || !mounts[0].ReadOnly || mounts[1].HostPath != filepath.Join(paths["scratch"], "sub/dir") {
		t.Errorf("mounts %+v", mounts)
	}
	if _, err := os.Stat(mounts[1].HostPath); err != nil {
		t.Errorf("subPath not created: %v", err)
	}

	// An update of the ConfigMap is projected; a key gone is removed.
	objs.cms["ns/cfg"].Data["mode"] = "slow"
	pod.Spec.Volumes[2].ConfigMap.Items = nil
	if paths, err = setUpVolumes(context.Background(), pod, podDirs{dir}, objs, envInput{}); err != nil {
		t.Fatal(err)
	}
	if got := read(filepath.Join(paths["cfg"], "mode")); got != "slow" {
		t.Errorf("updated configmap: %q", got)
	}
	if _, err := os.Stat(filepath.Join(paths["cfg"], "conf/mode.txt")); err == nil {
		t.Error("stale item kept")
	}

	// Errors name the volume.
	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "claim", VolumeSource: corev1.VolumeSource{
		PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}})
	_, err = setUpVolumes(context.Background(), pod, podDirs{dir}, objs, envInput{})
	if err == nil || !strings.Contains(err.Error(), `volume "claim"`) || !strings.Contains(err.Error(), `persistentvolumeclaim "data" not found`) {
		t.Errorf("missing claim: %v", err)
	}
	objs.pvcs = map[string]*corev1.PersistentVolumeClaim{"ns/data": {Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv1"},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}}}
	objs.pvs = map[string]*corev1.PersistentVolume{"pv1": {ObjectMeta: metav1.ObjectMeta{Name: "pv1"}}}
	if paths, err = setUpVolumes(context.Background(), pod, podDirs{dir}, objs, envInput{}); err != nil {
		t.Fatal(err)
	}
	if paths["claim"] != filepath.Join(dir, "volumes/pv/pv1") {
		t.Errorf("claim path %s", paths["claim"])
	}
}

// TestMemoryEmptyDir: a memory-medium emptyDir is a tmpfs of its size
// limit, unmounted with the pod's directory.
func TestMemoryEmptyDir(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("mounting a tmpfs needs root, which CI runs as")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	size := resource.MustParse("8Mi")
	pod := testPod("Always", nil, "a")
	pod.Spec.Volumes = []corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{
		EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}}}
	dirs := podDirs{dir}
	paths, err := setUpVolumes(context.Background(), pod, dirs, objectsFixture(), envInput{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = removePodDir(dirs.pod(string(pod.UID))) })
	var fs unix.Statfs_t
	if err := unix.Statfs(paths["mem"], &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.TMPFS_MAGIC || int64(fs.Blocks)*fs.Bsize != 8<<20 {
		t.Errorf("filesystem type %#x, %d bytes; want tmpfs of 8Mi", fs.Type, int64(fs.Blocks)*fs.Bsize)
	}
	// Setting up again (every sync does) leaves the mount as it is.
	if _, err := setUpVolumes(context.Background(), pod, dirs, objectsFixture(), envInput{}); err != nil {
		t.Fatal(err)
	}
	if err := removePodDir(dirs.pod(string(pod.UID))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(paths["mem"]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volume left after removal: %v", err)
	}
}
