package kubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/cairn-dev/cairn/node/runtime"
)

// claims fetches PersistentVolumeClaims and PersistentVolumes.
type claims interface {
	PersistentVolumeClaim(ctx context.Context, namespace, name string) (*corev1.PersistentVolumeClaim, error)
	PersistentVolume(ctx context.Context, name string) (*corev1.PersistentVolume, error)
}

// volumeSource is what volumes need from the API.
type volumeSource interface {
	objects
	claims
}

// podDirs lays out a pod's files under the agent's data dir:
//
//	pods/<uid>/volumes/<kind>/<name>      emptyDir, configMap, secret, downwardAPI
//	pods/<uid>/logs/<container>/<n>.log   each container attempt's output
//	volumes/pv/<pv name>                  node-local backing of a PersistentVolume
type podDirs struct{ root string }

func (d podDirs) pod(uid string) string { return filepath.Join(d.root, "pods", uid) }

func (d podDirs) volume(uid, kind, name string) string {
	return filepath.Join(d.pod(uid), "volumes", kind, name)
}

func (d podDirs) log(uid, container string, attempt int) string {
	return filepath.Join(d.pod(uid), "logs", container, fmt.Sprintf("%d.log", attempt))
}

func (d podDirs) pv(name string) string { return filepath.Join(d.root, "volumes", "pv", name) }

// setUpVolumes makes every volume of the pod ready on the host and returns
// each one's host path. ConfigMap and Secret volumes are rewritten when
// their content changed, so a running pod sees updates. An error names the
// volume.
func setUpVolumes(ctx context.Context, pod *corev1.Pod, dirs podDirs, src volumeSource, in envInput) (map[string]string, error) {
	uid := string(pod.UID)
	paths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		p, err := setUpVolume(ctx, pod, &v, uid, dirs, src, in)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		paths[v.Name] = p
	}
	return paths, nil
}

func setUpVolume(ctx context.Context, pod *corev1.Pod, v *corev1.Volume, uid string, dirs podDirs, src volumeSource, in envInput) (string, error) {
	switch {
	case v.EmptyDir != nil:
		p := dirs.volume(uid, "empty-dir", v.Name)
		if err := os.MkdirAll(p, 0o777); err != nil {
			return "", err
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			return p, mountTmpfs(p, v.EmptyDir.SizeLimit)
		}
		return p, nil
	case v.HostPath != nil:
		return v.HostPath.Path, hostPathCheck(v.HostPath)
	case v.ConfigMap != nil:
		files, err := configMapFiles(ctx, pod.Namespace, v.ConfigMap, src)
		if err != nil {
			return "", err
		}
		p := dirs.volume(uid, "configmap", v.Name)
		return p, writeFiles(p, files)
	case v.Secret != nil:
		files, err := secretFiles(ctx, pod.Namespace, v.Secret, src)
		if err != nil {
			return "", err
		}
		p := dirs.volume(uid, "secret", v.Name)
		return p, writeFiles(p, files)
	case v.DownwardAPI != nil:
		files, err := downwardFiles(pod, v.DownwardAPI, in)
		if err != nil {
			return "", err
		}
		p := dirs.volume(uid, "downward-api", v.Name)
		return p, writeFiles(p, files)
	case v.PersistentVolumeClaim != nil:
		return claimPath(ctx, pod.Namespace, v.PersistentVolumeClaim.ClaimName, dirs, src)
	}
	return "", configErrorf("unsupported volume type (cairn's agent supports emptyDir, hostPath, configMap, secret, downwardAPI and persistentVolumeClaim)")
}

// hostPathCheck applies the hostPath type's rules.
func hostPathCheck(h *corev1.HostPathVolumeSource) error {
	t := corev1.HostPathUnset
	if h.Type != nil {
		t = *h.Type
	}
	fi, err := os.Stat(h.Path)
	switch t {
	case corev1.HostPathDirectoryOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			return os.MkdirAll(h.Path, 0o755)
		}
		if err == nil && !fi.IsDir() {
			return configErrorf("hostPath %s is not a directory", h.Path)
		}
	case corev1.HostPathFileOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(h.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(h.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if err == nil && fi.IsDir() {
			return configErrorf("hostPath %s is a directory, not a file", h.Path)
		}
	case corev1.HostPathDirectory:
		if err != nil || !fi.IsDir() {
			return configErrorf("hostPath type check failed: %s is not a directory", h.Path)
		}
	case corev1.HostPathFile:
		if err != nil || !fi.Mode().IsRegular() {
			return configErrorf("hostPath type check failed: %s is not a file", h.Path)
		}
	case corev1.HostPathSocket:
		if err != nil || fi.Mode()&fs.ModeSocket == 0 {
			return configErrorf("hostPath type check failed: %s is not a socket file", h.Path)
		}
	}
	return nil
}

// volumeFile is one file of a projected volume.
type volumeFile struct {
	path string
	data []byte
	mode fs.FileMode
}

func configMapFiles(ctx context.Context, ns string, v *corev1.ConfigMapVolumeSource, src objects) ([]volumeFile, error) {
	cm, err := src.ConfigMap(ctx, ns, v.Name)
	if err != nil {
		if apierrors.IsNotFound(err) && optional(v.Optional) {
			return nil, nil
		}
		return nil, lookupError("configmap", v.Name, err)
	}
	data := map[string][]byte{}
	for k, s := range cm.Data {
		data[k] = []byte(s)
	}
	for k, b := range cm.BinaryData {
		data[k] = b
	}
	return projectKeys("ConfigMap", ns+"/"+v.Name, data, v.Items, v.DefaultMode, optional(v.Optional))
}

func secretFiles(ctx context.Context, ns string, v *corev1.SecretVolumeSource, src objects) ([]volumeFile, error) {
	sec, err := src.Secret(ctx, ns, v.SecretName)
	if err != nil {
		if apierrors.IsNotFound(err) && optional(v.Optional) {
			return nil, nil
		}
		return nil, lookupError("secret", v.SecretName, err)
	}
	return projectKeys("Secret", ns+"/"+v.SecretName, sec.Data, v.Items, v.DefaultMode, optional(v.Optional))
}

// projectKeys turns a ConfigMap's or Secret's data into files: every key,
// or only items (each to its path and mode), with defaultMode 0644.
func projectKeys(kind, name string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, opt bool) ([]volumeFile, error) {
	mode := fs.FileMode(0o644)
	if defaultMode != nil {
		mode = fs.FileMode(*defaultMode)
	}
	var files []volumeFile
	if len(items) == 0 {
		for k, b := range data {
			files = append(files, volumeFile{path: k, data: b, mode: mode})
		}
		return files, nil
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			if opt {
				continue
			}
			return nil, configErrorf("configured to use key %s of %s %s, which does not exist", it.Key, kind, name)
		}
		m := mode
		if it.Mode != nil {
			m = fs.FileMode(*it.Mode)
		}
		files = append(files, volumeFile{path: it.Path, data: b, mode: m})
	}
	return files, nil
}

func downwardFiles(pod *corev1.Pod, v *corev1.DownwardAPIVolumeSource, in envInput) ([]volumeFile, error) {
	mode := fs.FileMode(0o644)
	if v.DefaultMode != nil {
		mode = fs.FileMode(*v.DefaultMode)
	}
	var files []volumeFile
	for _, it := range v.Items {
		var val string
		switch {
		case it.FieldRef != nil && (it.FieldRef.FieldPath == "metadata.labels" || it.FieldRef.FieldPath == "metadata.annotations"):
			m := pod.Labels
			if it.FieldRef.FieldPath == "metadata.annotations" {
				m = pod.Annotations
			}
			val = formatMap(m)
		case it.FieldRef != nil:
			var err error
			if val, err = fieldPath(pod, it.FieldRef.FieldPath, in); err != nil {
				return nil, err
			}
		case it.ResourceFieldRef != nil:
			c := containerNamed(pod, it.ResourceFieldRef.ContainerName)
			if c == nil {
				return nil, configErrorf("downwardAPI item %s: no container %q", it.Path, it.ResourceFieldRef.ContainerName)
			}
			var err error
			if val, err = resourceField(c, it.ResourceFieldRef, in.allocatable); err != nil {
				return nil, err
			}
		}
		m := mode
		if it.Mode != nil {
			m = fs.FileMode(*it.Mode)
		}
		files = append(files, volumeFile{path: it.Path, data: []byte(val), mode: m})
	}
	return files, nil
}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	return b.String()
}

func containerNamed(pod *corev1.Pod, name string) *corev1.Container {
	for _, c := range allContainers(pod) {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// writeFiles makes dir hold exactly files: changed files are rewritten
// (write to a temporary file, then rename, so a reader never sees half a
// file), files no longer projected are removed.
func writeFiles(dir string, files []volumeFile) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	want := map[string]bool{}
	for _, f := range files {
		clean := path.Clean(f.path)
		if clean == "." || strings.HasPrefix(clean, "..") || path.IsAbs(clean) {
			return configErrorf("invalid path %q in projected volume", f.path)
		}
		want[clean] = true
		target := filepath.Join(dir, filepath.FromSlash(clean))
		if old, err := os.ReadFile(target); err == nil && bytes.Equal(old, f.data) {
			if fi, err := os.Stat(target); err == nil && fi.Mode().Perm() == f.mode.Perm() {
				continue
			}
		}
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			return err
		}
		tmp := target + ".cairn-tmp"
		if err := os.WriteFile(tmp, f.data, f.mode.Perm()); err != nil {
			return err
		}
		if err := os.Chmod(tmp, f.mode.Perm()); err != nil {
			return err
		}
		if err := os.Rename(tmp, target); err != nil {
			return err
		}
	}
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if !want[filepath.ToSlash(rel)] {
			return os.Remove(p)
		}
		return nil
	})
}

// claimPath resolves a PVC to the host directory backing its volume: a
// hostPath or local PersistentVolume's own path, or a node-local directory
// named for the PersistentVolume.
func claimPath(ctx context.Context, ns, claim string, dirs podDirs, src claims) (string, error) {
	pvc, err := src.PersistentVolumeClaim(ctx, ns, claim)
	if err != nil {
		return "", lookupError("persistentvolumeclaim", claim, err)
	}
	if pvc.Spec.VolumeName == "" || pvc.Status.Phase != corev1.ClaimBound {
		return "", configErrorf("persistentvolumeclaim %q is not bound", claim)
	}
	pv, err := src.PersistentVolume(ctx, pvc.Spec.VolumeName)
	if err != nil {
		return "", lookupError("persistentvolume", pvc.Spec.VolumeName, err)
	}
	switch {
	case pv.Spec.HostPath != nil:
		return pv.Spec.HostPath.Path, hostPathCheck(pv.Spec.HostPath)
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	}
	p := dirs.pv(pv.Name)
	return p, os.MkdirAll(p, 0o777)
}

// containerMounts turns a container's volumeMounts into bind mounts,
// creating subPath directories.
func containerMounts(c *corev1.Container, paths map[string]string) ([]runtime.Mount, error) {
	var out []runtime.Mount
	for _, m := range c.VolumeMounts {
		host, ok := paths[m.Name]
		if !ok {
			return nil, configErrorf("volumeMount %s: no volume named %q", m.MountPath, m.Name)
		}
		if m.SubPath != "" {
			sub := path.Clean(m.SubPath)
			if strings.HasPrefix(sub, "..") || path.IsAbs(sub) {
				return nil, configErrorf("volumeMount %s: subPath %q leaves the volume", m.MountPath, m.SubPath)
			}
			host = filepath.Join(host, filepath.FromSlash(sub))
			if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(host, 0o755); err != nil {
					return nil, err
				}
			}
		}
		out = append(out, runtime.Mount{HostPath: host, ContainerPath: m.MountPath, ReadOnly: m.ReadOnly})
	}
	return out, nil
}
