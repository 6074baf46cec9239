package proxy

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// svc builds a ClusterIP Service with TCP ports given as name, port pairs.
func svc(ns, name, clusterIP string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIP: clusterIP, Ports: ports},
	}
}

func port(name string, p int32) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: p, Protocol: corev1.ProtocolTCP}
}

func nodePort(s *corev1.Service, nodePorts ...int32) *corev1.Service {
	s.Spec.Type = corev1.ServiceTypeNodePort
	for i, np := range nodePorts {
		s.Spec.Ports[i].NodePort = np
	}
	return s
}

func affinity(s *corev1.Service, seconds int32) *corev1.Service {
	s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	if seconds > 0 {
		s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: &seconds}}
	}
	return s
}

// eps builds Endpoints with one subset: the ready addresses and the ports.
func eps(ns, name string, ips []string, ports ...corev1.EndpointPort) *corev1.Endpoints {
	ss := corev1.EndpointSubset{Ports: ports}
	for _, ip := range ips {
		ss.Addresses = append(ss.Addresses, corev1.EndpointAddress{IP: ip})
	}
	return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Subsets: []corev1.EndpointSubset{ss}}
}

func epPort(name string, p int32) corev1.EndpointPort {
	return corev1.EndpointPort{Name: name, Port: p, Protocol: corev1.ProtocolTCP}
}
