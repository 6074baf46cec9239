package check

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairn-dev/cairn/manifest"
)

// BenchmarkCheck checks the objects of CAIRN_CORPUS (a directory written
// by `go run ./test/bench/corpus`) against the example policies; it is
// skipped without one.
func BenchmarkCheck(b *testing.B) {
	dir := os.Getenv("CAIRN_CORPUS")
	if dir == "" {
		b.Skip("CAIRN_CORPUS not set")
	}
	objs, errs := manifest.Load([]string{filepath.Join(dir, "manifests")}, manifest.Options{})
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	pols, errs := manifest.Load([]string{"../examples/policies"}, manifest.Options{})
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	c, findings := New(pols, objs)
	if len(findings) > 0 {
		b.Fatal(findings[0])
	}
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if f := c.Check(ctx, objs[i%len(objs)]); len(f) > 0 {
			b.Fatal(f[0])
		}
	}
}
