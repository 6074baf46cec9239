package manifest

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// FuzzFastYAML checks that parseFast either declines a document or builds
// exactly the tree yaml.v3 builds, and that it declines every document
// yaml.v3 rejects.
func FuzzFastYAML(f *testing.F) {
	// Seeds stay small: the fuzzer minimizes every new input derived from
	// them, which takes long for large ones.
	for _, cases := range [][]string{fastCases, otherCases} {
		for _, c := range cases {
			if len(c) <= 1024 {
				f.Add([]byte(c))
			}
		}
	}
	g := &yamlGen{r: rand.New(rand.NewPCG(3, 4))}
	for i := 0; i < 100; i++ {
		if doc := g.document(); len(doc) <= 1024 {
			f.Add(doc)
		}
	}
	for _, c := range splitDocs(genManifests(5)) {
		f.Add(c.data)
	}
	files, _ := filepath.Glob("testdata/*/*.yaml")
	more, _ := filepath.Glob("testdata/*/*/*.y*ml")
	for _, p := range append(files, more...) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, c := range splitDocs(data) {
			f.Add(c.data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkFast(t, data)
	})
}
