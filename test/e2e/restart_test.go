package e2e

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// TestRestart restarts the server on the same data dir: objects keep their
// resourceVersions, allocated ClusterIPs are never handed out again, and a
// client resuming its watch from its last resourceVersion loses nothing.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	ts := startServer(t, dir, nil)
	c := ts.client("admin")
	ctx := ctxT(t)

	before := map[string]string{}
	ips := map[string]bool{}
	for i := 0; i < 5; i++ {
		svc, err := c.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("svc-%d", i)},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before[svc.Name] = svc.ResourceVersion
		ips[svc.Spec.ClusterIP] = true
	}
	cm, err := c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"},
		Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A client watching config maps, at its last resourceVersion; other
	// resources change after it, so it is older than the restarted
	// server's watch cache.
	lastRV := cm.ResourceVersion
	if _, err := c.CoreV1().Pods("default").Create(ctx, testPod("later"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	ts.stop()
	ts2 := startServer(t, dir, nil)
	c2 := ts2.client("admin")

	got, err := c2.CoreV1().ConfigMaps("default").Get(ctx, "keep", metav1.GetOptions{})
	if err != nil || got.ResourceVersion != cm.ResourceVersion || got.UID != cm.UID || got.Data["k"] != "v" {
		t.Fatalf("after restart: %+v %v", got, err)
	}
	for name, rv := range before {
		svc, err := c2.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil || svc.ResourceVersion != rv {
			t.Fatalf("service %s after restart: rv %s want %s (%v)", name, svc.ResourceVersion, rv, err)
		}
	}
	// Changes made after the restart, then the client reconnects from lastRV.
	if _, err := c2.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "after-1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c2.CoreV1().ConfigMaps("default").Delete(ctx, "keep", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := c2.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: lastRV})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	want := []string{"ADDED after-1", "DELETED keep"}
	for _, exp := range want {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Error {
				t.Fatalf("resumed watch: %v", apierrors.FromObject(ev.Object))
			}
			if s := fmt.Sprintf("%s %s", ev.Type, ev.Object.(*corev1.ConfigMap).Name); s != exp {
				t.Fatalf("resumed watch: got %q, want %q", s, exp)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("resumed watch: no %q", exp)
		}
	}
	// New services never get an IP handed out before the restart.
	for i := 0; i < 20; i++ {
		svc, err := c2.CoreV1().Services("default").Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("new-%d", i)},
			Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if ips[svc.Spec.ClusterIP] {
			t.Fatalf("ClusterIP %s handed out twice", svc.Spec.ClusterIP)
		}
		ips[svc.Spec.ClusterIP] = true
	}
	var taken string
	for ip := range ips {
		taken = ip
		break
	}
	_, err = c2.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dup"},
		Spec: corev1.ServiceSpec{ClusterIP: taken, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) {
		t.Fatalf("create with a ClusterIP allocated before the restart: want Invalid, got %v", err)
	}
	// The bootstrap is idempotent: still exactly one kubernetes Service.
	if svc, err := c2.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); err != nil || svc.Spec.ClusterIP != "10.96.0.1" {
		t.Fatalf("kubernetes service: %v %v", svc, err)
	}
}
