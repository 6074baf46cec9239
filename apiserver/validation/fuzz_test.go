package validation

import (
	"encoding/json"
	"testing"

	"github.com/cairn-dev/cairn/defaults"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// fuzzSeeds are JSON documents for the fuzzers to start from: valid
// objects and some awkward shapes.
func fuzzSeeds(t testing.TB, objs ...any) [][]byte {
	seeds := [][]byte{
		[]byte(`{}`),
		[]byte(`{"metadata":{"name":""},"spec":{"containers":[{}]}}`),
		[]byte(`{"spec":{"volumes":[{"name":"v"}],"containers":[{"name":"a","volumeMounts":[{"name":"v"}],"ports":[{"containerPort":-1,"hostPort":99999}]}]}}`),
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"a","image":"a","livenessProbe":{},"lifecycle":{"preStop":{"sleep":{"seconds":-5}}}}]}},"strategy":{"rollingUpdate":{}}}}`),
		[]byte(`{"spec":{"selector":{"matchExpressions":[{"key":"","operator":"In"}]},"replicas":-3,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"x%","maxUnavailable":"250%"}}}}`),
		[]byte(`{"spec":{"containers":[{"name":"a","image":"a","resources":{"limits":{"hugepages-2Mi":"1Mi"},"requests":{"cpu":"-1","example.com/gpu":"0.5"}}}],"affinity":{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"x","operator":"Gt"}]}]}}},"topologySpreadConstraints":[{"maxSkew":-1,"minDomains":0}]}}`),
		[]byte(`{"spec":{"containers":[{"name":"a","image":"a","env":[{"name":"x","valueFrom":{"fieldRef":{"apiVersion":"v2","fieldPath":"metadata.labels['a']"},"resourceFieldRef":{"resource":"limits.cpu","divisor":"3"}}}]}],"dnsPolicy":"None","dnsConfig":{"nameservers":["a","b","c","d"]}}}`),
	}
	for _, o := range objs {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	return seeds
}

// exercise validates obj as a create, as an update of a copy of itself and
// of prev, before and after defaulting. It must never panic.
func exercise(obj, prev runtime.Object) {
	_ = Validate(obj, nil)
	_ = Validate(obj, prev)
	defaults.Apply(obj)
	defaults.Apply(obj) // idempotent, must not panic either
	_ = Validate(obj, nil)
	_ = Validate(obj, prev)
	_ = Validate(prev, obj)
}

func FuzzValidatePod(f *testing.F) {
	for _, s := range fuzzSeeds(f, validPod(nil)) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pod := &corev1.Pod{}
		if json.Unmarshal(data, pod) != nil {
			return
		}
		exercise(pod, validPod(nil))
		other := &corev1.Pod{}
		if json.Unmarshal(data, other) == nil {
			exercise(other, pod.DeepCopy())
		}
	})
}

func FuzzValidateDeployment(f *testing.F) {
	for _, s := range fuzzSeeds(f, validDeployment(nil)) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d := &appsv1.Deployment{}
		if json.Unmarshal(data, d) != nil {
			return
		}
		exercise(d, validDeployment(nil))
		other := &appsv1.Deployment{}
		if json.Unmarshal(data, other) == nil {
			exercise(other, d.DeepCopy())
		}
	})
}
