package validation

import (
	"math/rand"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// sameAsRegexps fails when a hand-written check disagrees with the
// apimachinery check it stands in for.
func sameAsRegexps(t *testing.T, s string) {
	t.Helper()
	for _, c := range []struct {
		name string
		got  bool
		msgs []string
	}{
		{"DNS-1123 label", validDNS1123Label(s), validation.IsDNS1123Label(s)},
		{"DNS-1123 subdomain", validDNS1123Subdomain(s), validation.IsDNS1123Subdomain(s)},
		{"label key", validLabelKey(s), validation.IsQualifiedName(s)},
		{"label value", validLabelValue(s), validation.IsValidLabelValue(s)},
	} {
		if want := len(c.msgs) == 0; c.got != want {
			t.Fatalf("%s %q: hand-written check says %v, regexp says %v (%v)", c.name, s, c.got, want, c.msgs)
		}
	}
}

// TestNameChecksMatchRegexps compares the hand-written checks with the
// regular expressions on edge cases and on random strings built from the
// characters that matter.
func TestNameChecksMatchRegexps(t *testing.T) {
	long := func(n int, c string) string { return strings.Repeat(c, n) }
	cases := []string{
		"", "a", "A", "0", "-", ".", "_", "/", "a-", "-a", "a.b", "a..b", ".a", "a.", "a_b", "_a", "a/b", "/a", "a/",
		"a/b/c", "example.com/name", "Example.com/name", "example.com/", "example.com/-x", "a/B.c_d-e",
		"my-name", "123-abc", "MyValue", "my_value", "12345", "é", "a\n", "a\x00b", "a b",
		long(63, "a"), long(64, "a"), long(253, "a"), long(254, "a"), long(62, "a.") + "a",
		long(126, "a.") + "a", long(127, "a.") + "a", long(200, "b") + "/" + long(63, "c"),
		long(253, "b") + "/c", long(254, "b") + "/c", "b/" + long(64, "c"),
	}
	for _, s := range cases {
		sameAsRegexps(t, s)
	}
	alphabet := "aZ09-_./é\n"
	r := rand.New(rand.NewSource(1))
	n := 200000
	if testing.Short() {
		n = 20000
	}
	for i := 0; i < n; i++ {
		var sb strings.Builder
		size := r.Intn(12)
		if r.Intn(20) == 0 {
			size = 50 + r.Intn(220)
		}
		for j := 0; j < size; j++ {
			if r.Intn(4) == 0 {
				sb.WriteByte(alphabet[r.Intn(len(alphabet))])
			} else {
				sb.WriteByte("abz019AZ"[r.Intn(8)])
			}
		}
		sameAsRegexps(t, sb.String())
	}
}

func FuzzNameChecks(f *testing.F) {
	for _, s := range []string{"", "a", "a-b.c", "example.com/My_Name", "-", "a/b/c", strings.Repeat("a", 64)} {
		f.Add(s)
	}
	f.Fuzz(sameAsRegexps)
}
