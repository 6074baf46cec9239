// Package imagetest builds cairn's test image with no network: the static
// testapp program in one uncompressed layer, written as an OCI image-layout
// archive (Build) or a docker-save archive (BuildDocker), ready for a
// runtime's ImportArchive.
package imagetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"time"
)

// Ref is the reference tests give the image by default.
const Ref = "cairn.local/testapp:1"

// Package paths, for building testapp when this file's source directory is
// not at hand.
const testappPkg = "github.com/cairn-dev/cairn/node/runtime/imagetest/testapp"

// Media types written into the archives.
const (
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// epoch is every file's modification time, so that the layer (and so every
// digest) is the same from one build to the next.
var epoch = time.Unix(0, 0).UTC()

var (
	binOnce sync.Once
	binData []byte
	binErr  error

	archMu   sync.Mutex
	archives = map[string]*archiveOnce{}
)

type archiveOnce struct {
	once sync.Once
	path string
	err  error
}

// Build writes an OCI image-layout archive of the test image named ref into
// dir and returns its path. The testapp binary is compiled once per process
// and each archive is written once per (dir, ref).
func Build(dir, ref string) (string, error) {
	return cached("oci", dir, ref, writeOCI)
}

// BuildDocker writes a docker-save archive (manifest.json, config and layer)
// of the test image named ref into dir and returns its path.
func BuildDocker(dir, ref string) (string, error) {
	return cached("docker", dir, ref, writeDocker)
}

func cached(kind, dir, ref string, write func(path, ref string, img *image) error) (string, error) {
	key := kind + "\x00" + dir + "\x00" + ref
	archMu.Lock()
	a := archives[key]
	if a != nil && a.err == nil {
		if _, err := os.Stat(a.path); err != nil {
			a = nil // removed since: write it again
		}
	}
	if a == nil {
		a = &archiveOnce{}
		archives[key] = a
	}
	archMu.Unlock()

	a.once.Do(func() {
		bin, err := testappBinary()
		if err != nil {
			a.err = err
			return
		}
		img, err := newImage(bin)
		if err != nil {
			a.err = err
			return
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			a.err = fmt.Errorf("imagetest: %w", err)
			return
		}
		name := strings.NewReplacer("/", "_", ":", "_", "@", "_").Replace(ref)
		path := filepath.Join(dir, kind+"-"+name+".tar")
		if err := write(path, ref, img); err != nil {
			a.err = fmt.Errorf("imagetest: write %s: %w", path, err)
			return
		}
		a.path = path
	})
	return a.path, a.err
}

// testappBinary compiles testapp statically, once per process, and keeps
// the binary in memory.
func testappBinary() ([]byte, error) {
	binOnce.Do(func() {
		binData, binErr = buildTestapp()
	})
	return binData, binErr
}

func buildTestapp() ([]byte, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(goruntime.GOROOT(), "bin", "go")
		if _, serr := os.Stat(goBin); serr != nil {
			return nil, fmt.Errorf("imagetest: the go command is needed to build testapp: %w", err)
		}
	}
	tmp, err := os.MkdirTemp("", "cairn-testapp-")
	if err != nil {
		return nil, fmt.Errorf("imagetest: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, "testapp")

	pkg, dir := testappPkg, ""
	if _, file, _, ok := goruntime.Caller(0); ok {
		src := filepath.Join(filepath.Dir(file), "testapp")
		if _, err := os.Stat(filepath.Join(src, "main.go")); err == nil {
			pkg, dir = ".", src
		}
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goruntime.GOOS, "GOARCH="+goruntime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("imagetest: go build testapp: %w: %s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("imagetest: %w", err)
	}
	return b, nil
}

// blob is one piece of content and its digest.
type blob struct {
	data   []byte
	digest string // "sha256:<hex>"
}

func newBlob(b []byte) blob {
	sum := sha256.Sum256(b)
	return blob{data: b, digest: "sha256:" + hex.EncodeToString(sum[:])}
}

func (b blob) hex() string { return strings.TrimPrefix(b.digest, "sha256:") }

// image is the test image's content: its layer and config.
type image struct {
	layer  blob
	config blob
}

func newImage(bin []byte) (*image, error) {
	layer, err := layerTar(bin)
	if err != nil {
		return nil, err
	}
	l := newBlob(layer)
	cfg := map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": goruntime.GOARCH,
		"os":           goruntime.GOOS,
		"config": map[string]any{
			"Entrypoint": []string{"/testapp"},
			"Cmd":        []string{"serve"},
			"Env":        []string{"PATH=/"},
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{
			"type":     "layers",
			"diff_ids": []string{l.digest},
		},
		"history": []map[string]any{{
			"created":    epoch.Format(time.RFC3339),
			"created_by": "cairn imagetest",
		}},
	}
	c, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("imagetest: %w", err)
	}
	return &image{layer: l, config: newBlob(c)}, nil
}

// layerTar is the image's only layer: /testapp and a few empty directories.
func layerTar(bin []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []struct {
		name string
		mode int64
	}{{"dev/", 0o755}, {"etc/", 0o755}, {"proc/", 0o555}, {"sys/", 0o555}, {"tmp/", 0o1777}} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d.name, Mode: d.mode, ModTime: epoch, Format: tar.FormatPAX}); err != nil {
			return nil, fmt.Errorf("imagetest: %w", err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "testapp", Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Format: tar.FormatPAX}); err != nil {
		return nil, fmt.Errorf("imagetest: %w", err)
	}
	if _, err := tw.Write(bin); err != nil {
		return nil, fmt.Errorf("imagetest: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("imagetest: %w", err)
	}
	return buf.Bytes(), nil
}

// archive writes the entries of a tar archive to path.
type archive struct {
	f  *os.File
	tw *tar.Writer
}

func createArchive(path string) (*archive, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &archive{f: f, tw: tar.NewWriter(f)}, nil
}

func (a *archive) dir(name string) error {
	return a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch})
}

func (a *archive) file(name string, data []byte) error {
	if err := a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := a.tw.Write(data)
	return err
}

func (a *archive) close() error {
	return errors.Join(a.tw.Close(), a.f.Close())
}

// write writes the archive's entries with fill, then renames it into place
// so that a reader never sees half an archive.
func write(path string, fill func(a *archive) error) error {
	tmp := path + ".tmp"
	a, err := createArchive(tmp)
	if err != nil {
		return err
	}
	if err := errors.Join(fill(a), a.close()); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

func writeOCI(path, ref string, img *image) error {
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        descriptor(mediaTypeConfig, img.config, nil),
		"layers":        []any{descriptor(mediaTypeLayer, img.layer, nil)},
	})
	if err != nil {
		return err
	}
	m := newBlob(manifest)
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeIndex,
		"manifests": []any{descriptor(mediaTypeManifest, m, map[string]string{
			"io.containerd.image.name":          ref,
			"org.opencontainers.image.ref.name": tagOf(ref),
		})},
	})
	if err != nil {
		return err
	}
	return write(path, func(a *archive) error {
		if err := a.file("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
			return err
		}
		if err := a.file("index.json", index); err != nil {
			return err
		}
		for _, d := range []string{"blobs/", "blobs/sha256/"} {
			if err := a.dir(d); err != nil {
				return err
			}
		}
		for _, b := range []blob{img.layer, img.config, m} {
			if err := a.file("blobs/sha256/"+b.hex(), b.data); err != nil {
				return err
			}
		}
		return nil
	})
}

func writeDocker(path, ref string, img *image) error {
	layerPath := img.layer.hex() + "/layer.tar"
	configPath := img.config.hex() + ".json"
	manifest, err := json.Marshal([]map[string]any{{
		"Config":   configPath,
		"RepoTags": []string{ref},
		"Layers":   []string{layerPath},
	}})
	if err != nil {
		return err
	}
	return write(path, func(a *archive) error {
		if err := a.dir(img.layer.hex() + "/"); err != nil {
			return err
		}
		if err := a.file(layerPath, img.layer.data); err != nil {
			return err
		}
		if err := a.file(configPath, img.config.data); err != nil {
			return err
		}
		return a.file("manifest.json", manifest)
	})
}

func descriptor(mediaType string, b blob, annotations map[string]string) map[string]any {
	d := map[string]any{
		"mediaType": mediaType,
		"digest":    b.digest,
		"size":      len(b.data),
	}
	if len(annotations) > 0 {
		d["annotations"] = annotations
	}
	return d
}

// tagOf returns the tag of ref ("1" for "cairn.local/testapp:1"), or
// "latest" when it has none.
func tagOf(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	i := strings.LastIndex(ref, ":")
	if i < 0 || strings.Contains(ref[i:], "/") {
		return "latest"
	}
	return ref[i+1:]
}
