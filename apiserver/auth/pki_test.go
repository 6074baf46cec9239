package auth

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestLoadOrCreateCA(t *testing.T) {
	dir := t.TempDir()
	ca1, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ca1.CertPEM(), ca2.CertPEM()) {
		t.Fatal("CA not reused across calls")
	}
	st, err := os.Stat(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("ca.key mode %v, want 0600", st.Mode().Perm())
	}
	c := ca1.Certificate()
	if !c.IsCA || c.NotAfter.Before(time.Now().Add(9*365*24*time.Hour)) {
		t.Errorf("CA cert IsCA=%v NotAfter=%v", c.IsCA, c.NotAfter)
	}
	if ca1.Pool().Equal(x509.NewCertPool()) {
		t.Fatal("empty CA pool")
	}

	tests := []struct {
		name  string
		setup func(t *testing.T, dir string)
	}{
		{"key missing", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "ca.key"))) }},
		{"cert missing", func(t *testing.T, dir string) { must(t, os.Remove(filepath.Join(dir, "ca.crt"))) }},
		{"garbage cert", func(t *testing.T, dir string) {
			must(t, os.WriteFile(filepath.Join(dir, "ca.crt"), []byte("junk"), 0o644))
		}},
		{"key of another CA", func(t *testing.T, dir string) {
			other := t.TempDir()
			if _, err := LoadOrCreateCA(other); err != nil {
				t.Fatal(err)
			}
			key, err := os.ReadFile(filepath.Join(other, "ca.key"))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "ca.key"), key, 0o600))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if _, err := LoadOrCreateCA(dir); err != nil {
				t.Fatal(err)
			}
			tt.setup(t, dir)
			if _, err := LoadOrCreateCA(dir); !errors.Is(err, ErrPKI) {
				t.Fatalf("LoadOrCreateCA = %v, want ErrPKI", err)
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func leafOf(t *testing.T, c tls.Certificate) *x509.Certificate {
	t.Helper()
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return leaf
}

func TestLoadOrCreateServing(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	first, err := LoadOrCreateServing(dir, ca, []string{"cairn.example"}, []net.IP{net.ParseIP("10.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	leaf := leafOf(t, first)
	for _, h := range append(slices.Clone(DefaultServingHosts), "cairn.example") {
		if !slices.Contains(leaf.DNSNames, h) {
			t.Errorf("serving cert lacks DNS name %q: %v", h, leaf.DNSNames)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.0.0.1"} {
		if !slices.ContainsFunc(leaf.IPAddresses, net.ParseIP(ip).Equal) {
			t.Errorf("serving cert lacks IP %s: %v", ip, leaf.IPAddresses)
		}
	}
	if st, err := os.Stat(filepath.Join(dir, "serving.key")); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("serving.key: %v, %v", st, err)
	}

	serial := func(c tls.Certificate) string { return leafOf(t, c).SerialNumber.String() }
	tests := []struct {
		name    string
		hosts   []string
		ips     []net.IP
		prepare func(t *testing.T)
		reissue bool
	}{
		{name: "same hosts reused", hosts: []string{"cairn.example"}, ips: []net.IP{net.ParseIP("10.0.0.1")}},
		{name: "subset reused", hosts: nil, ips: nil},
		{name: "IP given as host reused", hosts: []string{"10.0.0.1"}},
		{name: "new host reissues", hosts: []string{"other.example"}, reissue: true},
		{name: "new IP reissues", ips: []net.IP{net.ParseIP("10.0.0.2")}, reissue: true},
		{name: "expiring soon reissues", reissue: true, prepare: func(t *testing.T) {
			cert, key, err := ca.IssueServing(DefaultServingHosts, DefaultServingIPs, 10*24*time.Hour)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "serving.crt"), cert, 0o644))
			must(t, os.WriteFile(filepath.Join(dir, "serving.key"), key, 0o600))
		}},
		{name: "signed by another CA reissues", reissue: true, prepare: func(t *testing.T) {
			other, err := LoadOrCreateCA(t.TempDir())
			must(t, err)
			cert, key, err := other.IssueServing(DefaultServingHosts, DefaultServingIPs, time.Hour*24*90)
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "serving.crt"), cert, 0o644))
			must(t, os.WriteFile(filepath.Join(dir, "serving.key"), key, 0o600))
		}},
		{name: "missing key reissues", reissue: true, prepare: func(t *testing.T) {
			must(t, os.Remove(filepath.Join(dir, "serving.key")))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Start each case from a certificate covering everything the
			// reuse cases ask for.
			base, err := LoadOrCreateServing(dir, ca, []string{"cairn.example"}, []net.IP{net.ParseIP("10.0.0.1")})
			must(t, err)
			before := serial(base)
			if tt.prepare != nil {
				tt.prepare(t)
			}
			got, err := LoadOrCreateServing(dir, ca, tt.hosts, tt.ips)
			must(t, err)
			if reissued := serial(got) != before; reissued != tt.reissue {
				t.Fatalf("reissued = %v, want %v", reissued, tt.reissue)
			}
			again, err := LoadOrCreateServing(dir, ca, tt.hosts, tt.ips)
			must(t, err)
			if serial(again) != serial(got) {
				t.Error("certificate not stable across calls")
			}
			if _, err := leafOf(t, got).Verify(x509.VerifyOptions{Roots: ca.Pool(), DNSName: "localhost"}); err != nil {
				t.Errorf("verify: %v", err)
			}
		})
	}
}

// TestTLSHandshake runs a mutual-TLS handshake with the issued certificates.
func TestTLSHandshake(t *testing.T) {
	dir := t.TempDir()
	ca, err := LoadOrCreateCA(dir)
	must(t, err)
	serving, err := LoadOrCreateServing(dir, ca, nil, nil)
	must(t, err)
	certPEM, keyPEM, err := ca.IssueClient(User{Name: "alice", Groups: []string{"devs"}}, time.Hour)
	must(t, err)
	client, err := tls.X509KeyPair(certPEM, keyPEM)
	must(t, err)

	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serving},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	must(t, err)
	defer ln.Close()
	done := make(chan tls.ConnectionState, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(done)
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			close(done)
			return
		}
		done <- tc.ConnectionState()
	}()
	conn, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{
		RootCAs:      ca.Pool(),
		ServerName:   "kubernetes.default.svc",
		Certificates: []tls.Certificate{client},
	})
	must(t, err)
	defer conn.Close()
	must(t, conn.Handshake())
	st, ok := <-done
	if !ok {
		t.Fatal("server handshake failed")
	}
	if len(st.VerifiedChains) == 0 || st.VerifiedChains[0][0].Subject.CommonName != "alice" {
		t.Fatalf("server saw %+v", st.PeerCertificates)
	}
}
