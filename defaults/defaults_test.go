package defaults

import (
	"encoding/json"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// expectEqual compares semantically and shows both objects as JSON on a
// mismatch.
func expectEqual(t *testing.T, got, want any) {
	t.Helper()
	if !apiequality.Semantic.DeepEqual(got, want) {
		t.Errorf("defaulted object mismatch\n got: %s\nwant: %s", mustJSON(t, got), mustJSON(t, want))
	}
}

func minimalContainer() corev1.Container {
	return corev1.Container{Name: "app", Image: "nginx:1.27"}
}

// defaultedContainer is minimalContainer as kube-apiserver stores it.
func defaultedContainer() corev1.Container {
	return corev1.Container{
		Name:                     "app",
		Image:                    "nginx:1.27",
		ImagePullPolicy:          corev1.PullIfNotPresent,
		TerminationMessagePath:   "/dev/termination-log",
		TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

// defaultedTemplateSpec is a pod template with minimalContainer as
// kube-apiserver stores it in a workload.
func defaultedTemplateSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers:                    []corev1.Container{defaultedContainer()},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptrTo(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 "default-scheduler",
	}
}

func labels() map[string]string { return map[string]string{"app": "web"} }

func TestDeploymentGolden(t *testing.T) {
	got := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels()},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{minimalContainer()}},
			},
		},
	}
	Apply(got)
	want := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo(int32(1)),
			Selector: &metav1.LabelSelector{MatchLabels: labels()},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels()},
				Spec:       defaultedTemplateSpec(),
			},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptrTo(intstr.FromString("25%")),
					MaxSurge:       ptrTo(intstr.FromString("25%")),
				},
			},
			RevisionHistoryLimit:    ptrTo(int32(10)),
			ProgressDeadlineSeconds: ptrTo(int32(600)),
		},
	}
	expectEqual(t, got, want)
	// The intstr values must be strings, as kubectl shows them.
	if got.Spec.Strategy.RollingUpdate.MaxSurge.Type != intstr.String {
		t.Errorf("maxSurge type = %v, want string", got.Spec.Strategy.RollingUpdate.MaxSurge.Type)
	}
	// Templates do not get the Pod-only defaults.
	if got.Spec.Template.Spec.EnableServiceLinks != nil || got.Spec.Template.Spec.Priority != nil {
		t.Errorf("pod-only defaults leaked into the template: %s", mustJSON(t, got.Spec.Template.Spec))
	}
}

func TestDeploymentRecreateKeepsNoRollingUpdate(t *testing.T) {
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}}
	Apply(d)
	if d.Spec.Strategy.RollingUpdate != nil {
		t.Errorf("Recreate strategy got rollingUpdate %v", d.Spec.Strategy.RollingUpdate)
	}
}

func TestPodGolden(t *testing.T) {
	got := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers: []corev1.Container{{
				Name:  "app",
				Image: "registry.example.com:5000/team/app@sha256:" + sha256Hex,
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}},
				Env: []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{
					FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
				Resources: corev1.ResourceRequirements{
					Limits:   corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("128Mi")},
					Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")},
				},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					GRPC: &corev1.GRPCAction{Port: 9090}}},
				Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/stop", Port: intstr.FromString("http")}}},
			}},
			Volumes: []corev1.Volume{
				{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s"}}},
				{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
					Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}}}}}},
				{Name: "scratch"},
				{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/var/log"}}},
			},
			Tolerations: []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		},
	}
	Apply(got)

	want := corev1.PodSpec{
		InitContainers: []corev1.Container{{
			Name: "init", Image: "busybox",
			ImagePullPolicy:          corev1.PullAlways,
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		Containers: []corev1.Container{{
			Name:            "app",
			Image:           "registry.example.com:5000/team/app@sha256:" + sha256Hex,
			ImagePullPolicy: corev1.PullIfNotPresent,
			Ports:           []corev1.ContainerPort{{ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
			Env: []corev1.EnvVar{{Name: "NODE", ValueFrom: &corev1.EnvVarSource{
				FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.nodeName"}}}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"cpu": resource.MustParse("500m"), "memory": resource.MustParse("128Mi")},
				Requests: corev1.ResourceList{"cpu": resource.MustParse("100m"), "memory": resource.MustParse("128Mi")},
			},
			LivenessProbe: &corev1.Probe{
				ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
					Path: "/", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			},
			ReadinessProbe: &corev1.Probe{
				ProbeHandler:   corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9090, Service: ptrTo("")}},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3,
			},
			Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{
				Path: "/stop", Port: intstr.FromString("http"), Scheme: corev1.URISchemeHTTP}}},
			TerminationMessagePath:   "/dev/termination-log",
			TerminationMessagePolicy: corev1.TerminationMessageReadFile,
		}},
		Volumes: []corev1.Volume{
			{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptrTo(int32(420))}}},
			{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
				SecretName: "s", DefaultMode: ptrTo(int32(420))}}},
			{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Path: "token", ExpirationSeconds: ptrTo(int64(3600))}}},
				DefaultMode: ptrTo(int32(420))}}},
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
				Path: "/var/log", Type: ptrTo(corev1.HostPathUnset)}}},
		},
		Tolerations:                   []corev1.Toleration{{Key: "k", Operator: corev1.TolerationOpExists}},
		RestartPolicy:                 corev1.RestartPolicyAlways,
		TerminationGracePeriodSeconds: ptrTo(int64(30)),
		DNSPolicy:                     corev1.DNSClusterFirst,
		SecurityContext:               &corev1.PodSecurityContext{},
		SchedulerName:                 "default-scheduler",
		EnableServiceLinks:            ptrTo(true),
		Priority:                      ptrTo(int32(0)),
		PreemptionPolicy:              ptrTo(corev1.PreemptLowerPriority),
	}
	expectEqual(t, got.Spec, want)
}

const sha256Hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestPodPriority(t *testing.T) {
	cases := []struct {
		class      string
		preset     *int32
		wantPrio   *int32
		wantPolicy *corev1.PreemptionPolicy
	}{
		{"", nil, ptrTo(int32(0)), ptrTo(corev1.PreemptLowerPriority)},
		{"system-node-critical", nil, ptrTo(int32(2000001000)), ptrTo(corev1.PreemptLowerPriority)},
		{"system-cluster-critical", nil, ptrTo(int32(2000000000)), ptrTo(corev1.PreemptLowerPriority)},
		// A user-defined class needs a PriorityClass lookup: left alone.
		{"high", nil, nil, nil},
		{"", ptrTo(int32(7)), ptrTo(int32(7)), ptrTo(corev1.PreemptLowerPriority)},
	}
	for _, c := range cases {
		p := &corev1.Pod{Spec: corev1.PodSpec{PriorityClassName: c.class, Priority: c.preset}}
		Apply(p)
		if !apiequality.Semantic.DeepEqual(p.Spec.Priority, c.wantPrio) || !apiequality.Semantic.DeepEqual(p.Spec.PreemptionPolicy, c.wantPolicy) {
			t.Errorf("class %q: priority %v policy %v, want %v %v", c.class, p.Spec.Priority, p.Spec.PreemptionPolicy, c.wantPrio, c.wantPolicy)
		}
	}
}

func TestPodHostNetworkPorts(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
		Name: "a", Image: "x", Ports: []corev1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 81, HostPort: 81}}}}}}
	Apply(p)
	if got := p.Spec.Containers[0].Ports[0].HostPort; got != 80 {
		t.Errorf("hostPort = %d, want 80", got)
	}
}

func TestImagePullPolicy(t *testing.T) {
	cases := map[string]corev1.PullPolicy{
		"nginx":                                      corev1.PullAlways,
		"nginx:latest":                               corev1.PullAlways,
		"nginx:1.27":                                 corev1.PullIfNotPresent,
		"library/nginx":                              corev1.PullAlways,
		"docker.io/library/nginx:latest":             corev1.PullAlways,
		"registry.example.com:5000/app":              corev1.PullAlways,
		"registry.example.com:5000/app:v1":           corev1.PullIfNotPresent,
		"localhost/app:latest":                       corev1.PullAlways,
		"ghcr.io/org/app@sha256:" + sha256Hex:        corev1.PullIfNotPresent,
		"ghcr.io/org/app:latest@sha256:" + sha256Hex: corev1.PullAlways,
		"ghcr.io/org/app:v2@sha256:" + sha256Hex:     corev1.PullIfNotPresent,
		"[::1]:5000/app":                             corev1.PullAlways,
		// Names Kubernetes cannot parse default to IfNotPresent.
		"":                      corev1.PullIfNotPresent,
		"Nginx":                 corev1.PullIfNotPresent,
		"nginx:":                corev1.PullIfNotPresent,
		"a/b@sha256:abc":        corev1.PullIfNotPresent,
		sha256Hex:               corev1.PullIfNotPresent,
		"app@md5:" + sha256Hex:  corev1.PullIfNotPresent,
		" nginx":                corev1.PullIfNotPresent,
		"example.com/UPPER:tag": corev1.PullIfNotPresent,
	}
	for image, want := range cases {
		if got := pullPolicy(image); got != want {
			t.Errorf("pullPolicy(%q) = %s, want %s", image, got, want)
		}
	}
}

func TestServiceDefaults(t *testing.T) {
	ports := func() []corev1.ServicePort { return []corev1.ServicePort{{Port: 80}} }
	cluster := ptrTo(corev1.ServiceInternalTrafficPolicyCluster)
	single := ptrTo(corev1.IPFamilyPolicySingleStack)
	defaultedPorts := []corev1.ServicePort{{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(80)}}
	cases := []struct {
		name string
		in   corev1.ServiceSpec
		want corev1.ServiceSpec
	}{
		{"clusterIP", corev1.ServiceSpec{Ports: ports(), Selector: labels()}, corev1.ServiceSpec{
			Ports: defaultedPorts, Selector: labels(), Type: corev1.ServiceTypeClusterIP,
			SessionAffinity: corev1.ServiceAffinityNone, InternalTrafficPolicy: cluster, IPFamilyPolicy: single}},
		{"nodePort", corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: ports()}, corev1.ServiceSpec{
			Ports: defaultedPorts, Type: corev1.ServiceTypeNodePort, SessionAffinity: corev1.ServiceAffinityNone,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: cluster, IPFamilyPolicy: single}},
		{"loadBalancer", corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: ports()}, corev1.ServiceSpec{
			Ports: defaultedPorts, Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityNone,
			ExternalTrafficPolicy: corev1.ServiceExternalTrafficPolicyCluster, InternalTrafficPolicy: cluster,
			AllocateLoadBalancerNodePorts: ptrTo(true), IPFamilyPolicy: single}},
		{"externalName", corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}, corev1.ServiceSpec{
			Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone}},
		{"headless without selector", corev1.ServiceSpec{ClusterIP: "None"}, corev1.ServiceSpec{
			ClusterIP: "None", Type: corev1.ServiceTypeClusterIP, SessionAffinity: corev1.ServiceAffinityNone,
			InternalTrafficPolicy: cluster, IPFamilyPolicy: ptrTo(corev1.IPFamilyPolicyRequireDualStack)}},
		{"named target port and clientIP affinity", corev1.ServiceSpec{
			Ports:           []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolUDP}},
			SessionAffinity: corev1.ServiceAffinityClientIP}, corev1.ServiceSpec{
			Ports:           []corev1.ServicePort{{Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolUDP}},
			SessionAffinity: corev1.ServiceAffinityClientIP,
			SessionAffinityConfig: &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{
				TimeoutSeconds: ptrTo(int32(10800))}},
			Type: corev1.ServiceTypeClusterIP, InternalTrafficPolicy: cluster, IPFamilyPolicy: single}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := &corev1.Service{Spec: c.in}
			Apply(svc)
			expectEqual(t, svc.Spec, c.want)
		})
	}
}

func TestCoreKinds(t *testing.T) {
	t.Run("namespace", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
		Apply(ns)
		expectEqual(t, ns, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "team-a", Labels: map[string]string{"kubernetes.io/metadata.name": "team-a"}},
			Spec:       corev1.NamespaceSpec{Finalizers: []corev1.FinalizerName{"kubernetes"}},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		})
		// A namespace being deleted does not get its finalizer back.
		now := metav1.Now()
		deleting := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "x", DeletionTimestamp: &now},
			Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
		Apply(deleting)
		if len(deleting.Spec.Finalizers) != 0 || deleting.Status.Phase != corev1.NamespaceTerminating {
			t.Errorf("terminating namespace changed: %s", mustJSON(t, deleting))
		}
	})
	t.Run("secret", func(t *testing.T) {
		s := &corev1.Secret{}
		Apply(s)
		if s.Type != corev1.SecretTypeOpaque {
			t.Errorf("type = %q", s.Type)
		}
	})
	t.Run("pvc", func(t *testing.T) {
		pvc := &corev1.PersistentVolumeClaim{}
		Apply(pvc)
		if *pvc.Spec.VolumeMode != corev1.PersistentVolumeFilesystem || pvc.Status.Phase != corev1.ClaimPending {
			t.Errorf("pvc = %s", mustJSON(t, pvc))
		}
	})
	t.Run("pv", func(t *testing.T) {
		pv := &corev1.PersistentVolume{}
		Apply(pv)
		expectEqual(t, pv, &corev1.PersistentVolume{
			Spec: corev1.PersistentVolumeSpec{
				PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
				VolumeMode:                    ptrTo(corev1.PersistentVolumeFilesystem),
			},
			Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumePending},
		})
	})
	t.Run("replicationController", func(t *testing.T) {
		rc := &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{
			Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels()},
				Spec: corev1.PodSpec{Containers: []corev1.Container{minimalContainer()}}}}}
		Apply(rc)
		expectEqual(t, rc, &corev1.ReplicationController{
			ObjectMeta: metav1.ObjectMeta{Labels: labels()},
			Spec: corev1.ReplicationControllerSpec{
				Replicas: ptrTo(int32(1)),
				Selector: labels(),
				Template: &corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels()}, Spec: defaultedTemplateSpec()},
			},
		})
	})
	t.Run("endpoints", func(t *testing.T) {
		ep := &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}
		Apply(ep)
		if ep.Subsets[0].Ports[0].Protocol != corev1.ProtocolTCP {
			t.Errorf("protocol = %q", ep.Subsets[0].Ports[0].Protocol)
		}
	})
	t.Run("node", func(t *testing.T) {
		n := &corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"cpu": resource.MustParse("4")}}}
		Apply(n)
		expectEqual(t, n.Status.Allocatable, corev1.ResourceList{"cpu": resource.MustParse("4")})
		empty := &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/24"}}
		Apply(empty)
		expectEqual(t, empty, &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.0.0.0/24"}})
	})
	t.Run("limitRange", func(t *testing.T) {
		lr := &corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{
			{Type: corev1.LimitTypeContainer,
				Max:     corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("1Gi")},
				Min:     corev1.ResourceList{"cpu": resource.MustParse("100m"), "ephemeral-storage": resource.MustParse("1Gi")},
				Default: corev1.ResourceList{"memory": resource.MustParse("512Mi")}},
			{Type: corev1.LimitTypePod, Max: corev1.ResourceList{"cpu": resource.MustParse("4")}},
		}}}
		Apply(lr)
		c := lr.Spec.Limits[0]
		expectEqual(t, c.Default, corev1.ResourceList{"cpu": resource.MustParse("2"), "memory": resource.MustParse("512Mi")})
		expectEqual(t, c.DefaultRequest, corev1.ResourceList{"cpu": resource.MustParse("2"),
			"memory": resource.MustParse("512Mi"), "ephemeral-storage": resource.MustParse("1Gi")})
		if p := lr.Spec.Limits[1]; p.Default != nil || p.DefaultRequest != nil {
			t.Errorf("Pod limit got defaults: %s", mustJSON(t, p))
		}
	})
	t.Run("resourceRounding", func(t *testing.T) {
		p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "x",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{"cpu": resource.MustParse("0.0001")}}}}}}
		Apply(p)
		if got := p.Spec.Containers[0].Resources.Requests.Cpu().String(); got != "1m" {
			t.Errorf("cpu rounded to %s, want 1m", got)
		}
	})
}

func TestAppsKinds(t *testing.T) {
	template := func() corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels()},
			Spec: corev1.PodSpec{Containers: []corev1.Container{minimalContainer()}}}
	}
	defaultedTemplate := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels()}, Spec: defaultedTemplateSpec()}
	sel := &metav1.LabelSelector{MatchLabels: labels()}

	t.Run("replicaSet", func(t *testing.T) {
		rs := &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Selector: sel, Template: template()}}
		Apply(rs)
		expectEqual(t, rs.Spec, appsv1.ReplicaSetSpec{Replicas: ptrTo(int32(1)), Selector: sel, Template: defaultedTemplate})
	})
	t.Run("statefulSet", func(t *testing.T) {
		sts := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Selector: sel, Template: template(),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"}}}}}
		Apply(sts)
		expectEqual(t, sts.Spec, appsv1.StatefulSetSpec{
			Replicas:            ptrTo(int32(1)),
			Selector:            sel,
			Template:            defaultedTemplate,
			PodManagementPolicy: appsv1.OrderedReadyPodManagement,
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{
				Type: appsv1.RollingUpdateStatefulSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{
					Partition: ptrTo(int32(0)), MaxUnavailable: ptrTo(intstr.FromInt32(1))},
			},
			RevisionHistoryLimit: ptrTo(int32(10)),
			PersistentVolumeClaimRetentionPolicy: &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
				WhenDeleted: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
				WhenScaled:  appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
			},
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
				ObjectMeta: metav1.ObjectMeta{Name: "data"},
				Spec:       corev1.PersistentVolumeClaimSpec{VolumeMode: ptrTo(corev1.PersistentVolumeFilesystem)},
				Status:     corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending},
			}},
		})
	})
	t.Run("statefulSetOnDelete", func(t *testing.T) {
		sts := &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}}}
		Apply(sts)
		if sts.Spec.UpdateStrategy.RollingUpdate != nil {
			t.Errorf("OnDelete got rollingUpdate")
		}
	})
	t.Run("daemonSet", func(t *testing.T) {
		ds := &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Selector: sel, Template: template()}}
		Apply(ds)
		expectEqual(t, ds.Spec, appsv1.DaemonSetSpec{
			Selector: sel,
			Template: defaultedTemplate,
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type: appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{
					MaxUnavailable: ptrTo(intstr.FromInt32(1)), MaxSurge: ptrTo(intstr.FromInt32(0))},
			},
			RevisionHistoryLimit: ptrTo(int32(10)),
		})
	})
}

func TestRBACAndAdmission(t *testing.T) {
	t.Run("roleBinding", func(t *testing.T) {
		rb := &rbacv1.RoleBinding{
			RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"},
			Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "Group", Name: "devs"},
				{Kind: "ServiceAccount", Name: "default", Namespace: "ns"}},
		}
		Apply(rb)
		expectEqual(t, rb, &rbacv1.RoleBinding{
			RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "r"},
			Subjects: []rbacv1.Subject{
				{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "alice"},
				{Kind: "Group", APIGroup: "rbac.authorization.k8s.io", Name: "devs"},
				{Kind: "ServiceAccount", Name: "default", Namespace: "ns"}},
		})
	})
	t.Run("clusterRoleBinding", func(t *testing.T) {
		crb := &rbacv1.ClusterRoleBinding{Subjects: []rbacv1.Subject{{Kind: "User", Name: "bob"}}}
		Apply(crb)
		if crb.Subjects[0].APIGroup != rbacv1.GroupName || crb.RoleRef.APIGroup != rbacv1.GroupName {
			t.Errorf("crb = %s", mustJSON(t, crb))
		}
	})
	policyMatch := func() *admissionregistrationv1.MatchResources {
		return &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
			RuleWithOperations: admissionregistrationv1.RuleWithOperations{
				Operations: []admissionregistrationv1.OperationType{"CREATE"},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{"apps"}, APIVersions: []string{"v1"}, Resources: []string{"deployments"}},
			}}}}
	}
	defaultedMatch := func() *admissionregistrationv1.MatchResources {
		m := policyMatch()
		m.MatchPolicy = ptrTo(admissionregistrationv1.Equivalent)
		m.NamespaceSelector = &metav1.LabelSelector{}
		m.ObjectSelector = &metav1.LabelSelector{}
		m.ResourceRules[0].Scope = ptrTo(admissionregistrationv1.AllScopes)
		return m
	}
	t.Run("validatingAdmissionPolicy", func(t *testing.T) {
		p := &admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			MatchConstraints: policyMatch(),
			Validations:      []admissionregistrationv1.Validation{{Expression: "true"}},
		}}
		Apply(p)
		expectEqual(t, p.Spec, admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy:    ptrTo(admissionregistrationv1.Fail),
			MatchConstraints: defaultedMatch(),
			Validations:      []admissionregistrationv1.Validation{{Expression: "true"}},
		})
	})
	t.Run("validatingAdmissionPolicyBinding", func(t *testing.T) {
		b := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: "p", MatchResources: policyMatch()}}
		Apply(b)
		expectEqual(t, b.Spec.MatchResources, defaultedMatch())
		nilMatch := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{}
		Apply(nilMatch)
		if nilMatch.Spec.MatchResources != nil {
			t.Errorf("nil matchResources was created")
		}
	})
	t.Run("webhooks", func(t *testing.T) {
		c := &admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "w.example.com", ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service: &admissionregistrationv1.ServiceReference{Namespace: "ns", Name: "svc"}}}}}
		Apply(c)
		w := c.Webhooks[0]
		if *w.FailurePolicy != admissionregistrationv1.Fail || *w.TimeoutSeconds != 30 || *w.ClientConfig.Service.Port != 443 ||
			*w.ReinvocationPolicy != admissionregistrationv1.NeverReinvocationPolicy || w.AdmissionReviewVersions[0] != "v1" {
			t.Errorf("webhook = %s", mustJSON(t, w))
		}
	})
}

// everyKind returns one non-trivial object of each kind Apply knows.
func everyKind() []runtime.Object {
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels()}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "a", Image: "a", LivenessProbe: &corev1.Probe{
			ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(1)}}},
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": resource.MustParse("1.5")}}}},
		Volumes: []corev1.Volume{{Name: "v"}, {Name: "r", VolumeSource: corev1.VolumeSource{RBD: &corev1.RBDVolumeSource{}}},
			{Name: "e", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}}},
	}}
	match := &admissionregistrationv1.MatchResources{}
	return []runtime.Object{
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: tmpl.Spec},
		&corev1.PodTemplate{Template: tmpl},
		&corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Ports: []corev1.ServicePort{{Port: 80}},
			SessionAffinity: corev1.ServiceAffinityClientIP},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ns"}},
		&corev1.Secret{},
		&corev1.ConfigMap{},
		&corev1.PersistentVolumeClaim{},
		&corev1.PersistentVolume{Spec: corev1.PersistentVolumeSpec{PersistentVolumeSource: corev1.PersistentVolumeSource{
			AzureDisk: &corev1.AzureDiskVolumeSource{}}}},
		&corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: tmpl.DeepCopy()}},
		&corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 1}}}}},
		&corev1.Node{Status: corev1.NodeStatus{Capacity: corev1.ResourceList{"memory": resource.MustParse("1Gi")}}},
		&corev1.LimitRange{Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer,
			Max: corev1.ResourceList{"cpu": resource.MustParse("1")}}}}},
		&corev1.ResourceQuota{Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{"pods": resource.MustParse("10")}}},
		&appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: tmpl}},
		&appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: tmpl}},
		&appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: tmpl, VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}},
		&appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: tmpl}},
		&rbacv1.RoleBinding{Subjects: []rbacv1.Subject{{Kind: "User"}}},
		&rbacv1.ClusterRoleBinding{Subjects: []rbacv1.Subject{{Kind: "Group"}}},
		&admissionregistrationv1.ValidatingAdmissionPolicy{Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{MatchConstraints: match}},
		&admissionregistrationv1.ValidatingAdmissionPolicyBinding{Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{MatchResources: match.DeepCopy()}},
		&admissionregistrationv1.ValidatingWebhookConfiguration{Webhooks: []admissionregistrationv1.ValidatingWebhook{{Name: "v"}}},
		&admissionregistrationv1.MutatingWebhookConfiguration{Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: "m"}}},
	}
}

func TestIdempotent(t *testing.T) {
	for _, obj := range everyKind() {
		Apply(obj)
		once := obj.DeepCopyObject()
		onceJSON := mustJSON(t, once)
		Apply(obj)
		if !apiequality.Semantic.DeepEqual(obj, once) || mustJSON(t, obj) != onceJSON {
			t.Errorf("%T: second Apply changed the object\nonce:  %s\ntwice: %s", obj, onceJSON, mustJSON(t, obj))
		}
	}
}

func TestUnknownAndNil(t *testing.T) {
	cm := &corev1.ConfigMapList{Items: []corev1.ConfigMap{{}}}
	Apply(cm)
	if cm.Items[0].Data != nil {
		t.Errorf("unknown type was changed")
	}
	sa := &corev1.ServiceAccount{}
	Apply(sa)
	expectEqual(t, sa, &corev1.ServiceAccount{})
	Apply(nil)
	Apply((*corev1.Pod)(nil))
	Apply((*appsv1.Deployment)(nil))
}
