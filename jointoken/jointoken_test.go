package jointoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// testCAPEM is a fresh self-signed CA certificate.
func testCAPEM(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestParseJoinToken(t *testing.T) {
	cases := []struct {
		name, in string
		bare     bool // parsed with ParseOrBare
		want     Token
		wantErr  string
	}{
		{name: "secure", in: "K10" + testHash + "::abcdef.0123456789abcdef",
			want: Token{CAHash: testHash, ID: "abcdef", Secret: "0123456789abcdef"}},
		{name: "trailing newline", in: "K10" + testHash + "::abcdef.0123456789abcdef\n",
			want: Token{CAHash: testHash, ID: "abcdef", Secret: "0123456789abcdef"}},
		{name: "upper-case hash", in: "K10" + strings.ToUpper(testHash) + "::abcdef.0123456789abcdef",
			want: Token{CAHash: testHash, ID: "abcdef", Secret: "0123456789abcdef"}},
		{name: "bare refused", in: "abcdef.0123456789abcdef", wantErr: "want K10"},
		{name: "bare allowed", in: "abcdef.0123456789abcdef", bare: true,
			want: Token{ID: "abcdef", Secret: "0123456789abcdef"}},
		{name: "secure allowed as bare", in: "K10" + testHash + "::abcdef.0123456789abcdef", bare: true,
			want: Token{CAHash: testHash, ID: "abcdef", Secret: "0123456789abcdef"}},
		{name: "empty", in: "", wantErr: "want K10"},
		{name: "no separator", in: "K10" + testHash + "abcdef.0123456789abcdef", wantErr: `missing "::"`},
		{name: "short hash", in: "K10" + testHash[:63] + "::abcdef.0123456789abcdef", wantErr: "64 hex"},
		{name: "non-hex hash", in: "K10" + strings.Repeat("g", 64) + "::abcdef.0123456789abcdef", wantErr: "64 hex"},
		{name: "no dot", in: "K10" + testHash + "::abcdef0123456789abcdef", wantErr: "<id>.<secret>"},
		{name: "short id", in: "K10" + testHash + "::abcde.0123456789abcdef", wantErr: "id must be 6"},
		{name: "upper-case id", in: "K10" + testHash + "::ABCDEF.0123456789abcdef", wantErr: "id must be 6"},
		{name: "long secret", in: "K10" + testHash + "::abcdef.0123456789abcdef0", wantErr: "secret must be 16"},
		{name: "secret with symbol", in: "K10" + testHash + "::abcdef.0123456789abcde-", wantErr: "secret must be 16"},
		{name: "two dots", in: "K10" + testHash + "::abcdef.0123456789abcdef.x", wantErr: "secret must be 16"},
		{name: "bare with hash separator", in: "::abcdef.0123456789abcdef", bare: true, wantErr: "id must be 6"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			parse := Parse
			if tc.bare {
				parse = ParseOrBare
			}
			got, err := parse(tc.in)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestJoinTokenString(t *testing.T) {
	tok := Token{CAHash: testHash, ID: "abcdef", Secret: "0123456789abcdef"}
	if got, want := tok.String(), "K10"+testHash+"::abcdef.0123456789abcdef"; got != want {
		t.Errorf("String() = %s, want %s", got, want)
	}
	if got := (Token{ID: "abcdef", Secret: "0123456789abcdef"}).String(); got != "abcdef.0123456789abcdef" {
		t.Errorf("bare String() = %s", got)
	}
}

func TestGenerateJoinToken(t *testing.T) {
	seen := map[string]bool{}
	caPEM := testCAPEM(t)
	re := regexp.MustCompile(`^K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}$`)
	for range 50 {
		tok, err := Generate(caPEM)
		if err != nil {
			t.Fatal(err)
		}
		s := tok.String()
		if !re.MatchString(s) {
			t.Fatalf("token %q has the wrong shape", s)
		}
		if seen[s] {
			t.Fatalf("token %q generated twice", s)
		}
		seen[s] = true
		back, err := Parse(s)
		if err != nil || back != tok {
			t.Fatalf("round trip: %+v, %v", back, err)
		}
	}
}

func TestCAHash(t *testing.T) {
	pemBytes := testCAPEM(t)
	sum := sha256.Sum256(pemBytes)
	want := hex.EncodeToString(sum[:])
	if got := CAHash(pemBytes); got != want {
		t.Errorf("CAHash = %s, want the sha256 of the PEM %s", got, want)
	}
	// Line endings and text around the block do not change the hash.
	crlf := strings.ReplaceAll(string(pemBytes), "\n", "\r\n")
	if got := CAHash([]byte("# the cluster CA\n" + crlf + "\n")); got != want {
		t.Errorf("CAHash of a reformatted PEM = %s, want %s", got, want)
	}
	if !CAHashMatches(pemBytes, strings.ToUpper(want)) {
		t.Error("CAHashMatches is case sensitive")
	}
	if CAHashMatches(testCAPEM(t), want) {
		t.Error("another CA matches")
	}
}

// FuzzParseJoinToken: parsing never panics; what parses renders back to an
// equivalent token of the documented shape.
func FuzzParseJoinToken(f *testing.F) {
	f.Add("K10" + testHash + "::abcdef.0123456789abcdef")
	f.Add("abcdef.0123456789abcdef")
	f.Add("K10::.")
	f.Add("K10" + testHash + "::abcdef.0123456789abcdef::x")
	f.Add("\x00K10")
	shape := regexp.MustCompile(`^(K10[0-9a-f]{64}::)?[a-z0-9]{6}\.[a-z0-9]{16}$`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, parse := range []func(string) (Token, error){Parse, ParseOrBare} {
			tok, err := parse(s)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("%q: error %v does not wrap ErrInvalid", s, err)
				}
				continue
			}
			out := tok.String()
			if !shape.MatchString(out) {
				t.Fatalf("%q parsed to %+v, rendered as %q", s, tok, out)
			}
			back, err := parse(out)
			if err != nil || back != tok {
				t.Fatalf("%q: round trip of %q gave %+v, %v", s, out, back, err)
			}
		}
	})
}
