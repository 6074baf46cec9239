package gitsync_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
	"github.com/cairn-dev/cairn/gitsync"
)

func sign(body, secret []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// TestWebhook: a signed push notification applies a new revision at
// once, though the source's interval is an hour; unsigned, badly signed
// and unknown-source requests get 401, floods get 429.
func TestWebhook(t *testing.T) {
	e := start(t)
	r := newRepo(t)
	h1 := r.commit("first", map[string]string{"app.yaml": appYAML})
	secret := []byte("s3cret")
	if _, err := e.admin.CoreV1().Secrets("default").Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "hook"},
		Data:       map[string][]byte{gitsync.WebhookSecretKey: secret},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	src := &gitopsv1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "apps"},
		Spec: gitopsv1.GitRepositorySpec{URL: r.dir, Ref: gitopsv1.GitRef{Branch: "main"}, Prune: true, DefaultNamespace: "default",
			Interval: &metav1.Duration{Duration: time.Hour}, SecretRef: &gitopsv1.LocalObjectReference{Name: "hook"}},
	}
	u, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(src)
	if _, err := e.dyn.Resource(gitRepositories).Namespace("default").Create(e.ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 30*time.Second, "first revision applied", func() bool {
		return e.source("apps").Status.LastAppliedRevision == h1
	})
	srv := httptest.NewServer(&gitsync.Webhook{Client: e.admin, Controller: e.c})
	defer srv.Close()
	post := func(path string, body []byte, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := []byte(`{"ref":"refs/heads/main"}`)
	for _, tc := range []struct {
		name string
		path string
		hdr  map[string]string
		want int
	}{
		{"unsigned", "/hooks/git/default/apps", nil, http.StatusUnauthorized},
		{"bad signature", "/hooks/git/default/apps", map[string]string{"X-Hub-Signature-256": sign(body, []byte("wrong"))}, http.StatusUnauthorized},
		{"unknown source", "/hooks/git/default/nope", map[string]string{"X-Hub-Signature-256": sign(body, secret)}, http.StatusUnauthorized},
		{"bad path", "/hooks/git/apps", map[string]string{"X-Hub-Signature-256": sign(body, secret)}, http.StatusNotFound},
		{"wrong GitLab token", "/hooks/git/default/apps", map[string]string{"X-Gitlab-Token": "nope"}, http.StatusUnauthorized},
	} {
		if got := post(tc.path, body, tc.hdr); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}

	h2 := r.commit("green", map[string]string{"app.yaml": appYAML + "  shade: green\n"})
	pushed := time.Now()
	if got := post("/hooks/git/default/apps", body, map[string]string{"X-Hub-Signature-256": sign(body, secret)}); got != http.StatusAccepted {
		t.Fatalf("signed GitHub push: status %d", got)
	}
	apiservertest.Eventually(t, 10*time.Second, "the pushed revision applied", func() bool {
		cm, ok := e.configMap("shop", "settings")
		return ok && cm.Data["shade"] == "green"
	})
	t.Logf("push to applied through the webhook: %s", time.Since(pushed).Round(time.Millisecond))
	if e.source("apps").Status.LastAttemptedRevision != h2 {
		t.Errorf("status does not show %s", h2)
	}
	// Gitea's and GitLab's forms are accepted too; then the burst is
	// spent and a flood is refused.
	codes := []int{
		post("/hooks/git/default/apps", body, map[string]string{"X-Gitea-Signature": sign(body, secret)[len("sha256="):]}),
		post("/hooks/git/default/apps", body, map[string]string{"X-Gitlab-Token": string(secret)}),
	}
	for i := 0; i < 5; i++ {
		codes = append(codes, post("/hooks/git/default/apps", body, map[string]string{"X-Hub-Signature-256": sign(body, secret)}))
	}
	if codes[0] != http.StatusAccepted || codes[1] != http.StatusAccepted {
		t.Errorf("Gitea and GitLab forms: %v", codes[:2])
	}
	limited := 0
	for _, c := range codes {
		if c == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("7 triggers in a burst were all accepted: %v", codes)
	}
}
