package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestRequestLimits: bodies over 3 MiB get 413 and deeply nested bodies a
// 400, and the server keeps serving.
func TestRequestLimits(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	c := ts.client("admin")
	ctx := ctxT(t)
	huge := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"huge"},"data":{"a":"` + strings.Repeat("x", 4<<20) + `"}}`
	err := c.CoreV1().RESTClient().Post().Namespace("default").Resource("configmaps").
		SetHeader("Content-Type", "application/json").Body([]byte(huge)).Do(ctx).Error()
	if st, ok := err.(apierrors.APIStatus); !ok || st.Status().Code != http.StatusRequestEntityTooLarge || st.Status().Reason != metav1.StatusReasonRequestEntityTooLarge {
		t.Fatalf("4 MiB body: want 413 RequestEntityTooLarge, got %v", err)
	}
	nested := bytes.Repeat([]byte(`{"a":`), 50000)
	err = c.CoreV1().RESTClient().Post().Namespace("default").Resource("configmaps").
		SetHeader("Content-Type", "application/json").Body(nested).Do(ctx).Error()
	if !apierrors.IsBadRequest(err) {
		t.Fatalf("deeply nested body: want 400, got %v", err)
	}
	if _, err := c.CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("server unwell after bad bodies: %v", err)
	}
}
