package check

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	k8sschema "k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/defaults"
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

// BenchmarkValidateCorpus is `cairn validate --policies` over CAIRN_CORPUS:
// loading, building the checker and checking every object with one worker
// per CPU.
func BenchmarkValidateCorpus(b *testing.B) {
	dir := os.Getenv("CAIRN_CORPUS")
	if dir == "" {
		b.Skip("CAIRN_CORPUS not set")
	}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		objs, errs := manifest.Load([]string{filepath.Join(dir, "manifests")}, manifest.Options{})
		if len(errs) > 0 {
			b.Fatal(errs[0])
		}
		pols, errs := manifest.Load([]string{"../examples/policies"}, manifest.Options{})
		if len(errs) > 0 {
			b.Fatal(errs[0])
		}
		c, findings := New(append(append([]*manifest.Object(nil), objs...), pols...), objs)
		if len(findings) > 0 {
			b.Fatal(findings[0])
		}
		var wg sync.WaitGroup
		next := make(chan int)
		for w := 0; w < runtime.NumCPU(); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range next {
					if f := c.Check(ctx, objs[j]); len(f) > 0 {
						b.Error(f[0])
					}
				}
			}()
		}
		for j := range objs {
			next <- j
		}
		close(next)
		wg.Wait()
	}
}

// BenchmarkToUnstructured converts the typed, defaulted objects of
// CAIRN_CORPUS; -planned=false measures apimachinery's converter.
func BenchmarkToUnstructured(b *testing.B) {
	dir := os.Getenv("CAIRN_CORPUS")
	if dir == "" {
		b.Skip("CAIRN_CORPUS not set")
	}
	objs, errs := manifest.Load([]string{filepath.Join(dir, "manifests")}, manifest.Options{})
	if len(errs) > 0 {
		b.Fatal(errs[0])
	}
	c, _ := New(nil, nil)
	var typed []k8sruntime.Object
	for _, o := range objs[:500] {
		gvk := k8sschema.FromAPIVersionAndKind(o.APIVersion, o.Kind)
		obj, err := c.scheme.New(gvk)
		if err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(o.JSON, obj); err != nil {
			b.Fatal(err)
		}
		defaults.Apply(obj)
		typed = append(typed, obj)
	}
	for _, name := range []string{"planned", "converter"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				obj := typed[i%len(typed)]
				var err error
				if name == "planned" {
					_, err = toUnstructured(obj)
				} else {
					_, err = k8sruntime.DefaultUnstructuredConverter.ToUnstructured(obj)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
