package imagetest

import (
	"archive/tar"
	"encoding/json"
	"io"
	"os"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds testapp")
	}
	dir := t.TempDir()
	start := time.Now()
	oci, err := Build(dir, Ref)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("built in %s", time.Since(start))
	again, err := Build(dir, Ref)
	if err != nil || again != oci {
		t.Fatalf("second Build = %q, %v; want the cached %q", again, err, oci)
	}
	docker, err := BuildDocker(dir, Ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want []string
	}{
		{oci, []string{"oci-layout", "index.json"}},
		{docker, []string{"manifest.json"}},
	} {
		files := entries(t, tc.path)
		for _, w := range tc.want {
			if _, ok := files[w]; !ok {
				t.Errorf("%s has no %s; has %v", tc.path, w, files)
			}
		}
	}
	var index struct {
		Manifests []struct {
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(entries(t, oci)["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Annotations["io.containerd.image.name"] != Ref {
		t.Errorf("index.json = %+v, want one manifest named %s", index, Ref)
	}
}

func entries(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = b
	}
}

func TestTagOf(t *testing.T) {
	for _, tc := range []struct{ ref, want string }{
		{"cairn.local/testapp:1", "1"},
		{"localhost:5000/app", "latest"},
		{"busybox", "latest"},
		{"x/y:2@sha256:abc", "2"},
	} {
		if got := tagOf(tc.ref); got != tc.want {
			t.Errorf("tagOf(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}
