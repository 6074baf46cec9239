package gitsync

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// WebhookPrefix is where the receiver listens: POST
// /hooks/git/<namespace>/<name> triggers a fetch of that GitRepository.
const WebhookPrefix = "/hooks/git/"

// WebhookSecretKey is the key, in the Secret a GitRepository's
// spec.secretRef names, of the shared secret pushes are signed with.
const WebhookSecretKey = "webhook-secret"

// maxWebhookBody bounds what the receiver reads: a push event is small.
const maxWebhookBody = 1 << 20

// Webhook receives push notifications from GitHub, Gitea and GitLab. A
// request must carry a valid signature of its body (GitHub's
// X-Hub-Signature-256 or Gitea's X-Gitea-Signature, HMAC-SHA256 with the
// source's webhook secret) or GitLab's X-Gitlab-Token equal to it;
// sources without a webhook secret accept no webhook. Each source takes
// at most one trigger per second (a burst of 3); more get 429.
type Webhook struct {
	Client     kubernetes.Interface
	Controller *Controller

	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

func (w *Webhook) ServeHTTP(rw http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost {
		rw.Header().Set("Allow", http.MethodPost)
		http.Error(rw, "POST only", http.StatusMethodNotAllowed)
		return
	}
	parts := strings.Split(strings.TrimPrefix(req.URL.Path, WebhookPrefix), "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		http.Error(rw, "want "+WebhookPrefix+"<namespace>/<name>", http.StatusNotFound)
		return
	}
	ns, name := parts[0], parts[1]
	body, err := io.ReadAll(io.LimitReader(req.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(rw, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	secret, found := w.secret(ctx, ns, name)
	if !found {
		// The same answer for a missing source and a bad signature: the
		// receiver does not tell strangers which sources exist.
		http.Error(rw, "unknown source or bad signature", http.StatusUnauthorized)
		return
	}
	if len(secret) == 0 || !signed(req, body, secret) {
		http.Error(rw, "unknown source or bad signature", http.StatusUnauthorized)
		return
	}
	if !w.limiter(ns + "/" + name).Allow() {
		http.Error(rw, "too many triggers", http.StatusTooManyRequests)
		return
	}
	if !w.Controller.Trigger(ns, name) {
		http.Error(rw, "source not running", http.StatusServiceUnavailable)
		return
	}
	rw.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(rw, "fetch triggered\n")
}

// secret is the source's webhook secret; found is false when there is
// no such source.
func (w *Webhook) secret(ctx context.Context, ns, name string) ([]byte, bool) {
	r, ok := w.Controller.source(ns, name)
	if !ok {
		return nil, false
	}
	if r.Spec.SecretRef == nil {
		return nil, true
	}
	s, err := w.Client.CoreV1().Secrets(ns).Get(ctx, r.Spec.SecretRef.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || err != nil {
		return nil, true
	}
	return s.Data[WebhookSecretKey], true
}

func (w *Webhook) limiter(key string) *rate.Limiter {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.limiters == nil {
		w.limiters = map[string]*rate.Limiter{}
	}
	l := w.limiters[key]
	if l == nil {
		l = rate.NewLimiter(rate.Every(time.Second), 3)
		w.limiters[key] = l
	}
	return l
}

// signed checks GitHub's, Gitea's or GitLab's proof of the secret.
func signed(req *http.Request, body, secret []byte) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	if sig := req.Header.Get("X-Hub-Signature-256"); sig != "" {
		got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
		return err == nil && strings.HasPrefix(sig, "sha256=") && hmac.Equal(got, want)
	}
	if sig := req.Header.Get("X-Gitea-Signature"); sig != "" {
		got, err := hex.DecodeString(sig)
		return err == nil && hmac.Equal(got, want)
	}
	if tok := req.Header.Get("X-Gitlab-Token"); tok != "" {
		return subtle.ConstantTimeCompare([]byte(tok), secret) == 1
	}
	return false
}
