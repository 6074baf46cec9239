package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestConfigMap(t *testing.T) {
	cm := func(mut func(*corev1.ConfigMap)) *corev1.ConfigMap {
		c := &corev1.ConfigMap{ObjectMeta: objectMeta("cfg"), Data: map[string]string{"app.yaml": "a: 1", "KEY_1": "v"}}
		mut(c)
		return defaulted(c)
	}
	big := strings.Repeat("x", 1024*1024)
	immutableOld := cm(func(c *corev1.ConfigMap) { c.Immutable = ptr(true) })
	immutableNew := immutableOld.DeepCopy()
	immutableNew.Data["app.yaml"] = "a: 2"
	unlock := immutableOld.DeepCopy()
	unlock.Immutable = ptr(false)
	runCases(t, []testCase{
		{"valid", cm(func(*corev1.ConfigMap) {}), nil, nil},
		{"key", cm(func(c *corev1.ConfigMap) { c.Data["a/b"] = "x" }), nil, []want{inv("data[a/b]")}},
		{"binary key", cm(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"bad key": nil} }), nil, []want{inv("binaryData[bad key]")}},
		{"key in both", cm(func(c *corev1.ConfigMap) { c.BinaryData = map[string][]byte{"KEY_1": {1}} }), nil, []want{inv("data[KEY_1]")}},
		{"exactly 1 MiB", cm(func(c *corev1.ConfigMap) { c.Data = map[string]string{"big": big} }), nil, nil},
		{"over 1 MiB", cm(func(c *corev1.ConfigMap) { c.Data = map[string]string{"big": big, "more": "x"} }), nil, []want{tooLong("[]")}}, // Kubernetes reports the whole object as "[]"
		{"immutable data", immutableNew, immutableOld, []want{forbidden("data")}},
		{"immutable flag", unlock, immutableOld, []want{forbidden("immutable")}},
	})
}

func TestSecret(t *testing.T) {
	sec := func(mut func(*corev1.Secret)) *corev1.Secret {
		s := &corev1.Secret{ObjectMeta: objectMeta("creds"), Data: map[string][]byte{"password": []byte("x")}}
		mut(s)
		return defaulted(s)
	}
	old := sec(func(*corev1.Secret) {})
	typeChange := old.DeepCopy()
	typeChange.Type = corev1.SecretTypeBasicAuth
	immutableOld := sec(func(s *corev1.Secret) { s.Immutable = ptr(true) })
	immutableNew := immutableOld.DeepCopy()
	immutableNew.StringData = map[string]string{"password": "y"}
	runCases(t, []testCase{
		{"valid", old, nil, nil},
		{"key", sec(func(s *corev1.Secret) { s.Data["bad key"] = nil }), nil, []want{inv("data[bad key]")}},
		{"stringData key", sec(func(s *corev1.Secret) { s.StringData = map[string]string{"bad/key": "v"} }), nil, []want{inv("data[bad/key]")}},
		{"too large", sec(func(s *corev1.Secret) { s.Data["big"] = make([]byte, 1024*1024) }), nil, []want{tooLong("data")}},
		{"tls keys", sec(func(s *corev1.Secret) { s.Type = corev1.SecretTypeTLS }), nil, []want{req("data[tls.crt]"), req("data[tls.key]")}},
		{"dockerconfigjson", sec(func(s *corev1.Secret) {
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{".dockerconfigjson": []byte("{not json")}
		}), nil, []want{inv("data[.dockerconfigjson]")}},
		{"service account token", sec(func(s *corev1.Secret) { s.Type = corev1.SecretTypeServiceAccountToken }), nil,
			[]want{req("metadata.annotations[kubernetes.io/service-account.name]")}},
		{"type immutable", typeChange, old, []want{inv("type")}},
		{"immutable data via stringData", immutableNew, immutableOld, []want{forbidden("data")}},
	})
}
