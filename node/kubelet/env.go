package kubelet

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation"
)

// objects fetches the ConfigMaps and Secrets pods refer to.
type objects interface {
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
}

// envInput is what a container's environment depends on besides its spec.
type envInput struct {
	podIP, hostIP string
	// allocatable stands in for unset limits in resourceFieldRef, as in
	// Kubernetes.
	allocatable corev1.ResourceList
	// services are the Service link variables (FOO_SERVICE_HOST, ...) of
	// the pod's namespace and the kubernetes Service.
	services map[string]string
}

// configError is a container configuration the kubelet cannot satisfy
// (a missing ConfigMap key, a bad field path): the container waits with
// CreateContainerConfigError until it can.
type configError struct{ msg string }

func (e *configError) Error() string { return e.msg }

func configErrorf(format string, args ...any) error {
	return &configError{fmt.Sprintf(format, args...)}
}

// containerEnv resolves a container's environment as the kubelet does:
// Service link variables first, then envFrom in order, then env in order
// with $(VAR) references expanded against what came before.
func containerEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, in envInput, get objects) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		keys := make([]string, 0, len(in.services))
		for k := range in.services {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(k, in.services[k])
		}
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := get.ConfigMap(ctx, pod.Namespace, from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, lookupError("configmap", from.ConfigMapRef.Name, err)
			}
			data = cm.Data
		case from.SecretRef != nil:
			sec, err := get.Secret(ctx, pod.Namespace, from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && optional(from.SecretRef.Optional) {
					continue
				}
				return nil, lookupError("secret", from.SecretRef.Name, err)
			}
			data = map[string]string{}
			for k, v := range sec.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			name := from.Prefix + k
			if len(validation.IsEnvVarName(name)) > 0 {
				continue // Kubernetes skips invalid keys and reports an event
			}
			set(name, data[k])
		}
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vars))
			continue
		}
		v, ok, err := envValueFrom(ctx, pod, c, e.ValueFrom, in, get)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			set(e.Name, v)
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}

func optional(p *bool) bool { return p != nil && *p }

func lookupError(kind, name string, err error) error {
	if apierrors.IsNotFound(err) {
		return configErrorf("%s %q not found", kind, name)
	}
	return fmt.Errorf("getting %s %q: %w", kind, name, err)
}

// envValueFrom resolves one valueFrom; ok is false for an optional key that
// is absent.
func envValueFrom(ctx context.Context, pod *corev1.Pod, c *corev1.Container, from *corev1.EnvVarSource, in envInput, get objects) (string, bool, error) {
	switch {
	case from.FieldRef != nil:
		v, err := fieldPath(pod, from.FieldRef.FieldPath, in)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceField(c, from.ResourceFieldRef, in.allocatable)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := get.ConfigMap(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, lookupError("configmap", ref.Name, err)
		}
		v, ok := cm.Data[ref.Key]
		if !ok {
			if b, bok := cm.BinaryData[ref.Key]; bok {
				return string(b), true, nil
			}
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return v, true, nil
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		sec, err := get.Secret(ctx, pod.Namespace, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, lookupError("secret", ref.Name, err)
		}
		v, ok := sec.Data[ref.Key]
		if !ok {
			if s, sok := sec.StringData[ref.Key]; sok {
				return s, true, nil
			}
			if optional(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
		}
		return string(v), true, nil
	}
	return "", false, configErrorf("valueFrom sets no source")
}

// fieldPath resolves the downward API's field paths.
func fieldPath(pod *corev1.Pod, path string, in envInput) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		return in.hostIP, nil
	case "status.podIP", "status.podIPs":
		if in.podIP == "" && pod.Spec.HostNetwork {
			return in.hostIP, nil
		}
		return in.podIP, nil
	}
	return "", configErrorf("unsupported fieldPath %q", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// resourceField resolves resourceFieldRef: limits fall back to the node's
// allocatable, values are divided by the divisor and rounded up.
func resourceField(c *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	kind, res, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", configErrorf("unsupported resource %q", ref.Resource)
	}
	name := corev1.ResourceName(res)
	var q resource.Quantity
	var found bool
	switch kind {
	case "limits":
		q, found = c.Resources.Limits[name]
		if !found {
			q, found = allocatable[name]
		}
	case "requests":
		q, found = c.Resources.Requests[name]
	default:
		return "", configErrorf("unsupported resource %q", ref.Resource)
	}
	if !found {
		return "0", nil
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if name == corev1.ResourceCPU {
		v := math.Ceil(float64(q.MilliValue()) / float64(divisor.MilliValue()))
		return strconv.FormatInt(int64(v), 10), nil
	}
	v := math.Ceil(float64(q.Value()) / float64(divisor.Value()))
	return strconv.FormatInt(int64(v), 10), nil
}

// expand replaces $(VAR) with earlier variables' values, as Kubernetes:
// $$ escapes a dollar, unknown references stay as written.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// serviceEnv is the Service link variables for services, as the kubelet
// makes them (docker links style): FOO_SERVICE_HOST, FOO_SERVICE_PORT,
// FOO_SERVICE_PORT_<NAME>, FOO_PORT, FOO_PORT_<P>_<PROTO>[_PROTO|_PORT|_ADDR].
func serviceEnv(services []*corev1.Service) map[string]string {
	out := map[string]string{}
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		prefix := strings.ToUpper(strings.ReplaceAll(svc.Name, "-", "_"))
		out[prefix+"_SERVICE_HOST"] = ip
		out[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		for _, p := range svc.Spec.Ports {
			if p.Name != "" {
				out[prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_"))] = strconv.Itoa(int(p.Port))
			}
		}
		first := svc.Spec.Ports[0]
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		out[prefix+"_PORT"] = fmt.Sprintf("%s://%s:%d", proto, ip, first.Port)
		for _, p := range svc.Spec.Ports {
			pr := string(p.Protocol)
			if pr == "" {
				pr = "TCP"
			}
			base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(pr))
			out[base] = fmt.Sprintf("%s://%s:%d", strings.ToLower(pr), ip, p.Port)
			out[base+"_PROTO"] = strings.ToLower(pr)
			out[base+"_PORT"] = strconv.Itoa(int(p.Port))
			out[base+"_ADDR"] = ip
		}
	}
	return out
}
