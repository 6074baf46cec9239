package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
	"github.com/cairn-dev/cairn/apiserver/apiservertest"
)

// Timestamps the tests print as absolute times (conditions, start
// times, the lease) are fixed; ages are measured from a clock the
// commands are given. Objects' creationTimestamps are the server's own
// and are normalised (normalise) before the golden comparison.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func init() {
	// describe prints local times, as kubectl; the golden files are in UTC.
	time.Local = time.UTC
}

// readCluster is a real API server seeded with three nodes, pods in
// every state, a Deployment with its ReplicaSet and events, read through
// the viewer kubeconfig.
type readCluster struct {
	srv    *apiservertest.Server
	viewer string
	// base is the seeding time: events happened minutes before it, and
	// describe and events run with it as their clock.
	base time.Time
}

func startReadCluster(t *testing.T) *readCluster {
	t.Helper()
	s := apiservertest.Start(t, "", nil)
	rc := &readCluster{srv: s, viewer: s.Kubeconfig("viewer"), base: time.Now().UTC().Truncate(time.Second)}
	seed(t, s.Client("admin"), rc.base)
	seedGitSource(t, dynamic.NewForConfigOrDie(s.RestConfig("admin")))
	return rc
}

// seedGitSource adds the GitRepository default/apps with a refused
// revision in its status, as gitsync writes it.
func seedGitSource(t *testing.T, d dynamic.Interface) {
	t.Helper()
	ctx := context.Background()
	res := d.Resource(gitopsv1.SchemeGroupVersion.WithResource("gitrepositories")).Namespace("default")
	r := &gitopsv1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "apps"},
		Spec: gitopsv1.GitRepositorySpec{URL: "https://git.example/shop/apps.git", Ref: gitopsv1.GitRef{Branch: "main"},
			Path: "clusters/prod", Interval: &metav1.Duration{Duration: time.Minute}, Prune: true},
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(r)
	if err != nil {
		t.Fatal(err)
	}
	created, err := res.Create(ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	when := metav1.NewTime(t0)
	st := gitopsv1.GitRepositoryStatus{
		ObservedGeneration:    1,
		LastAttemptedRevision: "9f3c2a1b7d4e5f60718293a4b5c6d7e8f9012345",
		LastAppliedRevision:   "4e1d2c3b4a5968778695a4b3c2d1e0f9a8b7c6d5",
		LastAppliedTime:       &when,
		Commit:                &gitopsv1.CommitInfo{Author: "Ada <ada@example.com>", Message: "scale web to 3", Time: &when},
		Conditions: []metav1.Condition{{Type: "Ready", Status: metav1.ConditionFalse, Reason: "ValidationFailed", ObservedGeneration: 1,
			LastTransitionTime: when, Message: "revision 9f3c2a1b7d4e refused, 1 error(s); revision 4e1d2c3b4a59 stays applied: web.yaml:7: Deployment/default/web: spec.replicas: Invalid value: \"three\": must be an integer"}},
		Errors: []gitopsv1.SyncError{{File: "web.yaml", Line: 7, Object: "Deployment/default/web", Field: "spec.replicas", Message: "Invalid value: \"three\": must be an integer"}},
	}
	stu, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&st)
	if err != nil {
		t.Fatal(err)
	}
	created.Object["status"] = stu
	if _, err := res.UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func qty(s string) resource.Quantity { return resource.MustParse(s) }

func seed(t *testing.T, c kubernetes.Interface, base time.Time) {
	t.Helper()
	ctx := context.Background()
	at := func(d time.Duration) metav1.Time { return metav1.NewTime(t0.Add(d)) }

	node := func(name, ip, cidr string, ready corev1.ConditionStatus, labels map[string]string, taints []corev1.Taint, cordoned bool) {
		n := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: map[string]string{"cairn.dev/pool": "default"}},
			Spec:       corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}, Taints: taints, Unschedulable: cordoned},
		}
		n = must[*corev1.Node](t)(c.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{}))
		reason, msg := "KubeletReady", "kubelet is posting ready status"
		if ready != corev1.ConditionTrue {
			reason, msg = "NodeStatusUnknown", "Kubelet stopped posting node status."
		}
		n.Status = corev1.NodeStatus{
			Capacity: corev1.ResourceList{corev1.ResourceCPU: qty("4"), corev1.ResourceMemory: qty("8Gi"),
				corev1.ResourcePods: qty("110"), corev1.ResourceEphemeralStorage: qty("50Gi")},
			Allocatable: corev1.ResourceList{corev1.ResourceCPU: qty("3800m"), corev1.ResourceMemory: qty("7Gi"),
				corev1.ResourcePods: qty("110"), corev1.ResourceEphemeralStorage: qty("45Gi")},
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, LastHeartbeatTime: at(time.Hour), LastTransitionTime: at(0),
					Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
				{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: at(time.Hour), LastTransitionTime: at(time.Minute), Reason: reason, Message: msg},
			},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip}, {Type: corev1.NodeHostName, Address: name}},
			NodeInfo: corev1.NodeSystemInfo{MachineID: name + "-machine", SystemUUID: name + "-uuid", BootID: name + "-boot",
				KernelVersion: "6.1.0-18-amd64", OSImage: "Debian GNU/Linux 12 (bookworm)", OperatingSystem: "linux",
				Architecture: "amd64", ContainerRuntimeVersion: "containerd://1.7.13", KubeletVersion: "v1.37.0"},
		}
		must[*corev1.Node](t)(c.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}))
	}
	node("node-1", "10.0.0.1", "10.244.0.0/24", corev1.ConditionTrue,
		map[string]string{"kubernetes.io/hostname": "node-1", "node-role.kubernetes.io/control-plane": ""},
		[]corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}, false)
	node("node-2", "10.0.0.2", "10.244.1.0/24", corev1.ConditionTrue, map[string]string{"kubernetes.io/hostname": "node-2"}, nil, false)
	node("node-3", "10.0.0.3", "10.244.2.0/24", corev1.ConditionUnknown, map[string]string{"kubernetes.io/hostname": "node-3"},
		[]corev1.Taint{{Key: "node.kubernetes.io/unschedulable", Effect: corev1.TaintEffectNoSchedule}}, true)

	holder := "node-1"
	renew := metav1.NewMicroTime(t0.Add(time.Hour))
	must[*coordinationv1.Lease](t)(c.CoordinationV1().Leases("kube-node-lease").Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, RenewTime: &renew},
	}, metav1.CreateOptions{}))
	must[*corev1.Namespace](t)(c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{}))

	replicas := int32(2)
	template := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{ContainerPort: 80, Protocol: corev1.ProtocolTCP}},
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: qty("100m"), corev1.ResourceMemory: qty("128Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: qty("500m"), corev1.ResourceMemory: qty("256Mi")},
			},
		}}},
	}
	maxU, maxS := intstr.FromString("25%"), intstr.FromString("25%")
	dep := must[*appsv1.Deployment](t)(c.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: template,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &maxU, MaxSurge: &maxS}}},
	}, metav1.CreateOptions{}))
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
		Conditions: []appsv1.DeploymentCondition{
			{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable", LastUpdateTime: at(0), LastTransitionTime: at(0)},
			{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable", LastUpdateTime: at(0), LastTransitionTime: at(0)},
		}}
	dep = must[*appsv1.Deployment](t)(c.AppsV1().Deployments("default").UpdateStatus(ctx, dep, metav1.UpdateOptions{}))

	rsTemplate := *template.DeepCopy()
	rsTemplate.Labels["pod-template-hash"] = "7d4b9c"
	yes := true
	rs := must[*appsv1.ReplicaSet](t)(c.AppsV1().ReplicaSets("default").Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-7d4b9c", Labels: rsTemplate.Labels,
			Annotations:     map[string]string{"deployment.kubernetes.io/revision": "1"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &replicas, Template: rsTemplate,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "pod-template-hash": "7d4b9c"}}},
	}, metav1.CreateOptions{}))
	rs.Status = appsv1.ReplicaSetStatus{Replicas: 2, FullyLabeledReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 1}
	rs = must[*appsv1.ReplicaSet](t)(c.AppsV1().ReplicaSets("default").UpdateStatus(ctx, rs, metav1.UpdateOptions{}))

	running := func(ns, name, nodeName, hostIP, podIP string, owned bool, spec corev1.PodSpec, labels map[string]string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels}, Spec: spec}
		p.Spec.NodeName = nodeName
		if owned {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}
		}
		p = must[*corev1.Pod](t)(c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}))
		start := at(2 * time.Minute)
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, HostIP: hostIP, HostIPs: []corev1.HostIP{{IP: hostIP}},
			PodIP: podIP, PodIPs: []corev1.PodIP{{IP: podIP}}, StartTime: &start,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: at(time.Minute)},
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: at(time.Minute)},
				{Type: corev1.ContainersReady, Status: corev1.ConditionTrue, LastTransitionTime: at(3 * time.Minute)},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: at(3 * time.Minute)},
			}}
		for _, ctr := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: ctr.Name, Image: ctr.Image, ImageID: "docker.io/library/" + ctr.Image + "@sha256:0123abcd",
				ContainerID: "containerd://" + name, Ready: true, RestartCount: 1, Started: &yes,
				// No last termination: the server would print its age.
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: at(3 * time.Minute)}},
			})
		}
		return must[*corev1.Pod](t)(c.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}))
	}
	webA := running("default", "web-7d4b9c-abc12", "node-1", "10.0.0.1", "10.244.0.5", true, rsTemplate.Spec, rsTemplate.Labels)
	running("default", "web-7d4b9c-def34", "node-2", "10.0.0.2", "10.244.1.7", true, rsTemplate.Spec, rsTemplate.Labels)
	running("shop", "cart", "node-2", "10.0.0.2", "10.244.1.8", false,
		corev1.PodSpec{Containers: []corev1.Container{{Name: "cart", Image: "shop/cart:2.1"}}}, map[string]string{"app": "cart"})

	pending := must[*corev1.Pod](t)(c.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "batch-1", Labels: map[string]string{"app": "batch"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "job", Image: "busybox:1.36", Command: []string{"sh", "-c", "sleep 3600"},
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: qty("8")}}}},
			NodeSelector: map[string]string{"disk": "ssd"}},
	}, metav1.CreateOptions{}))
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled,
		Status: corev1.ConditionFalse, Reason: "Unschedulable", LastTransitionTime: at(time.Minute),
		Message: "0/3 nodes are available: 3 Insufficient cpu."}}}
	must[*corev1.Pod](t)(c.CoreV1().Pods("default").UpdateStatus(ctx, pending, metav1.UpdateOptions{}))

	must[*corev1.ConfigMap](t)(c.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "settings", Labels: map[string]string{"app": "web"}},
		Data:       map[string]string{"mode": "production", "workers": "4"},
	}, metav1.CreateOptions{}))

	event := func(ns, name, typ, reason, msg, component string, obj corev1.ObjectReference, count int32, first, last time.Duration) {
		must[*corev1.Event](t)(c.CoreV1().Events(ns).Create(ctx, &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, InvolvedObject: obj, Type: typ, Reason: reason, Message: msg,
			Source: corev1.EventSource{Component: component}, Count: count,
			FirstTimestamp: metav1.NewTime(base.Add(-first)), LastTimestamp: metav1.NewTime(base.Add(-last)),
		}, metav1.CreateOptions{}))
	}
	podRef := corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: webA.Name, UID: webA.UID, APIVersion: "v1"}
	event("default", "web-a.1", corev1.EventTypeNormal, "Scheduled", "Successfully assigned default/web-7d4b9c-abc12 to node-1", "default-scheduler", podRef, 1, 50*time.Minute, 50*time.Minute)
	event("default", "web-a.2", corev1.EventTypeNormal, "Pulled", `Container image "nginx:1.27" already present on machine`, "kubelet", podRef, 2, 49*time.Minute, 20*time.Minute)
	event("default", "web.1", corev1.EventTypeNormal, "ScalingReplicaSet", "Scaled up replica set web-7d4b9c to 2", "deployment-controller",
		corev1.ObjectReference{Kind: "Deployment", Namespace: "default", Name: "web", UID: dep.UID, APIVersion: "apps/v1"}, 1, 55*time.Minute, 55*time.Minute)
	event("default", "batch-1.1", corev1.EventTypeWarning, "FailedScheduling", "0/3 nodes are available: 3 Insufficient cpu.", "default-scheduler",
		corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "batch-1", UID: pending.UID, APIVersion: "v1"}, 3, 45*time.Minute, 15*time.Minute)
	event("default", "node-3.1", corev1.EventTypeNormal, "NodeNotSchedulable", "Node node-3 status is now: NodeNotSchedulable", "kubelet",
		corev1.ObjectReference{Kind: "Node", Name: "node-3", UID: "node-3"}, 1, 30*time.Minute, 30*time.Minute)
	event("shop", "cart.1", corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container cart", "kubelet",
		corev1.ObjectReference{Kind: "Pod", Namespace: "shop", Name: "cart", APIVersion: "v1"}, 1, 25*time.Minute, 25*time.Minute)
}

// runRead runs a command with separate stdout and stderr (piped, so
// without colour) and returns both and the exit code.
func runRead(t *testing.T, cmd *cobra.Command, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := &cobra.Command{Use: "cairn", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cmd)
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code = ee.code
		if ee.err != nil {
			errOut.WriteString(ee.err.Error())
		}
	case err != nil:
		code = 2
		errOut.WriteString(err.Error())
	}
	return out.String(), errOut.String(), code
}

var (
	// Ages the server computes from its own creationTimestamps: a test
	// sees them under two minutes old. Ages of seeded events are minutes
	// and stay exact.
	secondsAge = regexp.MustCompile(`\b(1[01][0-9]|[0-9]{1,2})s\b`)
	serverMeta = regexp.MustCompile(`("?(?:uid|resourceVersion|creationTimestamp)"?: )"?[^",\n]*"?`)
	createdAt  = regexp.MustCompile(`(CreationTimestamp:\s+)\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}`)
	outlined   = regexp.MustCompile(`(?m)^(\s*(?:Creation Timestamp|Resource Version|Uid):\s+).*$`)
	trailing   = regexp.MustCompile(`(?m) +$`)
)

// normalise replaces what the server chooses at creation (ages of fresh
// objects, uids, resource versions, creation times) with fixed text of
// the same width, so golden files are stable and columns stay aligned.
func normalise(s string) string {
	s = secondsAge.ReplaceAllStringFunc(s, func(m string) string { return "0s" + strings.Repeat(" ", len(m)-2) })
	s = serverMeta.ReplaceAllString(s, `${1}"<server>"`)
	s = createdAt.ReplaceAllString(s, "${1}Fri, 02 Jan 2026 03:00:00 +0000")
	s = outlined.ReplaceAllString(s, "${1}<server>")
	return trailing.ReplaceAllString(s, "")
}

// TestGetGolden: `cairn get` against a seeded server with the viewer
// kubeconfig prints kubectl's tables (plain, wide, across namespaces,
// several kinds at once) and the full objects as yaml, json, names and
// jsonpath.
func TestGetGolden(t *testing.T) {
	rc := startReadCluster(t)
	cases := []struct {
		golden string
		args   []string
	}{
		{"nodes.txt", []string{"nodes"}},
		{"nodes-wide.txt", []string{"no", "-o", "wide"}},
		{"pods.txt", []string{"po"}},
		{"pods-wide.txt", []string{"pods", "-o", "wide"}},
		{"pods-all-namespaces.txt", []string{"pod", "-A"}},
		{"pods-selector.txt", []string{"pods", "-l", "app=web", "--no-headers"}},
		{"pods-field-selector.txt", []string{"pods", "-A", "--field-selector", "spec.nodeName=node-2"}},
		{"workloads.txt", []string{"deploy,rs,po"}},
		{"deployment-named.txt", []string{"deployments.apps", "web"}},
		{"events.txt", []string{"ev", "-A"}},
		{"componentstatuses.txt", []string{"cs"}},
		{"gitrepositories.txt", []string{"gitrepo", "-A"}},
		{"gitrepository.yaml", []string{"gitrepositories", "apps", "-o", "yaml"}},
		{"pod.yaml", []string{"pod", "web-7d4b9c-abc12", "-o", "yaml"}},
		{"nodes.json", []string{"nodes", "-o", "json"}},
		{"names.txt", []string{"deploy,rs,pods,cm", "-o", "name"}},
		{"jsonpath.txt", []string{"nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}{\"\\t\"}{.status.addresses[0].address}{\"\\n\"}{end}"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			out, errOut, code := runRead(t, newGetCmd(), append([]string{"get", "--kubeconfig", rc.viewer}, tc.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			checkGolden(t, filepath.Join("get", tc.golden), normalise(out))
		})
	}
}

// TestGetNothingFound: an empty listing prints nothing on stdout and
// kubectl's sentence on stderr; unknown kinds and names fail with exit 1.
func TestGetNothingFound(t *testing.T) {
	rc := startReadCluster(t)
	out, errOut, code := runRead(t, newGetCmd(), "get", "--kubeconfig", rc.viewer, "pods", "-n", "kube-public")
	if code != 0 || out != "" || errOut != "No resources found in kube-public namespace.\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = runRead(t, newGetCmd(), "get", "--kubeconfig", rc.viewer, "widgets")
	if code != 1 || !strings.Contains(errOut, `the server doesn't have a resource type "widgets"`) {
		t.Fatalf("unknown kind: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runRead(t, newGetCmd(), "get", "--kubeconfig", rc.viewer, "pod", "nope")
	if code != 1 || !strings.Contains(errOut, `pods "nope" not found`) {
		t.Fatalf("missing pod: exit %d, stderr %q", code, errOut)
	}
	_, _, code = runRead(t, newGetCmd(), "get", "--kubeconfig", rc.viewer, "pods", "-o", "xml")
	if code != 2 {
		t.Fatalf("bad -o: exit %d, want 2", code)
	}
	// Secrets are outside the view role: the server's 403 comes out
	// explained.
	_, errOut, code = runRead(t, newGetCmd(), "get", "--kubeconfig", rc.viewer, "secrets")
	if code != 1 || !strings.Contains(errOut, "this CLI only reads") {
		t.Fatalf("secrets: exit %d, stderr %q", code, errOut)
	}
}

// TestGetShortNames: every short name the brief lists resolves through
// discovery, and the command answers (possibly with nothing found).
func TestGetShortNames(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	for _, short := range []string{"po", "no", "deploy", "rs", "sts", "ds", "svc", "ep", "ev", "cs", "ns", "cm", "pvc", "pv", "sa", "gitrepo"} {
		_, errOut, code := runRead(t, newGetCmd(), "get", "--kubeconfig", s.Kubeconfig("viewer"), short, "-A")
		if code != 0 || (errOut != "" && !strings.HasPrefix(errOut, "No resources found")) {
			t.Errorf("get %s: exit %d, stderr %q", short, code, errOut)
		}
	}
}

// TestGetWatch: -w prints the listing, then a row for each object
// created after it.
func TestGetWatch(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	cmd := newGetCmd()
	root := &cobra.Command{Use: "cairn", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(cmd)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"get", "--kubeconfig", s.Kubeconfig("viewer"), "cm", "-w", "-o", "wide"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	admin := s.Client("admin")
	if _, err := admin.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "first"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 20*time.Second, "the first row", func() bool { return strings.Contains(out.String(), "first") })
	if _, err := admin.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "second"}, Data: map[string]string{"a": "b"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	apiservertest.Eventually(t, 20*time.Second, "the second row", func() bool { return strings.Contains(out.String(), "second") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("watch ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not stop when cancelled")
	}
	got := normalise(out.String())
	if strings.Count(got, "NAME") != 1 || !regexp.MustCompile(`(?m)^second +1 +0s$`).MatchString(got) {
		t.Fatalf("watch output:\n%s", got)
	}
}

// TestViewerIsReadOnly: every command works with the viewer kubeconfig,
// and the viewer identity is refused writes by the server itself (403),
// whatever client it uses.
func TestViewerIsReadOnly(t *testing.T) {
	rc := startReadCluster(t)
	for _, run := range []struct {
		cmd  *cobra.Command
		args []string
	}{
		{newGetCmd(), []string{"get", "nodes,pods,deploy", "-A"}},
		{newComponentStatusesCmd(), []string{"componentstatuses"}},
		{newDescribeCmd(), []string{"describe", "node", "node-1"}},
		{newDescribeCmd(), []string{"describe", "deploy", "web"}},
		{newEventsCmd(), []string{"events", "-A"}},
	} {
		out, errOut, code := runRead(t, run.cmd, append(run.args, "--kubeconfig", rc.viewer)...)
		if code != 0 || out == "" || errOut != "" {
			t.Errorf("%v: exit %d, stderr %q, %d bytes out", run.args, code, errOut, len(out))
		}
	}
	viewer := rc.srv.Client("viewer")
	ctx := context.Background()
	_, err := viewer.CoreV1().ConfigMaps("default").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("viewer create: %v, want 403", err)
	}
	err = viewer.CoreV1().Pods("default").Delete(ctx, "batch-1", metav1.DeleteOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("viewer delete: %v, want 403", err)
	}
	n, err := viewer.CoreV1().Nodes().Get(ctx, "node-3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Spec.Unschedulable = false
	if _, err = viewer.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("viewer uncordon: %v, want 403", err)
	}
	if !strings.Contains(explain(err, "x").Error(), "this CLI only reads") {
		t.Fatalf("explained: %v", explain(err, "x"))
	}
}
