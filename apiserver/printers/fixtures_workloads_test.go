package printers

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func template(names ...string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers(names...)}}
}

func workloadCases() []goldenCase {
	selector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "nginx"}}

	rcs := []runtime.Object{
		&corev1.ReplicationController{
			ObjectMeta: objMeta("legacy-frontend", 200*day),
			Spec: corev1.ReplicationControllerSpec{
				Replicas: ptr(int32(3)),
				Selector: map[string]string{"app": "legacy-frontend"},
				Template: ptr(template("frontend", "statsd")),
			},
			Status: corev1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2},
		},
		&corev1.ReplicationController{ObjectMeta: objMeta("no-template", minute)},
	}

	deployments := []runtime.Object{
		&appsv1.Deployment{
			ObjectMeta: objMeta("nginx", 3*day),
			Spec:       appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector, Template: template("nginx")},
			Status:     appsv1.DeploymentStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, AvailableReplicas: 3},
		},
		&appsv1.Deployment{
			ObjectMeta: objMeta("api", 25*minute),
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr(int32(3)),
				Selector: &metav1.LabelSelector{
					MatchLabels: map[string]string{"app": "api"},
					MatchExpressions: []metav1.LabelSelectorRequirement{
						{Key: "track", Operator: metav1.LabelSelectorOpIn, Values: []string{"stable", "canary"}},
					},
				},
				Template: template("api", "proxy"),
			},
			Status: appsv1.DeploymentStatus{Replicas: 4, ReadyReplicas: 1, UpdatedReplicas: 2, AvailableReplicas: 1},
		},
		&appsv1.Deployment{
			ObjectMeta: objMeta("defaults", 5*second),
			Spec:       appsv1.DeploymentSpec{Template: template("app")}, // replicas and selector unset
		},
	}

	replicaSets := []runtime.Object{
		&appsv1.ReplicaSet{
			ObjectMeta: objMeta("nginx-7c5ddbdf54", 3*day),
			Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(3)), Selector: selector, Template: template("nginx")},
			Status:     appsv1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 3},
		},
		&appsv1.ReplicaSet{
			ObjectMeta: objMeta("nginx-6b8f9c7d45", 10*day),
			Spec:       appsv1.ReplicaSetSpec{Replicas: ptr(int32(0)), Selector: selector, Template: template("nginx")},
		},
	}

	statefulSets := []runtime.Object{
		&appsv1.StatefulSet{
			ObjectMeta: objMeta("web", 2*hour),
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: template("web", "exporter")},
			Status:     appsv1.StatefulSetStatus{Replicas: 3, ReadyReplicas: 2},
		},
		&appsv1.StatefulSet{
			ObjectMeta: objMeta("db", 7*day),
			Spec:       appsv1.StatefulSetSpec{Replicas: ptr(int32(1)), Template: template("postgres")},
			Status:     appsv1.StatefulSetStatus{Replicas: 1, ReadyReplicas: 1},
		},
	}

	daemonSets := []runtime.Object{
		&appsv1.DaemonSet{
			ObjectMeta: objMeta("node-exporter", 40*day),
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "node-exporter"}},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					NodeSelector: map[string]string{"kubernetes.io/os": "linux"},
					Containers:   containers("node-exporter"),
				}},
			},
			Status: appsv1.DaemonSetStatus{
				DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 2,
				UpdatedNumberScheduled: 3, NumberAvailable: 2,
			},
		},
		&appsv1.DaemonSet{
			ObjectMeta: objMeta("cni", 40*day),
			Spec: appsv1.DaemonSetSpec{
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "cni"}},
				Template: template("install-cni", "flannel"),
			},
			Status: appsv1.DaemonSetStatus{
				DesiredNumberScheduled: 3, CurrentNumberScheduled: 3, NumberReady: 3,
				UpdatedNumberScheduled: 3, NumberAvailable: 3,
			},
		},
	}

	revisions := []runtime.Object{
		&appsv1.ControllerRevision{
			ObjectMeta: func() metav1.ObjectMeta {
				m := objMeta("node-exporter-7b9d5c8f6", 40*day)
				m.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "node-exporter", Controller: ptr(true)}}
				return m
			}(),
			Data:     runtime.RawExtension{Raw: []byte(`{"spec":{}}`)},
			Revision: 3,
		},
		&appsv1.ControllerRevision{
			ObjectMeta: objMeta("orphan-5f4c", 2*day),
			Data:       runtime.RawExtension{Raw: []byte(`{}`)},
			Revision:   1,
		},
	}

	return []goldenCase{
		{group: "apps", kind: "ControllerRevision", resource: "controllerrevisions", objects: revisions},
		{kind: "ReplicationController", resource: "replicationcontrollers", objects: rcs},
		{group: "apps", kind: "Deployment", resource: "deployments", objects: deployments},
		{group: "apps", kind: "ReplicaSet", resource: "replicasets", objects: replicaSets},
		{group: "apps", kind: "StatefulSet", resource: "statefulsets", objects: statefulSets},
		{group: "apps", kind: "DaemonSet", resource: "daemonsets", objects: daemonSets},
	}
}
