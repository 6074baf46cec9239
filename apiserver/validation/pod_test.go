package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validPodSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  "app",
			Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
			Env:   []corev1.EnvVar{{Name: "MODE", Value: "prod"}, {Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{"cpu": resource.MustParse("1"), "memory": resource.MustParse("256Mi")},
				Requests: corev1.ResourceList{"cpu": resource.MustParse("100m")},
			},
			VolumeMounts:   []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromString("http")}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(80)}}},
		}},
		InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Command: []string{"true"}}},
		Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "app-config"}}}}},
		Tolerations: []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "web", Effect: corev1.TaintEffectNoSchedule}},
	}
}

func validPod(mut func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: objectMeta("web-0"), Spec: validPodSpec()}
	if mut != nil {
		mut(p)
	}
	return defaulted(p)
}

func TestPod(t *testing.T) {
	c0 := "spec.containers[0]"
	runCases(t, []testCase{
		{"valid", validPod(nil), nil, nil},
		{"no containers", validPod(func(p *corev1.Pod) { p.Spec.Containers = nil }), nil, []want{req("spec.containers")}},
		{"container name", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Name = "App_1" }), nil, []want{inv(c0 + ".name")}},
		{"container name required", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }), nil, []want{req(c0 + ".name")}},
		{"duplicate container names", validPod(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "app", Image: "x"})
		}), nil, []want{dup("spec.containers[1].name")}},
		{"init container named like a container", validPod(func(p *corev1.Pod) { p.Spec.InitContainers[0].Name = "app" }), nil,
			[]want{dup("spec.initContainers[0].name")}},
		{"image required", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }), nil, []want{req(c0 + ".image")}},
		{"image whitespace", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }), nil, []want{inv(c0 + ".image")}},
		{"port out of range", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }), nil,
			[]want{inv(c0 + ".ports[0].containerPort")}},
		{"port required", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }), nil,
			[]want{req(c0 + ".ports[0].containerPort")}},
		{"duplicate port names", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81})
		}), nil, []want{dup(c0 + ".ports[1].name")}},
		{"port protocol", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "HTTP" }), nil,
			[]want{notSup(c0 + ".ports[0].protocol")}},
		{"host port conflict", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 8080}, {ContainerPort: 81, HostPort: 8080}}
		}), nil, []want{dup(c0 + ".ports[1].hostPort")}},
		{"requests above limits", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"cpu": resource.MustParse("2")}
		}), nil, []want{inv(c0 + ".resources.requests")}},
		{"negative quantity", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"cpu": resource.MustParse("-1")}
			p.Spec.Containers[0].Resources.Requests = nil
		}), nil, []want{inv(c0 + ".resources.limits[cpu]"), inv(c0 + ".resources.requests[cpu]")}},
		{"unknown resource", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"gpus": resource.MustParse("1")}
			p.Spec.Containers[0].Resources.Requests = nil
			// Kubernetes reports both "standard resource type" and
			// "standard resource for containers".
		}), nil, []want{inv(c0 + ".resources.limits[gpus]"), inv(c0 + ".resources.limits[gpus]"),
			inv(c0 + ".resources.requests[gpus]"), inv(c0 + ".resources.requests[gpus]")}},
		{"extended resource must have equal requests", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{"example.com/gpu": resource.MustParse("2")}
			p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{"example.com/gpu": resource.MustParse("1")}
		}), nil, []want{inv(c0 + ".resources.requests")}},
		{"restartPolicy", validPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }), nil, []want{notSup("spec.restartPolicy")}},
		{"restartPolicy OnFailure", validPod(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }), nil, nil},
		{"dnsPolicy", validPod(func(p *corev1.Pod) { p.Spec.DNSPolicy = "Cluster" }), nil, []want{notSup("spec.dnsPolicy")}},
		{"dnsPolicy None needs dnsConfig", validPod(func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }), nil, []want{req("spec.dnsConfig")}},
		{"volume mount to missing volume", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "nope" }), nil,
			[]want{notFound(c0 + ".volumeMounts[0].name")}},
		{"mountPath required", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" }), nil,
			[]want{req(c0 + ".volumeMounts[0].mountPath")}},
		{"subPath escapes", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "../x" }), nil,
			[]want{inv(c0 + ".volumeMounts.subPath")}},
		{"volume name", validPod(func(p *corev1.Pod) {
			p.Spec.Volumes[0].Name = "Config"
			p.Spec.Containers[0].VolumeMounts = nil
		}), nil, []want{inv("spec.volumes[0].name")}},
		{"duplicate volume", validPod(func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) }), nil,
			[]want{dup("spec.volumes[1].name")}},
		{"two volume sources", validPod(func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = &corev1.EmptyDirVolumeSource{} }), nil,
			[]want{forbidden("spec.volumes[0].configMap"), notFound(c0 + ".volumeMounts[0].name")}},
		{"configMap name required", validPod(func(p *corev1.Pod) { p.Spec.Volumes[0].ConfigMap.Name = "" }), nil,
			[]want{req("spec.volumes[0].configMap.name"), notFound(c0 + ".volumeMounts[0].name")}},
		{"secret defaultMode", validPod(func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{
				Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr(int32(01000))}}})
		}), nil, []want{inv("spec.volumes[1].secret.defaultMode")}},
		{"hostPath required", validPod(func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}})
		}), nil, []want{req("spec.volumes[1].hostPath.path")}},
		{"pvc claimName", validPod(func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "d", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}})
		}), nil, []want{req("spec.volumes[1].persistentVolumeClaim.claimName")}},
		{"env name", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" }), nil, []want{inv(c0 + ".env[0].name")}},
		{"env value and valueFrom", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Env[1].Value = "x" }), nil,
			[]want{inv(c0 + ".env[1].valueFrom")}},
		{"env fieldRef path", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].Env[1].ValueFrom.FieldRef.FieldPath = "metadata.labels" }), nil,
			[]want{notSup(c0 + ".env[1].valueFrom.fieldRef.fieldPath")}},
		{"env secret key", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[1].ValueFrom = &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
				LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}
		}), nil, []want{req(c0 + ".env[1].valueFrom.secretKeyRef.key")}},
		{"envFrom needs a source", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}}
		}), nil, []want{inv(c0 + ".envFrom")}},
		{"probe without handler", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.HTTPGet = nil }), nil,
			[]want{req(c0 + ".livenessProbe")}},
		{"probe with two handlers", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}), nil, []want{forbidden(c0 + ".livenessProbe.httpGet")}},
		{"liveness successThreshold", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.SuccessThreshold = 2 }), nil,
			[]want{inv(c0 + ".livenessProbe.successThreshold")}},
		{"probe port", validPod(func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.TCPSocket.Port = intstr.FromInt32(0) }), nil,
			[]want{inv(c0 + ".readinessProbe.tcpSocket.port")}},
		{"probe on plain init container", validPod(func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}), nil, []want{forbidden("spec.initContainers[0].readinessProbe")}},
		{"sidecar init container", validPod(func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			p.Spec.InitContainers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
		}), nil, nil},
		{"container restartPolicy", validPod(func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}), nil, []want{forbidden(c0 + ".restartPolicy")}},
		{"toleration operator", validPod(func(p *corev1.Pod) { p.Spec.Tolerations[0].Operator = "In" }), nil,
			[]want{notSup("spec.tolerations[0].operator")}},
		{"toleration effect", validPod(func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = "NoRun" }), nil,
			[]want{notSup("spec.tolerations[0].effect")}},
		{"toleration seconds need NoExecute", validPod(func(p *corev1.Pod) { p.Spec.Tolerations[0].TolerationSeconds = ptr(int64(5)) }), nil,
			[]want{inv("spec.tolerations[0].effect")}},
		{"nodeSelector", validPod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "fast ssd"} }), nil,
			[]want{inv("spec.nodeSelector")}},
		{"serviceAccountName", validPod(func(p *corev1.Pod) { p.Spec.ServiceAccountName = "Builder" }), nil,
			[]want{inv("spec.serviceAccountName")}},
		{"activeDeadlineSeconds", validPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) }), nil,
			[]want{inv("spec.activeDeadlineSeconds")}},
		{"terminationGracePeriodSeconds required", validPod(func(p *corev1.Pod) {}), nil, nil},
		{"hostNetwork hostPort", validPod(func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 81
		}), nil, []want{inv(c0 + ".ports[0].hostPort")}},
		{"runAsUser", validPod(func(p *corev1.Pod) {
			p.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr(int64(-1))}
		}), nil, []want{inv("spec.securityContext.runAsUser")}},
		{"node affinity", validPod(func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}), nil, []want{req("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")}},
		{"topology spread", validPod(func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, WhenUnsatisfiable: corev1.DoNotSchedule}}
		}), nil, []want{inv("spec.topologySpreadConstraints[0].maxSkew"), req("spec.topologySpreadConstraints[0].topologyKey")}},
		{"ephemeral containers on create", validPod(func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox"}}}
		}), nil, []want{forbidden("spec.ephemeralContainers")}},
		{"pod deletion cost", validPod(func(p *corev1.Pod) {
			p.Annotations = map[string]string{"controller.kubernetes.io/pod-deletion-cost": "high"}
		}), nil, []want{inv("metadata.annotations[controller.kubernetes.io/pod-deletion-cost]")}},
	})
}

// A Pod that was not defaulted misses what Kubernetes requires after
// defaulting.
func TestPodNotDefaulted(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: objectMeta("p"), Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a", Image: "a"}}}}
	checkErrors(t, Validate(p, nil), []want{
		req("spec.terminationGracePeriodSeconds"), req("spec.containers[0].terminationMessagePolicy"),
		req("spec.containers[0].imagePullPolicy"), req("spec.restartPolicy"), req("spec.dnsPolicy"),
	})
}

func TestPodUpdate(t *testing.T) {
	old := validPod(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(100)) })
	upd := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := old.DeepCopy()
		mut(p)
		return p
	}
	negativeGrace := validPod(func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) })
	gated := validPod(func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} })
	runCases(t, []testCase{
		{"unchanged", upd(func(*corev1.Pod) {}), old, nil},
		{"image", upd(func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = "nginx:1.28"
			p.Spec.InitContainers[0].Image = "busybox:1.36"
		}), old, nil},
		{"labels", upd(func(p *corev1.Pod) { p.Labels = map[string]string{"a": "b"} }), old, nil},
		{"lower activeDeadlineSeconds", upd(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(50)) }), old, nil},
		{"raise activeDeadlineSeconds", upd(func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(200)) }), old,
			[]want{inv("spec.activeDeadlineSeconds")}},
		{"add toleration", upd(func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpExists})
		}), old, nil},
		{"remove toleration", upd(func(p *corev1.Pod) { p.Spec.Tolerations = nil }), old, []want{forbidden("spec.tolerations")}},
		{"add container", upd(func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "b", Image: "b",
				ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile})
		}), old, []want{forbidden("spec.containers")}},
		{"other fields", upd(func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }), old, []want{forbidden("spec")}},
		{"container env", upd(func(p *corev1.Pod) { p.Spec.Containers[0].Env = nil }), old, []want{forbidden("spec")}},
		{"grace period from negative to 1", func() runtime.Object {
			p := negativeGrace.DeepCopy()
			p.Spec.TerminationGracePeriodSeconds = ptr(int64(1))
			return p
		}(), negativeGrace, nil},
		{"grace period otherwise", upd(func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(0)) }), old,
			[]want{forbidden("spec")}},
		{"remove scheduling gate", func() runtime.Object {
			p := gated.DeepCopy()
			p.Spec.SchedulingGates = nil
			return p
		}(), gated, nil},
		{"add scheduling gate", upd(func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "x"}} }), old,
			[]want{forbidden("spec.schedulingGates[0].name")}},
		{"rename", upd(func(p *corev1.Pod) { p.Name = "web-1" }), old, []want{inv("metadata.name")}},
	})
}

func TestPodTemplateKind(t *testing.T) {
	pt := defaulted(&corev1.PodTemplate{ObjectMeta: objectMeta("tmpl"), Template: corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}, Spec: validPodSpec()}})
	bad := pt.DeepCopy()
	bad.Template.Spec.Containers[0].Image = ""
	runCases(t, []testCase{
		{"valid", pt, nil, nil},
		{"image", bad, nil, []want{req("template.spec.containers[0].image")}},
	})
}

func ptr[T any](v T) *T { return &v }
