package schema

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestCompileTyped: the common kinds get a reduced schema (the
// comparison with the whole schema is in package check, which converts
// objects).
func TestCompileTyped(t *testing.T) {
	for file, typ := range map[string]reflect.Type{
		"generated/apps_v1_Deployment.json":  reflect.TypeOf(appsv1.Deployment{}),
		"generated/apps_v1_StatefulSet.json": reflect.TypeOf(appsv1.StatefulSet{}),
		"generated/core_v1_Pod.json":         reflect.TypeOf(corev1.Pod{}),
		"generated/core_v1_Service.json":     reflect.TypeOf(corev1.Service{}),
		"generated/core_v1_ConfigMap.json":   reflect.TypeOf(corev1.ConfigMap{}),
	} {
		if compileTyped(file, typ) == nil {
			t.Errorf("%s: no reduced schema for %v", file, typ)
		}
	}
}
