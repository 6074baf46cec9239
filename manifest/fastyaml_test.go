package manifest

import (
	"bytes"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	yaml "go.yaml.in/yaml/v3"
)

// diffNodes compares two node trees on every field the loader reads
// (comments excluded) and describes the first difference, or returns "".
func diffNodes(got, want *yaml.Node, path string) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("%s: got %v, want %v", path, got, want)
	}
	type fields struct {
		Kind         yaml.Kind
		Style        yaml.Style
		Tag, Value   string
		Anchor       string
		Line, Column int
		Content      int
		Alias        bool
	}
	f := func(n *yaml.Node) fields {
		return fields{n.Kind, n.Style, n.Tag, n.Value, n.Anchor, n.Line, n.Column, len(n.Content), n.Alias != nil}
	}
	if g, w := f(got), f(want); g != w {
		return fmt.Sprintf("%s: got %+v, want %+v", path, g, w)
	}
	if got.Alias != nil {
		if d := diffNodes(got.Alias, want.Alias, path+"*"); d != "" {
			return d
		}
	}
	for i := range got.Content {
		if d := diffNodes(got.Content[i], want.Content[i], fmt.Sprintf("%s/%d", path, i)); d != "" {
			return d
		}
	}
	return ""
}

// unmarshalV3 is yaml.Unmarshal into a node, with panics turned into errors.
func unmarshalV3(data []byte) (n yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	err = yaml.Unmarshal(data, &n)
	return n, err
}

// checkFast runs parseFast and yaml.v3 on data and fails the test if
// parseFast returns a tree that differs from yaml.v3's, or returns one for
// a document yaml.v3 rejects. It reports whether parseFast took the input.
func checkFast(t testing.TB, data []byte) bool {
	t.Helper()
	got, ok := parseFast(data)
	if !ok {
		return false
	}
	want, err := unmarshalV3(data)
	if err != nil {
		t.Fatalf("parseFast accepted %q, yaml.v3 rejects it: %v", data, err)
	}
	if d := diffNodes(got, &want, "doc"); d != "" {
		t.Fatalf("parseFast(%q) differs from yaml.v3: %s", data, d)
	}
	return true
}

// fastCases must all take the fast path (and match yaml.v3).
var fastCases = []string{
	"",
	"\n\n",
	"# only a comment\n",
	"# one\n\n   # two\n",
	"---\n",
	"---",
	"--- # comment\n",
	"---\n# comment\n\n",
	"---\n# comment",
	"a: 1",
	"a: 1\n",
	"---\na: 1\n",
	"--- \na: 1\n",
	"# head\n\na: 1\n",
	"  a: 1\n  b: 2\n",
	"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: y\ndata:\n  k: v\n",
	"a:\nb: 2\n",
	"a:",
	"a:   \n  \nb: 1\n",
	"a:  # comment\nb:\n",
	"a:\n  # comment\n  b: 1\n",
	"a:\n  b:\n    c:\n      d: e\n",
	"a:\n  b: 1\nc: 2\n",
	"a:\n    b: 1\n    c: 2\nd: 3\n",
	"- a\n-\n- b\n",
	"- a\n- b\n",
	"-\n  a: 1\n-\n   - x\n",
	"- a:\n  b:\n",
	"- a: 1\n  b: 2\n- c: 3\n",
	"- name: x\n  image: nginx:1.25\n  ports:\n  - containerPort: 80\n",
	"a:\n- x\n-\nb:\n",
	"a:\n- x\n- y\nb: 1\n",
	"a:\n  - x\n  - y\nb: 1\n",
	"a:\n- b: 1\n  c: 2\n- d\ne: f\n",
	"- a:\n  - x\n  - y\n  b: 1\n",
	"- - nested\n  - more\n- - x\n",
	"- - - deep\n",
	"- a: 1\n  b:\n  - x\n  c: |\n   t\n- - y\n  - z\n",
	"key:   value  # comment\n",
	"key: value # comment # more\n",
	"key: value#not-a-comment\n",
	"image: nginx:1.25\n",
	"url: http://example.com:8080/a?b=c#frag\n",
	"a: \"x: y\"\n",
	"a: 'x: y'\n",
	"a: 'it''s'\n",
	"a: ''\n",
	"a: \"\"\n",
	"a: \"tab\\there\\nnewline \\\"q\\\" \\\\\"\n",
	"a: \"\\x41\\u00e9\\U0001F600\\0\\a\\b\\v\\f\\r\\e\\ \\N\\_\\L\\P\\'\"\n",
	"a: \"\\\t\"\n",
	"a: \"x\"  # c\n",
	"a: 'b\tc'\n",
	"\"quoted key\": 1\n'single': 2\n\"\": 3\n",
	"\"a\\tb\": 1\n",
	"key with spaces: value with  spaces\n",
	"a:b: c\n",
	"http://x: y\n",
	"-foo: bar\n",
	"?a: b\n",
	":a: b\n",
	"a: -1\nb: --flag\nc: -x-\n",
	"a: ?x\nb: :8080\nc: x:y\n",
	"a: b - c\n",
	"a: x{y}[z],w\n",
	"a: \"x\"\nb: 'y'\n",
	"a: {}\nb: []\n",
	"a: { }\nb: [ ]\n",
	"- {}\n- []\n",
	"a: {x: 1, y: [a, \"b\"]}\n",
	"a: [1, 2, 3]\n",
	"a: [a, b, ]\n",
	"a: [a,b]\n",
	"a: [-]\n",
	"a: [a:b, 'c', \"d\"]\n",
	"a: {name: http, containerPort: 8080}\n",
	"a: {\"x\":1, 'y': 2}\n",
	"a: [[1, 2], [3], {}]\n",
	"a: {b: {c: {d: []}}}\n",
	"a: [x y, z  w]\n",
	"a: [a#b]\n",
	"- {name: MODE, value: production}\n",
	"command: [\"sh\", \"-c\", \"echo hello\"]\n",
	"{a: 1, b: [2]}\n",
	"[a, b]\n",
	"a: [1] # comment\n",
	"a: |\n  line1\n  line2\n",
	"a: |\n  x",
	"a: |\n  x\n\n",
	"a: |+\n  x\n\n",
	"a: |-\n  x\n\n",
	"a: >\n  x\n  y\n\n   z\n  w\n",
	"a: >-\n  folded\n  text\n",
	"a: >+\n  folded\n\n",
	"a: |\nb: 1\n",
	"a: |\n\n\nb: 1\n",
	"a: |+\n\n\nb: 1\n",
	"a: |\n  x\n    y\n  z\n",
	"a: |\n    x\n  # not a comment\n",
	"a: |\n  x\n# a comment\nb: 1\n",
	"a: |\n  x\n     \nb: c\n",
	"a: |\n  a\tb\n  \tc\n",
	"a: | # comment\n  x\n",
	"a: |\n\n  x\n",
	"a: |\n  \n  \n  x\n",
	"- |\n  x\n- >\n  y\n",
	"- a: |\n    x\n  b: 1\n",
	"k:\n- |\n x\n",
	"config.yaml: |\n  listen: :8080\n  workers: 2\n",
	"script: |\n  #!/bin/sh\n  echo \"$1\" | grep -v '^#'\n\n  exit 0\n",
	"x: [0644, 1e3, .5, yes, ~, 2024-01-02, 0x1F, +1, 1_000, 1__, 0o17, 0b11, -0b1, 1.5e, .inf, -.INF, 12:30, 2024-01-02T03:04:05Z, 2024-1-2 3:4:5]\n",
	"a: 0644\nb: 1e3\nc: .5\nd: yes\ne: ~\nf: 2024-01-02\ng: 0x1F\nh: +1\ni: 1_000\n",
	"a: null\nb: Null\nc: NULL\nd: true\ne: False\nf: TRUE\ng: on\nh: off\ni: y\nj: n\n",
	"a: 1.0\nb: -1.5\nc: 1.\nd: 1e\ne: 1.2.3\nf: 100m\ng: 128Mi\nh: 3\ni: 09\nj: 0b2\n",
	"a: 99999999999999999999\nb: 18446744073709551615\nc: -9223372036854775808\nd: 1e999\n",
	"a: .nan\nb: .NaN\nc: +.inf\nd: .Inf\ne: .x\nf: .\ng: .1.2\n",
	"a: 0o\nb: -0o7\nc: 0o8\nd: 0xg\ne: 0x_1\nf: 1_2_3\ng: _1\nh: 1__0.5\n",
	"1: a\ntrue: b\nnull: c\n~: d\n1.5: e\n2024-01-02: f\n",
	"ключ: значение\nemoji: \"😀 x\"\nb: {ü: ö}\n",
	"- ü: 1\n  ö: [ä, ß]\n",
	"a: b\n\n\n\nc: d\n",
	"a: b\n# trailing comment",
	"a: b\n   # indented comment\nc: d\n",
	"a:\n  - x\n  # comment\n  - y\n",
	"a: \"" + strings.Repeat("long ", 2000) + "\"\n",
	strings.Repeat("k", 999) + ": v\n",
	deepMapping(50),
	deepSequence(50),
	"a: " + deepFlow(50) + "\n",
	"a: 1\na: 2\n",
	"a:: b\n",
	"a: |",
	"a: >-",
	"a: |+\n",
	"a: |+",
	"a: |\n  x\n     \n",
	"a: |+\n  x\n     \n  \n",
	"a: >\n  x\n\n  y\n   z\n\n\n  w\n",
	"a: >\n  x\n   y\n  z\n",
	"- \n-   # c\n- x\n",
	"-  a: b\n   c: d\n",
	"a:\n# c\n- x\n# d\n- y\n",
	"a:\n  b: 1\n# comment at column 0\n  c: 2\n",
	"a:\n  - b\n# comment\n  - c\nd: e\n",
	`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"data":{"a":"1"}}` + "\n",
	`{"a":[1,2,{"b":null}],"c":true,"d":-1.5e3}`,
	"a: [ a , b ]\n",
	"a: x\u00a0\nb: \u00a0y\n",
	"   \n  \n",
	"---   \n\n  a: 1\n",
	"a: 1\n   ",
	"a:\n  b:\n  - c\n  d: [e]\n",
	"a: \"\\u00e9\" # é\nb: ü # ö\n",
	"a: 'multi''ple''' # x\n",
	"a: \"#not comment\"\nb: '# nor this'\n",
	"a: b #c\n#d\n  #e\nf: g\n",
	"a: # comment\n  b: 1\n",
	"- # comment\n  a: 1\n- # c\n  - x\n",
	"a: # comment\n- x\n",
}

// otherCases may or may not take the fast path; when they do, the tree must
// match yaml.v3's. Most are outside the subset or invalid.
var otherCases = []string{
	"a: &x 1\nb: *x\n",
	"<<: {a: 1}\n",
	"a: !!str 1\n",
	"? a\n: b\n",
	"%YAML 1.2\n---\na: 1\n",
	"a: 1\n---\nb: 2\n",
	"a: 1\n...\n",
	"\ufeffa: 1\n",
	"a: 1\r\nb: 2\r\n",
	"a:\tb\n",
	"a: b\t# c\n",
	"\ta: 1\n",
	"a:\n\t- x\n",
	"a: multi\n  line\n",
	"a: 'multi\n  line'\n",
	"a: \"multi\n  line\"\n",
	"a: \"cont\\\n  inued\"\n",
	"a: [1,\n  2]\n",
	"a: {x: 1\n  }\n",
	"a: |2\n   x\n",
	"a: |0\n x\n",
	"a: |\n\tx\n",
	"a: |\n  x\n \ty\n",
	"a: |\n    \n  x\n",
	"a: b: c\n",
	"a: - b\n",
	"a: -\n",
	"a : b\n",
	"a:b\n",
	"a\n",
	"a: 1\nb\n",
	"a: 1\n  b: 2\n",
	"a:\n    b: 1\n  c: 2\n",
	"- a\nb: 1\n",
	"a: 1\n- b\n",
	"a:\n  - x\n  b: 1\n",
	"- a: b\n   c\n",
	"scalar\n",
	"'quoted root'\n",
	"|\n x\n",
	"--- |\n  x\n",
	"--- {a: 1}\n",
	"a: \"unterminated\n",
	"a: 'unterminated\n",
	"a: \"\\q\"\n",
	"a: \"\\/\"\n",
	"a: |\n  \n   \n  x\n",
	"a: \"\\x4\"\n",
	"a: \"\\uD800\"\n",
	"a: \"\\U00110000\"\n",
	"a: [a, , b]\n",
	"a: {x}\n",
	"a: {x: }\n",
	"a: {x: 1, y}\n",
	"a: [x: 1]\n",
	"a: {a:b}\n",
	"{a : b}\n",
	"a: [a ,b]\n",
	"a: [1]x\n",
	"a: \"x\" y\n",
	"a: \"x\"#c\n",
	"a: |#c\n x\n",
	"a: `x`\n",
	"a: @x\n",
	"a: %x\n",
	"a: ,x\n",
	"a: ]\n",
	"a: }\n",
	"a: \x00\n",
	"a: \x7f\n",
	"a: \xff\n",
	"a: \u0085\n",
	"a: \u2028\n",
	"[a, b]: c\n",
	"\"a\" : b\n",
	"\"a\":b\n",
	strings.Repeat("k", 1030) + ": v\n",
	"a:\n  b: 1\n c: 2\n",
	"-\tx\n",
	"- a\n - b\n",
	"- a\n  - b\n",
	"a: 1 # c\n  # c2\n  b: 2\n",
	"a: x\n\n  y\n",
	"a: [\n]\n",
	"...\n",
	"---a: 1\n",
	"a: ---\n",
	"- ---\n",
	"a: [?x]\n",
	"a: [x?y]\n",
	"a: [:x]\n",
	"a: [- x]\n",
	"a: {? x: 1}\n",
	deepSequence(fastMaxDepth + 10),
	"a: " + deepFlow(fastMaxDepth+10) + "\n",
}

func deepMapping(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "%sk%d:\n", strings.Repeat(" ", i), i)
	}
	fmt.Fprintf(&b, "%sleaf: v\n", strings.Repeat(" ", n))
	return b.String()
}

func deepFlow(n int) string {
	return strings.Repeat("[", n) + strings.Repeat("]", n)
}

func deepSequence(n int) string {
	return strings.Repeat("- ", n) + "x\n"
}

func TestFastYAMLCases(t *testing.T) {
	for _, c := range fastCases {
		if !checkFast(t, []byte(c)) {
			t.Errorf("parseFast does not take %q", c)
		}
	}
	fast := 0
	for _, c := range otherCases {
		if checkFast(t, []byte(c)) {
			fast++
		}
	}
	t.Logf("%d of %d out-of-subset or invalid cases took the fast path (and matched)", fast, len(otherCases))
}

// TestFastYAMLInvalid: documents yaml.v3 rejects never take the fast path, so
// the loader reports yaml.v3's error unchanged.
func TestFastYAMLInvalid(t *testing.T) {
	for _, c := range otherCases {
		if _, err := unmarshalV3([]byte(c)); err == nil {
			continue
		}
		if _, ok := parseFast([]byte(c)); ok {
			t.Errorf("parseFast accepts invalid %q", c)
		}
	}
}

// checkFile runs checkFast on every document of a file, split as the loader
// splits it, and returns how many documents there are and how many took the
// fast path.
func checkFile(t *testing.T, path string) (docs, fast int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range splitDocs(data) {
		docs++
		if checkFast(t, c.data) {
			fast++
		}
	}
	return docs, fast
}

// TestFastYAMLRepoFiles checks the examples and every YAML or JSON file
// under a testdata directory of the repository.
func TestFastYAMLRepoFiles(t *testing.T) {
	var files []string
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != ".." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) && name != ".hidden" {
				return filepath.SkipDir
			}
			return nil
		}
		slashed := filepath.ToSlash(path)
		inData := strings.Contains(slashed, "/testdata/") || strings.HasPrefix(slashed, "../examples/")
		switch filepath.Ext(path) {
		case ".yaml", ".yml", ".json":
			if inData {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no files found")
	}
	var docs, fast int
	for _, f := range files {
		d, n := checkFile(t, f)
		docs += d
		fast += n
	}
	t.Logf("%d files, %d documents, %d took the fast path", len(files), docs, fast)
}

// TestFastYAMLCorpus checks every document of the benchmark corpus
// (test/bench/corpus); all of them must take the fast path. Set
// CAIRN_YAML_CORPUS to a corpus' manifests directory to check it instead of
// generating a small one.
func TestFastYAMLCorpus(t *testing.T) {
	dir := os.Getenv("CAIRN_YAML_CORPUS")
	if dir == "" {
		if testing.Short() {
			t.Skip("-short: generating the corpus takes a go run")
		}
		out := t.TempDir()
		cmd := exec.Command("go", "run", "./test/bench/corpus", "-n", "500", "-out", out)
		cmd.Dir = ".."
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("cannot generate the corpus: %v\n%s", err, b)
		}
		dir = filepath.Join(out, "manifests")
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no corpus files in %s: %v", dir, err)
	}
	var docs, fast int
	for _, p := range paths {
		d, n := checkFile(t, p)
		docs += d
		fast += n
	}
	if fast != docs {
		t.Errorf("%d of %d corpus documents took the fast path, want all", fast, docs)
	}
	t.Logf("%d files, %d documents, all on the fast path", len(paths), docs)
}

// TestFastYAMLGenerated: the documents BenchmarkParse uses.
func TestFastYAMLGenerated(t *testing.T) {
	for _, c := range splitDocs(genManifests(20)) {
		if len(bytes.TrimSpace(c.data)) > 0 && !checkFast(t, c.data) {
			t.Fatalf("parseFast does not take %q", c.data)
		}
	}
}

// benchDocs is a realistic 100-document manifest file split into documents
// as the loader splits it.
func benchDocs() [][]byte {
	var docs [][]byte
	for _, c := range splitDocs(genManifests(100)) {
		docs = append(docs, c.data)
	}
	return docs
}

func BenchmarkParseFast(b *testing.B) {
	docs := benchDocs()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, d := range docs {
			if _, ok := parseFast(d); !ok {
				b.Fatal("not on the fast path")
			}
		}
	}
	b.ReportMetric(float64(len(docs))*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

func BenchmarkParseYAMLv3(b *testing.B) {
	docs := benchDocs()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, d := range docs {
			var n yaml.Node
			if err := yaml.Unmarshal(d, &n); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(docs))*float64(b.N)/b.Elapsed().Seconds(), "docs/s")
}

// yamlGen writes random documents in (and, mutated, around) the subset
// parseFast handles.
type yamlGen struct {
	r *rand.Rand
	b strings.Builder
}

var (
	genKeys = []string{"a", "b", "name", "key with spaces", "app.kubernetes.io/name", "x-y_z", "1", "0x1F", "true", "on",
		"null", "~", "-x", "a:b", "ü", "ключ", `"quoted key"`, `'single'`, `"esc\tkey"`, `""`, "1.5", "2024-01-02", "?q", ":c"}
	genPlain = []string{"v", "nginx:1.25", "http://example.com:80/p?q=1#f", "1e3", "0644", "yes", "-1", "+1", "x#y", ":8080",
		"?x", "a - b", "1_000", ".5", "~", "null", "0o17", "0b101", "100m", "128Mi", "1.2.3", "2024-01-02T03:04:05Z", "x  y",
		"ü ö", "😀", "-", "a'b", `a"b`, "a,b", "[x]y", "{x", "x}", "0x", "09", "-0b1", ".inf", "-.INF", ".nan", "99999999999999999999"}
	genQuoted = []string{`"x: y"`, `'it''s'`, `""`, `''`, `"a\tb\n\"c\"\\"`, `"\x41\u00e9\U0001F600"`, `"\N\_\L\P"`, `'# no'`,
		`"tab	in"`, `"trailing "`, `' lead'`, `"\/"`, `"\q"`, `"\uD800"`}
	genFlow = []string{"{}", "[]", "{ }", "[ ]", "[a, b]", "[a,b,]", "{a: 1, b: [x, \"y\"]}", `{"k":"v","n":[1,{"m":null}]}`,
		"[[1], [2, 3], {}]", "{a: {b: {c: d}}}", "[a:b, -x, x y]", "[-]", "{a: }", "[a, , b]", "{a}", "[? x]", "{a:b}"}
	genText  = []string{"text", "  more indented", "# not a comment", "a: b", "- c", "\tx", "trailing  ", "ü", "{[", `"'`}
	genNoise = []string{"", "#", "# comment", "  # indented", "   ", "\t# tab"}
)

func (g *yamlGen) pick(s []string) string { return s[g.r.IntN(len(s))] }

func (g *yamlGen) line(indent int, s string) {
	g.b.WriteString(strings.Repeat(" ", indent))
	g.b.WriteString(s)
	g.b.WriteByte('\n')
}

// noise may add blank or comment lines.
func (g *yamlGen) noise() {
	for g.r.IntN(6) == 0 {
		s := g.pick(genNoise)
		if strings.HasPrefix(s, "#") || s == "" {
			g.line(g.r.IntN(6), s)
		} else {
			g.line(0, s)
		}
	}
}

// inline returns a value to write after "key: " or "- ", and whether it is
// a block scalar header whose text must follow.
func (g *yamlGen) inline() (string, bool) {
	comment := ""
	if g.r.IntN(5) == 0 {
		comment = "  # c"
	}
	switch g.r.IntN(10) {
	case 0, 1, 2:
		return g.pick(genPlain) + comment, false
	case 3, 4:
		return g.pick(genQuoted) + comment, false
	case 5, 6:
		return g.pick(genFlow) + comment, false
	default:
		return g.pick([]string{"|", ">", "|-", "|+", ">-", ">+"}) + comment, true
	}
}

func (g *yamlGen) blockText(indent int) {
	n := g.r.IntN(4)
	for i := 0; i < n; i++ {
		switch g.r.IntN(6) {
		case 0:
			g.line(0, strings.Repeat(" ", g.r.IntN(indent+3)))
		case 1:
			g.line(max(0, indent+g.r.IntN(3)-1), g.pick(genText))
		default:
			g.line(indent, g.pick(genText))
		}
	}
}

func (g *yamlGen) mapping(indent, depth int, first bool) {
	for i, n := 0, 1+g.r.IntN(4); i < n; i++ {
		if !first || i > 0 {
			g.noise()
			g.b.WriteString(strings.Repeat(" ", indent))
		}
		g.b.WriteString(g.pick(genKeys) + ":")
		g.value(indent, depth)
	}
}

func (g *yamlGen) sequence(indent, depth int, first bool) {
	for i, n := 0, 1+g.r.IntN(3); i < n; i++ {
		if !first || i > 0 {
			g.noise()
			g.b.WriteString(strings.Repeat(" ", indent))
		}
		g.b.WriteString("-")
		switch k := g.r.IntN(8); {
		case depth > 0 && k == 0:
			g.b.WriteString(" ")
			g.mapping(indent+2, depth-1, true)
		case depth > 0 && k == 1:
			g.b.WriteString(" ")
			g.sequence(indent+2, depth-1, true)
		case depth > 0 && k == 2:
			g.b.WriteString("\n")
			g.block(indent+1+g.r.IntN(3), depth-1)
		default:
			g.value(indent, depth)
		}
	}
}

// value writes what follows "key:" or "-" in a collection at indent.
func (g *yamlGen) value(indent, depth int) {
	switch k := g.r.IntN(6); {
	case k == 0:
		g.b.WriteString("\n") // null
	case depth > 0 && k == 1:
		g.b.WriteString("\n")
		g.noise()
		g.block(indent+g.r.IntN(4), depth-1) // same indent: indentless sequence or sibling
	default:
		s, block := g.inline()
		g.b.WriteString(" " + s + "\n")
		if block {
			g.blockText(indent + 1 + g.r.IntN(3))
		}
	}
}

func (g *yamlGen) block(indent, depth int) {
	g.b.WriteString(strings.Repeat(" ", indent))
	if g.r.IntN(2) == 0 {
		g.sequence(indent, depth, true)
	} else {
		g.mapping(indent, depth, true)
	}
}

func (g *yamlGen) document() []byte {
	g.b.Reset()
	if g.r.IntN(2) == 0 {
		g.b.WriteString("---\n")
	}
	g.noise()
	g.block(g.r.IntN(2), 4)
	g.noise()
	return []byte(g.b.String())
}

// mutate makes a small random edit to data.
func (g *yamlGen) mutate(data []byte) []byte {
	if len(data) == 0 {
		return data
	}
	out := bytes.Clone(data)
	i := g.r.IntN(len(out))
	switch g.r.IntN(4) {
	case 0:
		return append(out[:i], out[i+1:]...)
	case 1:
		return append(out[:i], append([]byte{" \n-:#'\"|>[]{},\t"[g.r.IntN(15)]}, out[i:]...)...)
	case 2:
		if j := bytes.LastIndexByte(out[:i], '\n'); j >= 0 || i > 0 {
			return append(out[:j+1], append([]byte(" "), out[j+1:]...)...)
		}
	}
	if j := bytes.LastIndexByte(out[:i], '\n'); j+1 < len(out) && out[j+1] == ' ' {
		return append(out[:j+1], out[j+2:]...)
	}
	return out
}

// TestFastYAMLRandom runs the differential check on random documents and
// mutations of them.
func TestFastYAMLRandom(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	g := &yamlGen{r: rand.New(rand.NewPCG(1, 2))}
	var fast, mutated, mutatedFast int
	for i := 0; i < n; i++ {
		doc := g.document()
		if checkFast(t, doc) {
			fast++
		}
		for j := 0; j < 3; j++ {
			doc = g.mutate(doc)
			mutated++
			if checkFast(t, doc) {
				mutatedFast++
			}
		}
	}
	t.Logf("random documents: %d of %d on the fast path; mutated: %d of %d", fast, n, mutatedFast, mutated)
}

// TestParseFastArena parses documents one after another from one arena,
// as the loader does, in both orders, and compares each tree (read before
// the next document resets the arena) with yaml.v3's.
func TestParseFastArena(t *testing.T) {
	docs := benchDocs()
	for _, c := range fastCases {
		docs = append(docs, []byte(c))
	}
	var long strings.Builder
	long.WriteString("items:\n")
	for i := 0; i < 700; i++ {
		fmt.Fprintf(&long, "- {a: %d}\n", i)
	}
	docs = append(docs, []byte(long.String()))
	var a fastArena
	for pass := 0; pass < 2; pass++ {
		for i := range docs {
			d := docs[i]
			if pass == 1 {
				d = docs[len(docs)-1-i]
			}
			a.reset()
			got, ok := parseFastIn(d, &a)
			if !ok {
				continue
			}
			want, err := unmarshalV3(d)
			if err != nil {
				t.Fatalf("parseFastIn accepted %q, yaml.v3 rejects it: %v", d, err)
			}
			if diff := diffNodes(got, &want, "doc"); diff != "" {
				t.Fatalf("parseFastIn(%q) after other documents differs from yaml.v3: %s", d, diff)
			}
		}
	}
}
