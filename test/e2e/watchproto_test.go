package e2e

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// TestProtobufWatch: a client speaking protobuf (as cairn's components
// and kube's do) gets its watch as length-delimited protobuf WatchEvents,
// typed objects, bookmarks and initial events included, and the same
// stream as a JSON client.
func TestProtobufWatch(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	ctx := ctxT(t)
	cfg := rest.CopyConfig(ts.restConfig("admin"))
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	pb := kubernetes.NewForConfigOrDie(cfg)
	js := ts.client("admin")

	if _, err := js.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "before"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	yes := true
	w, err := pb.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{SendInitialEvents: &yes, AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	next := func() watch.Event {
		t.Helper()
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				t.Fatal("watch closed")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
		return watch.Event{}
	}
	ev := next()
	if cm, ok := ev.Object.(*corev1.ConfigMap); ev.Type != watch.Added || !ok || cm.Name != "before" {
		t.Fatalf("initial event %s %T %+v", ev.Type, ev.Object, ev.Object)
	}
	ev = next()
	if cm, ok := ev.Object.(*corev1.ConfigMap); ev.Type != watch.Bookmark || !ok || cm.Annotations["k8s.io/initial-events-end"] != "true" {
		t.Fatalf("end of initial events: %s %T %+v", ev.Type, ev.Object, ev.Object)
	}
	cm, err := js.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev = next()
	got, ok := ev.Object.(*corev1.ConfigMap)
	if ev.Type != watch.Added || !ok || got.Name != "after" || got.Data["k"] != "v" || got.ResourceVersion != cm.ResourceVersion {
		t.Fatalf("added: %s %T %+v", ev.Type, ev.Object, ev.Object)
	}
	if err := js.CoreV1().ConfigMaps("default").Delete(ctx, "after", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if ev = next(); ev.Type != watch.Deleted {
		t.Fatalf("deleted: %s %+v", ev.Type, ev.Object)
	}
}
