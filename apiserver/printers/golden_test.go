package printers

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// now is the fixed reference time of every test.
var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// renderTable prints objs the way kubectl prints a server-side Table:
// upper-cased headers, columns aligned by a tabwriter set up as kubectl's,
// priority-1 columns only when wide, cells cut at the first line break.
func renderTable(p Printer, objs []runtime.Object, wide bool) (string, error) {
	var buf bytes.Buffer
	w := tabwriter.NewWriter(&buf, 6, 4, 3, ' ', 0)
	var header []string
	for _, c := range p.Columns {
		if wide || c.Priority == 0 {
			header = append(header, strings.ToUpper(c.Name))
		}
	}
	fmt.Fprintln(w, strings.Join(header, "\t"))
	for _, obj := range objs {
		cells, err := p.Cells(obj, now)
		if err != nil {
			return "", err
		}
		if len(cells) != len(p.Columns) {
			return "", fmt.Errorf("%d cells for %d columns", len(cells), len(p.Columns))
		}
		var row []string
		for i, cell := range cells {
			if wide || p.Columns[i].Priority == 0 {
				row = append(row, cellText(cell))
			}
		}
		fmt.Fprintln(w, strings.Join(row, "\t"))
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

func cellText(cell any) string {
	var s string
	switch v := cell.(type) {
	case nil:
		return ""
	case string:
		s = v
	default:
		s = fmt.Sprint(v)
	}
	if i := strings.IndexAny(s, "\f\n\r"); i >= 0 {
		s = s[:i] + "..."
	}
	return s
}

func hasWideColumns(p Printer) bool {
	for _, c := range p.Columns {
		if c.Priority != 0 {
			return true
		}
	}
	return false
}

// TestGolden renders each kind's fixtures and compares them with
// testdata/<kind>[.<group>].txt, and the -o wide rendering with
// testdata/<kind>[.<group>].wide.txt. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.file(), func(t *testing.T) {
			p := ForKind(tc.group, tc.kind)
			variants := []bool{false}
			if hasWideColumns(p) {
				variants = append(variants, true)
			}
			for _, wide := range variants {
				got, err := renderTable(p, tc.objects, wide)
				if err != nil {
					t.Fatalf("render (wide=%v): %v", wide, err)
				}
				command, file := "$ kubectl get "+tc.resource, tc.file()+".txt"
				if wide {
					command, file = command+" -o wide", tc.file()+".wide.txt"
				}
				checkGolden(t, filepath.Join("testdata", file), command+"\n"+got)
			}
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run go test -update to accept):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestGoldenCoversEveryKind makes sure no printer goes without a golden file.
func TestGoldenCoversEveryKind(t *testing.T) {
	covered := map[string]bool{}
	for _, tc := range goldenCases() {
		covered[tc.group+"/"+tc.kind] = true
	}
	for gk := range registry {
		if !covered[gk.Group+"/"+gk.Kind] {
			t.Errorf("no golden case for %s", gk)
		}
	}
}
