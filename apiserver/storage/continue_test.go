package storage

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestContinueToken(t *testing.T) {
	const prefix = "/registry/pods/"
	tok, err := encodeContinue("/registry/pods/default/web-1\x00", prefix, 42)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"v":"meta.k8s.io/v1","rv":42,"start":"default/web-1\u0000"}`; string(raw) != want {
		t.Fatalf("token JSON = %s, want %s", raw, want)
	}
	key, rev, err := decodeContinue(tok, prefix)
	if err != nil || key != "/registry/pods/default/web-1\x00" || rev != 42 {
		t.Fatalf("decode = %q, %d, %v", key, rev, err)
	}

	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	bad := []struct {
		name, token string
	}{
		{"not base64", "%%%"},
		{"not json", enc("nope")},
		{"wrong version", enc(`{"v":"meta.k8s.io/v2","rv":1,"start":"a"}`)},
		{"zero revision", enc(`{"v":"meta.k8s.io/v1","rv":0,"start":"a"}`)},
		{"empty start", enc(`{"v":"meta.k8s.io/v1","rv":1,"start":""}`)},
		{"path traversal", enc(`{"v":"meta.k8s.io/v1","rv":1,"start":"../secrets/x"}`)},
		{"unclean path", enc(`{"v":"meta.k8s.io/v1","rv":1,"start":"a//b"}`)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeContinue(tt.token, prefix); !errors.Is(err, ErrInvalidContinue) {
				t.Fatalf("err = %v, want ErrInvalidContinue", err)
			}
		})
	}
}

func FuzzDecodeContinue(f *testing.F) {
	const prefix = "/registry/pods/"
	for _, seed := range []string{"", "e30", "%%%"} {
		f.Add(seed)
	}
	for _, key := range []string{"default/a\x00", "kube-system/coredns-1\x00", "x"} {
		tok, err := encodeContinue(prefix+key, prefix, 7)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(tok)
	}
	f.Fuzz(func(t *testing.T, token string) {
		key, rev, err := decodeContinue(token, prefix)
		if err != nil {
			if !errors.Is(err, ErrInvalidContinue) {
				t.Fatalf("error %v does not wrap ErrInvalidContinue", err)
			}
			return
		}
		if !strings.HasPrefix(key, prefix) || rev <= 0 {
			t.Fatalf("decoded %q at %d from %q", key, rev, token)
		}
		if strings.Contains(key[len(prefix):], "..") && strings.Contains("/"+key[len(prefix):]+"/", "/../") {
			t.Fatalf("decoded key %q escapes the prefix", key)
		}
		again, err := encodeContinue(key, prefix, rev)
		if err != nil {
			t.Fatal(err)
		}
		key2, rev2, err := decodeContinue(again, prefix)
		if err != nil || key2 != key || rev2 != rev {
			t.Fatalf("re-encoded token decodes to %q, %d, %v; want %q, %d", key2, rev2, err, key, rev)
		}
	})
}
