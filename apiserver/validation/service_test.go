package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func validService(mut func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{ObjectMeta: objectMeta("web"), Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app": "web"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
	}}
	if mut != nil {
		mut(s)
	}
	return defaulted(s)
}

func TestService(t *testing.T) {
	twoPorts := []corev1.ServicePort{{Port: 80}, {Port: 443}}
	runCases(t, []testCase{
		{"valid", validService(nil), nil, nil},
		{"ports required", validService(func(s *corev1.Service) { s.Spec.Ports = nil }), nil, []want{req("spec.ports")}},
		{"headless without ports", validService(func(s *corev1.Service) { s.Spec.Ports, s.Spec.ClusterIP = nil, "None" }), nil, nil},
		{"headless without selector", validService(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Selector = "None", nil }), nil, nil},
		{"externalName", validService(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.Ports, s.Spec.Selector = corev1.ServiceTypeExternalName, "db.example.com.", nil, nil
		}), nil, nil},
		{"externalName required", validService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName }), nil,
			[]want{req("spec.externalName")}},
		{"externalName with clusterIP", validService(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ExternalName, s.Spec.ClusterIP = corev1.ServiceTypeExternalName, "db.example.com", "10.0.0.10"
		}), nil, []want{forbidden("spec.clusterIPs")}},
		{"port zero", validService(func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }), nil, []want{inv("spec.ports[0].port")}},
		{"port too high", validService(func(s *corev1.Service) { s.Spec.Ports[0].Port = 65536 }), nil, []want{inv("spec.ports[0].port")}},
		{"names required with two ports", validService(func(s *corev1.Service) { s.Spec.Ports = twoPorts }), nil,
			[]want{req("spec.ports[0].name"), req("spec.ports[1].name")}},
		{"duplicate port names", validService(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "web", Port: 80}, {Name: "web", Port: 443}}
		}), nil, []want{dup("spec.ports[1].name")}},
		{"duplicate port", validService(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 80}, {Name: "b", Port: 80}}
		}), nil, []want{dup("spec.ports[1]")}},
		{"same port other protocol", validService(func(s *corev1.Service) {
			s.Spec.Ports = []corev1.ServicePort{{Name: "a", Port: 53}, {Name: "b", Port: 53, Protocol: corev1.ProtocolUDP}}
		}), nil, nil},
		{"port name", validService(func(s *corev1.Service) { s.Spec.Ports[0].Name = "HTTP" }), nil, []want{inv("spec.ports[0].name")}},
		{"protocol", validService(func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "ICMP" }), nil, []want{notSup("spec.ports[0].protocol")}},
		{"nodePort on ClusterIP", validService(func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 }), nil,
			[]want{forbidden("spec.ports[0].nodePort")}},
		{"nodePort on NodePort", validService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30080
		}), nil, nil},
		{"nodePort out of range", validService(func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 70000
		}), nil, []want{inv("spec.ports[0].nodePort")}},
		{"loadBalancer", validService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeLoadBalancer }), nil, nil},
		{"type", validService(func(s *corev1.Service) { s.Spec.Type = "Public" }), nil, []want{notSup("spec.type")}},
		{"clusterIP None", validService(func(s *corev1.Service) { s.Spec.ClusterIP = "None" }), nil, nil},
		{"clusterIP address", validService(func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.10" }), nil, nil},
		{"clusterIP garbage", validService(func(s *corev1.Service) { s.Spec.ClusterIP = "ten.0.0.1" }), nil, []want{inv("spec.clusterIPs[0]")}},
		{"headless NodePort", validService(func(s *corev1.Service) {
			s.Spec.Type, s.Spec.ClusterIP = corev1.ServiceTypeNodePort, "None"
		}), nil, []want{inv("spec.clusterIPs[0]")}},
		{"sessionAffinity", validService(func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }), nil,
			[]want{notSup("spec.sessionAffinity")}},
		{"externalTrafficPolicy on ClusterIP", validService(func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = "Local" }), nil,
			[]want{inv("spec.externalTrafficPolicy")}},
		{"externalIPs", validService(func(s *corev1.Service) { s.Spec.ExternalIPs = []string{"127.0.0.1"} }), nil,
			[]want{inv("spec.externalIPs[0]")}},
		{"selector", validService(func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "web server"} }), nil,
			[]want{inv("spec.selector")}},
		{"targetPort name", validService(func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("not_valid") }), nil,
			[]want{inv("spec.ports[0].targetPort")}},
	})
}

func TestServiceUpdate(t *testing.T) {
	old := validService(func(s *corev1.Service) {
		s.Spec.ClusterIP = "10.96.0.10"
		s.Spec.ClusterIPs = []string{"10.96.0.10"}
		s.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
	})
	oldNP := validService(func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeNodePort
		s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.11", []string{"10.96.0.11"}
		s.Spec.Ports[0].NodePort = 30080
	})
	upd := func(base *corev1.Service, mut func(*corev1.Service)) *corev1.Service {
		s := base.DeepCopy()
		mut(s)
		return s
	}
	runCases(t, []testCase{
		{"unchanged", upd(old, func(*corev1.Service) {}), old, nil},
		{"re-applied manifest without allocated values", validService(nil), old, nil},
		{"re-applied NodePort manifest", validService(func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeNodePort }), oldNP, nil},
		{"ports may change", upd(old, func(s *corev1.Service) { s.Spec.Ports[0].Port = 8080 }), old, nil},
		{"clusterIP change", upd(old, func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.ClusterIPs = "10.96.0.20", []string{"10.96.0.20"} }), old,
			[]want{inv("spec.clusterIPs[0]")}},
		{"clusterIP change via the singular field", upd(old, func(s *corev1.Service) { s.Spec.ClusterIP = "10.96.0.20" }), old,
			[]want{inv("spec.clusterIPs[0]")}},
		{"to ExternalName", upd(old, func(s *corev1.Service) {
			s.Spec = corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com", SessionAffinity: corev1.ServiceAffinityNone}
		}), old, nil},
		{"name", upd(old, func(s *corev1.Service) { s.Name = "web2" }), old, []want{inv("metadata.name")}},
	})
}
