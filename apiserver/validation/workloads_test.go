package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func webLabels() map[string]string { return map[string]string{"app": "web"} }

func validTemplate() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: webLabels()}, Spec: validPodSpec()}
}

func validDeployment(mut func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: objectMeta("web"), Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: webLabels()},
		Template: validTemplate(),
	}}
	if mut != nil {
		mut(d)
	}
	return defaulted(d)
}

func TestDeployment(t *testing.T) {
	tc0 := "spec.template.spec.containers[0]"
	runCases(t, []testCase{
		{"valid", validDeployment(nil), nil, nil},
		{"selector required", validDeployment(func(d *appsv1.Deployment) { d.Spec.Selector = nil }), nil,
			[]want{req("spec.selector"), inv("spec.template.metadata.labels")}},
		{"empty selector", validDeployment(func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} }), nil,
			[]want{inv("spec.selector")}},
		{"selector does not match", validDeployment(func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchLabels = map[string]string{"app": "api"}
		}), nil, []want{inv("spec.template.metadata.labels")}},
		{"selector expression", validDeployment(func(d *appsv1.Deployment) {
			d.Spec.Selector.MatchExpressions = []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Maybe"}}
		}), nil, []want{inv("spec.selector.matchExpressions[0].operator"), inv("spec.selector")}},
		{"negative replicas", validDeployment(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(-1)) }), nil,
			[]want{inv("spec.replicas")}},
		{"zero replicas", validDeployment(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr(int32(0)) }), nil, nil},
		{"template image", validDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "" }), nil,
			[]want{req(tc0 + ".image")}},
		{"template container name", validDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Name = "Web" }), nil,
			[]want{inv(tc0 + ".name")}},
		{"template restartPolicy", validDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever }), nil,
			[]want{notSup("spec.template.spec.restartPolicy")}},
		{"template activeDeadlineSeconds", validDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.ActiveDeadlineSeconds = ptr(int64(5)) }), nil,
			[]want{forbidden("spec.template.spec.activeDeadlineSeconds")}},
		{"template labels", validDeployment(func(d *appsv1.Deployment) { d.Spec.Template.Labels["bad key"] = "x" }), nil,
			[]want{inv("spec.template.labels")}},
		{"recreate with rollingUpdate", validDeployment(func(d *appsv1.Deployment) {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{}}
		}), nil, []want{forbidden("spec.strategy.rollingUpdate")}},
		{"recreate", validDeployment(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType }), nil, nil},
		{"maxSurge and maxUnavailable both 0", validDeployment(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr(intstr.FromInt32(0)), MaxUnavailable: ptr(intstr.FromString("0%"))}
		}), nil, []want{inv("spec.strategy.rollingUpdate.maxUnavailable")}},
		{"maxUnavailable above 100%", validDeployment(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxUnavailable: ptr(intstr.FromString("150%"))}
		}), nil, []want{inv("spec.strategy.rollingUpdate.maxUnavailable")}},
		{"maxSurge not a percent", validDeployment(func(d *appsv1.Deployment) {
			d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: ptr(intstr.FromString("lots"))}
		}), nil, []want{inv("spec.strategy.rollingUpdate.maxSurge")}},
		{"strategy type", validDeployment(func(d *appsv1.Deployment) { d.Spec.Strategy.Type = "BlueGreen" }), nil,
			[]want{notSup("spec.strategy")}},
		{"progressDeadlineSeconds", validDeployment(func(d *appsv1.Deployment) {
			d.Spec.MinReadySeconds = 600
		}), nil, []want{inv("spec.progressDeadlineSeconds")}},
	})
}

func TestWorkloadUpdates(t *testing.T) {
	d := validDeployment(nil)
	dSel := d.DeepCopy()
	dSel.Spec.Selector.MatchLabels["tier"] = "front"
	dSel.Spec.Template.Labels["tier"] = "front"
	dImage := d.DeepCopy()
	dImage.Spec.Template.Spec.Containers[0].Image = "nginx:1.28"
	dImage.Spec.Replicas = ptr(int32(5))

	rs := validReplicaSet(nil)
	rsSel := rs.DeepCopy()
	rsSel.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "v": "2"}}
	rsSel.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}

	ds := validDaemonSet(nil)
	dsSel := ds.DeepCopy()
	dsSel.Spec.Selector.MatchLabels["x"] = "y"
	dsSel.Spec.Template.Labels["x"] = "y"

	sts := validStatefulSet(nil)
	stsScale := sts.DeepCopy()
	stsScale.Spec.Replicas = ptr(int32(3))
	stsScale.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	stsScale.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	stsScale.Spec.UpdateStrategy.RollingUpdate = nil
	stsService := sts.DeepCopy()
	stsService.Spec.ServiceName = "other"

	rc := validReplicationController(nil)
	rcSel := rc.DeepCopy()
	rcSel.Spec.Selector = map[string]string{"app": "web", "v": "2"}
	rcSel.Spec.Template.Labels = map[string]string{"app": "web", "v": "2"}

	runCases(t, []testCase{
		{"deployment template and replicas", dImage, d, nil},
		{"deployment selector", dSel, d, []want{inv("spec.selector")}},
		{"replicaset selector", rsSel, rs, []want{inv("spec.selector")}},
		{"daemonset selector", dsSel, ds, []want{inv("spec.selector")}},
		{"statefulset replicas, template, strategy", stsScale, sts, nil},
		{"statefulset serviceName", stsService, sts, []want{forbidden("spec")}},
		{"replication controller selector is mutable", rcSel, rc, nil},
	})
}

func validReplicaSet(mut func(*appsv1.ReplicaSet)) *appsv1.ReplicaSet {
	rs := &appsv1.ReplicaSet{ObjectMeta: objectMeta("web-abc"), Spec: appsv1.ReplicaSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: webLabels()}, Template: validTemplate()}}
	if mut != nil {
		mut(rs)
	}
	return defaulted(rs)
}

func validStatefulSet(mut func(*appsv1.StatefulSet)) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: objectMeta("db"), Spec: appsv1.StatefulSetSpec{
		ServiceName: "db",
		Selector:    &metav1.LabelSelector{MatchLabels: webLabels()},
		Template:    validTemplate(),
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}}},
	}}
	s.Spec.Template.Spec.Containers[0].VolumeMounts = append(s.Spec.Template.Spec.Containers[0].VolumeMounts,
		corev1.VolumeMount{Name: "data", MountPath: "/data"})
	if mut != nil {
		mut(s)
	}
	return defaulted(s)
}

func validDaemonSet(mut func(*appsv1.DaemonSet)) *appsv1.DaemonSet {
	ds := &appsv1.DaemonSet{ObjectMeta: objectMeta("agent"), Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: webLabels()}, Template: validTemplate()}}
	if mut != nil {
		mut(ds)
	}
	return defaulted(ds)
}

func validReplicationController(mut func(*corev1.ReplicationController)) *corev1.ReplicationController {
	t := validTemplate()
	rc := &corev1.ReplicationController{ObjectMeta: objectMeta("legacy"), Spec: corev1.ReplicationControllerSpec{Template: &t}}
	if mut != nil {
		mut(rc)
	}
	return defaulted(rc)
}

func TestOtherWorkloads(t *testing.T) {
	runCases(t, []testCase{
		{"replicaset", validReplicaSet(nil), nil, nil},
		{"replicaset selector required", validReplicaSet(func(rs *appsv1.ReplicaSet) { rs.Spec.Selector = nil }), nil,
			[]want{req("spec.selector"), inv("spec.template.metadata.labels")}},
		{"replicaset template", validReplicaSet(func(rs *appsv1.ReplicaSet) { rs.Spec.Template.Spec.Containers = nil }), nil,
			[]want{req("spec.template.spec.containers")}},

		{"statefulset without serviceName", validStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.ServiceName = "" }), nil, nil},
		{"statefulset name is a DNS label", validStatefulSet(func(s *appsv1.StatefulSet) { s.Name = "db.v1" }), nil,
			[]want{inv("metadata.name")}},
		{"statefulset selector mismatch", validStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Labels = nil }), nil,
			[]want{inv("spec.template.metadata.labels")}},
		{"statefulset empty selector", validStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.Selector = &metav1.LabelSelector{} }), nil,
			[]want{inv("spec.selector")}},
		{"statefulset replicas", validStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.Replicas = ptr(int32(-2)) }), nil,
			[]want{inv("spec.replicas")}},
		{"statefulset podManagementPolicy", validStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = "Random" }), nil,
			[]want{inv("spec.podManagementPolicy")}},
		{"statefulset maxUnavailable 0", validStatefulSet(func(s *appsv1.StatefulSet) {
			s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{MaxUnavailable: ptr(intstr.FromInt32(0))}
		}), nil, []want{inv("spec.updateStrategy.rollingUpdate.maxUnavailable")}},
		{"statefulset restartPolicy", validStatefulSet(func(s *appsv1.StatefulSet) { s.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure }), nil,
			[]want{notSup("spec.template.spec.restartPolicy")}},

		{"daemonset", validDaemonSet(nil), nil, nil},
		{"daemonset surge and unavailable", validDaemonSet(func(ds *appsv1.DaemonSet) {
			ds.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateDaemonSet{
				MaxUnavailable: ptr(intstr.FromInt32(1)), MaxSurge: ptr(intstr.FromString("10%"))}
		}), nil, []want{inv("spec.updateStrategy.rollingUpdate.maxSurge")}},
		{"daemonset selector mismatch", validDaemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Labels = map[string]string{"app": "x"} }), nil,
			[]want{inv("spec.template.metadata.labels")}},
		{"daemonset template", validDaemonSet(func(ds *appsv1.DaemonSet) { ds.Spec.Template.Spec.Containers[0].Image = "" }), nil,
			[]want{req("spec.template.spec.containers[0].image")}},

		{"replication controller", validReplicationController(nil), nil, nil},
		{"replication controller without selector", validReplicationController(func(rc *corev1.ReplicationController) {
			rc.Spec.Template.Labels = nil
		}), nil, []want{req("spec.selector")}},
		{"replication controller mismatch", validReplicationController(func(rc *corev1.ReplicationController) {
			rc.Spec.Selector = map[string]string{"app": "other"}
		}), nil, []want{inv("spec.template.metadata.labels")}},
		{"replication controller template required", func() runtime.Object {
			rc := validReplicationController(nil)
			rc.Spec.Template = nil
			return rc
		}(), nil, []want{req("spec.template")}},
	})
}

func TestControllerRevision(t *testing.T) {
	rev := func(mut func(*appsv1.ControllerRevision)) *appsv1.ControllerRevision {
		r := &appsv1.ControllerRevision{ObjectMeta: objectMeta("web-7b9d5c8f6"), Data: runtime.RawExtension{Raw: []byte(`{"spec":{}}`)}, Revision: 1}
		if mut != nil {
			mut(r)
		}
		return r
	}
	runCases(t, []testCase{
		{"valid", rev(nil), nil, nil},
		{"data required", rev(func(r *appsv1.ControllerRevision) { r.Data = runtime.RawExtension{} }), nil, []want{req("data")}},
		{"negative revision", rev(func(r *appsv1.ControllerRevision) { r.Revision = -1 }), nil, []want{inv("revision")}},
		{"revision may change", rev(func(r *appsv1.ControllerRevision) { r.Revision = 4 }), rev(nil), nil},
		{"data immutable", rev(func(r *appsv1.ControllerRevision) { r.Data.Raw = []byte(`{"spec":{"x":1}}`) }), rev(nil),
			[]want{inv("data")}},
	})
}
