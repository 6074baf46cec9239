package printers

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// clusterMeta for a cluster-scoped fixture created age ago.
func clusterMeta(name string, age time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, CreationTimestamp: ago(age)}
}

func coreCases() []goldenCase {
	controlPlane := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cairn-1", CreationTimestamp: ago(40 * day),
			Labels: map[string]string{
				"node-role.kubernetes.io/control-plane": "",
				"node-role.kubernetes.io/etcd":          "true",
				"kubernetes.io/hostname":                "cairn-1",
			},
		},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{
				{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse},
				{Type: corev1.NodeReady, Status: corev1.ConditionTrue},
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeHostName, Address: "cairn-1"},
				{Type: corev1.NodeInternalIP, Address: "192.168.10.11"},
				{Type: corev1.NodeExternalIP, Address: "203.0.113.11"},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: "v1.37.0-cairn.1", OSImage: "Cairn OS 2025.05",
				KernelVersion: "6.12.30-cairn", ContainerRuntimeVersion: "containerd://2.1.1",
			},
		},
	}
	notReady := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cairn-2", CreationTimestamp: ago(40*day - 5*minute),
			Labels: map[string]string{
				"kubernetes.io/role":              "worker",
				"node-role.kubernetes.io/storage": "",
			},
		},
		Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionUnknown, Reason: "NodeStatusUnknown"}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.10.12"}},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion: "v1.37.0-cairn.1", OSImage: "Cairn OS 2025.05",
				KernelVersion: "6.12.30-cairn", ContainerRuntimeVersion: "containerd://2.1.1",
			},
		},
	}
	unknown := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cairn-3", CreationTimestamp: ago(90 * second)}}

	namespaces := []runtime.Object{
		&corev1.Namespace{ObjectMeta: clusterMeta("default", 40*day), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: clusterMeta("kube-system", 40*day), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		&corev1.Namespace{ObjectMeta: clusterMeta("team-legacy", 5*hour), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
	}

	services := []runtime.Object{
		&corev1.Service{
			ObjectMeta: objMeta("kubernetes", 40*day),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: "10.43.0.1", ClusterIPs: []string{"10.43.0.1"},
				Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}},
			},
		},
		&corev1.Service{
			ObjectMeta: objMeta("web", 2*hour),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeNodePort, ClusterIP: "10.43.12.80", // ClusterIPs left unset
				Ports: []corev1.ServicePort{
					{Name: "http", Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP},
					{Name: "https", Port: 443, NodePort: 30443, Protocol: corev1.ProtocolTCP},
				},
				Selector: map[string]string{"app": "web", "tier": "frontend"},
			},
		},
		&corev1.Service{
			ObjectMeta: objMeta("ingress", 3*day),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.7.7", "fd00:43::7"},
				Ports:    []corev1.ServicePort{{Port: 443, NodePort: 31443, Protocol: corev1.ProtocolTCP}},
				Selector: map[string]string{"app": "ingress"},
			},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{
				{IP: "203.0.113.80"}, {Hostname: "ingress.lb.cairn.example"}, {IP: "203.0.113.80"},
			}}},
		},
		&corev1.Service{
			ObjectMeta: objMeta("pending-lb", 30*second),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.9.1"},
				Ports: []corev1.ServicePort{{Port: 53, NodePort: 30053, Protocol: corev1.ProtocolUDP}},
			},
		},
		&corev1.Service{
			ObjectMeta: objMeta("lb-with-external-ips", day),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeLoadBalancer, ClusterIPs: []string{"10.43.9.2"}, ExternalIPs: []string{"198.51.100.2"},
				Ports: []corev1.ServicePort{{Port: 8443, NodePort: 32443, Protocol: corev1.ProtocolTCP}},
			},
			Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.90"}}}},
		},
		&corev1.Service{
			ObjectMeta: objMeta("db-headless", 7*day),
			Spec: corev1.ServiceSpec{
				Type: corev1.ServiceTypeClusterIP, ClusterIP: corev1.ClusterIPNone, ClusterIPs: []string{corev1.ClusterIPNone},
				Selector: map[string]string{"app": "db"},
			},
		},
		&corev1.Service{
			ObjectMeta: objMeta("upstream", 7*day),
			Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "api.example.com"},
		},
	}

	var manyAddresses []corev1.EndpointAddress
	for i := 1; i <= 5; i++ {
		manyAddresses = append(manyAddresses, corev1.EndpointAddress{IP: fmt.Sprintf("10.42.0.%d", 100+i)})
	}
	endpoints := []runtime.Object{
		&corev1.Endpoints{
			ObjectMeta: objMeta("kubernetes", 40*day),
			Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "192.168.10.11"}},
				Ports:     []corev1.EndpointPort{{Name: "https", Port: 6443}},
			}},
		},
		&corev1.Endpoints{
			ObjectMeta: objMeta("web", 2*hour),
			Subsets: []corev1.EndpointSubset{{
				Addresses: manyAddresses,
				Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "https", Port: 8443}},
			}},
		},
		&corev1.Endpoints{
			ObjectMeta: objMeta("db-headless", 7*day),
			Subsets:    []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "10.42.1.9"}, {IP: "fd00:42::9"}}}},
		},
		&corev1.Endpoints{
			ObjectMeta: objMeta("dns-v6", day),
			Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: "fd00:42::53"}},
				Ports:     []corev1.EndpointPort{{Port: 53}},
			}},
		},
		&corev1.Endpoints{ObjectMeta: objMeta("pending-lb", 30*second)},
	}

	configMaps := []runtime.Object{
		&corev1.ConfigMap{ObjectMeta: objMeta("kube-root-ca.crt", 40*day), Data: map[string]string{"ca.crt": "..."}},
		&corev1.ConfigMap{
			ObjectMeta: objMeta("app-config", 3*hour),
			Data:       map[string]string{"app.yaml": "...", "LOG_LEVEL": "debug"},
			BinaryData: map[string][]byte{"logo.png": {0x89}},
		},
		&corev1.ConfigMap{ObjectMeta: objMeta("empty", 10*second)},
	}

	secrets := []runtime.Object{
		&corev1.Secret{ObjectMeta: objMeta("db-credentials", 7*day), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"username": []byte("app"), "password": []byte("s3cret")}},
		&corev1.Secret{ObjectMeta: objMeta("web-tls", 30*day), Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": nil, "tls.key": nil}},
		&corev1.Secret{ObjectMeta: objMeta("builder-token", 2*day), Type: corev1.SecretTypeServiceAccountToken,
			Data: map[string][]byte{"ca.crt": nil, "namespace": nil, "token": nil}},
		&corev1.Secret{ObjectMeta: objMeta("string-data", minute), Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"a": nil}, StringData: map[string]string{"a": "x", "b": "y"}},
	}

	serviceAccounts := []runtime.Object{
		&corev1.ServiceAccount{ObjectMeta: objMeta("default", 40*day)},
		&corev1.ServiceAccount{ObjectMeta: objMeta("builder", 2*day), Secrets: []corev1.ObjectReference{{Name: "builder-token"}}},
	}

	limitRanges := []runtime.Object{
		&corev1.LimitRange{ObjectMeta: objMeta("default-limits", 10*day)},
		&corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Name: "no-timestamp", Namespace: "default"}},
	}

	componentStatuses := []runtime.Object{
		&corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: "scheduler"}, Conditions: []corev1.ComponentCondition{
			{Type: corev1.ComponentHealthy, Status: corev1.ConditionTrue, Message: "ok"},
		}},
		&corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: "etcd-0"}, Conditions: []corev1.ComponentCondition{
			{Type: corev1.ComponentHealthy, Status: corev1.ConditionFalse, Error: "dial tcp 127.0.0.1:2379: connect: connection refused"},
		}},
		&corev1.ComponentStatus{ObjectMeta: metav1.ObjectMeta{Name: "controller-manager"}},
	}

	events := []runtime.Object{
		&corev1.Event{
			ObjectMeta:     objMeta("api-5d9c7b8f6-2lq4z.17f1c2a3b4c5d6e7", 25*minute),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "api-5d9c7b8f6-2lq4z", FieldPath: "spec.containers{api}"},
			Reason:         "BackOff", Type: corev1.EventTypeWarning,
			Message:        "Back-off restarting failed container api in pod api-5d9c7b8f6-2lq4z_default",
			Source:         corev1.EventSource{Component: "kubelet", Host: "cairn-2"},
			FirstTimestamp: ago(24 * minute), LastTimestamp: ago(2 * minute), Count: 42,
		},
		&corev1.Event{
			ObjectMeta:     objMeta("gpu-job-x7c2p.17f1c2a3b4c5d6e8", 40*second),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "gpu-job-x7c2p"},
			Reason:         "FailedScheduling", Type: corev1.EventTypeWarning,
			Message:             "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.  ",
			EventTime:           microAgo(40 * second),
			ReportingController: "default-scheduler",
		},
		&corev1.Event{
			ObjectMeta:     objMeta("web.17f1c2a3b4c5d6e9", 3*hour),
			InvolvedObject: corev1.ObjectReference{Kind: "Service", Name: "web"},
			Reason:         "SyncLoadBalancer", Type: corev1.EventTypeNormal,
			Message:             "Ensuring load balancer\nfor 2 ports",
			EventTime:           microAgo(3 * hour),
			Series:              &corev1.EventSeries{Count: 5, LastObservedTime: microAgo(30 * second)},
			ReportingController: "service-controller", ReportingInstance: "cairn-1",
		},
		&corev1.Event{
			ObjectMeta:     objMeta("default.17f1c2a3b4c5d6ea", 10*day),
			InvolvedObject: corev1.ObjectReference{Kind: "Namespace"},
			Reason:         "Created", Type: corev1.EventTypeNormal,
			Message:        "namespace created",
			FirstTimestamp: ago(10 * day), Count: 1,
		},
	}

	eventsV1 := []runtime.Object{
		&eventsv1.Event{
			ObjectMeta:          objMeta("db-0.17f1c2a3b4c5d6eb", 45*second),
			EventTime:           microAgo(44 * second),
			ReportingController: "default-scheduler", ReportingInstance: "default-scheduler-cairn-1",
			Action: "Binding", Reason: "Scheduled", Type: corev1.EventTypeNormal,
			Regarding: corev1.ObjectReference{Kind: "Pod", Name: "db-0"},
			Note:      "Successfully assigned default/db-0 to cairn-2",
		},
		&eventsv1.Event{
			ObjectMeta:          objMeta("web.17f1c2a3b4c5d6ec", 6*hour),
			EventTime:           microAgo(6 * hour),
			Series:              &eventsv1.EventSeries{Count: 12, LastObservedTime: microAgo(4 * minute)},
			ReportingController: "cairn.dev/gitops", Reason: "Drift", Type: corev1.EventTypeWarning,
			Regarding: corev1.ObjectReference{Kind: "Deployment", Name: "web", FieldPath: "spec.replicas"},
			Note:      "live state differs from the repository",
		},
	}

	return []goldenCase{
		{kind: "Node", resource: "nodes", objects: []runtime.Object{controlPlane, notReady, unknown}},
		{kind: "Namespace", resource: "namespaces", objects: namespaces},
		{kind: "Service", resource: "services", objects: services},
		{kind: "Endpoints", resource: "endpoints", objects: endpoints},
		{kind: "ConfigMap", resource: "configmaps", objects: configMaps},
		{kind: "Secret", resource: "secrets", objects: secrets},
		{kind: "ServiceAccount", resource: "serviceaccounts", objects: serviceAccounts},
		{kind: "LimitRange", resource: "limitranges", objects: limitRanges},
		{kind: "ComponentStatus", resource: "componentstatuses", objects: componentStatuses},
		{kind: "Event", resource: "events", objects: events},
		{group: "events.k8s.io", kind: "Event", resource: "events.events.k8s.io", objects: eventsV1},
	}
}
