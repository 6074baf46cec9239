package nodee2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// oneShot runs `testapp get url` in a pod on node and says whether it
// got an answer, with the pod's output.
func oneShot(t *testing.T, node, name, url string) (bool, string) {
	t.Helper()
	p := podOn(node, name, testapp("get", "get", url, "--timeout", "3s"))
	p.Spec.RestartPolicy = corev1.RestartPolicyNever
	create(t, p)
	p = waitPod(t, name, "finished", 60*time.Second, func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
	})
	logs, _ := shared.client.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).Do(context.Background()).Raw()
	return p.Status.Phase == corev1.PodSucceeded, string(logs)
}

// TestPodsAcrossNodesAndServices: a pod on node A reaches a pod on node B
// by its IP and through a Service's ClusterIP, and the Service's NodePort
// answers on both nodes' addresses.
func TestPodsAcrossNodesAndServices(t *testing.T) {
	ctx := context.Background()
	server := podOn("e2e-b", "web-server", testapp("app", "serve", "--port", "8080"))
	server.Labels = map[string]string{"app": "web"}
	server.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	create(t, server)
	server = waitPod(t, "web-server", "Running", 60*time.Second, running)
	if !strings.HasPrefix(server.Status.PodIP, "10.244.") {
		t.Fatalf("server pod IP %q", server.Status.PodIP)
	}

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: corev1.ServiceSpec{
		Type:     corev1.ServiceTypeNodePort,
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), NodePort: 30080, Protocol: corev1.ProtocolTCP}},
	}}
	svc, err := shared.client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = shared.client.CoreV1().Services("default").Delete(context.Background(), "web", metav1.DeleteOptions{})
	})

	ok, out := oneShot(t, "e2e-a", "get-pod-ip", fmt.Sprintf("http://%s:8080/", server.Status.PodIP))
	if !ok || !strings.Contains(out, "web-server") {
		t.Errorf("pod on e2e-a to the pod on e2e-b by pod IP: ok=%v output %q", ok, out)
	}

	// The Endpoints controller fills the Service's endpoints; the proxies
	// follow within their minimum sync period.
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		ep, err := shared.client.CoreV1().Endpoints("default").Get(ctx, "web", metav1.GetOptions{})
		if err == nil && len(ep.Subsets) > 0 && len(ep.Subsets[0].Addresses) > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	ok, out = oneShot(t, "e2e-a", "get-cluster-ip", fmt.Sprintf("http://%s:80/", svc.Spec.ClusterIP))
	if !ok || !strings.Contains(out, "web-server") {
		t.Errorf("pod on e2e-a to ClusterIP %s (endpoint on e2e-b): ok=%v output %q", svc.Spec.ClusterIP, ok, out)
	}

	client := &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	for _, n := range shared.nodes {
		url := fmt.Sprintf("http://%s:30080/", n.ip)
		var body string
		var err error
		for range 20 {
			var resp *http.Response
			if resp, err = client.Get(url); err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				body = string(b)
				break
			}
			time.Sleep(500 * time.Millisecond)
		}
		if err != nil || !strings.Contains(body, "web-server") {
			t.Errorf("NodePort on %s (%s): %q %v", n.name, url, body, err)
		}
	}
}
