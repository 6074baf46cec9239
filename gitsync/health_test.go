package gitsync

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestWorkloadState(t *testing.T) {
	for _, tc := range []struct {
		name, obj, want string
	}{
		{"deployment rolled out", `{"kind":"Deployment","metadata":{"generation":2},"spec":{"replicas":3},
			"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":3,"availableReplicas":3}}`, "healthy"},
		{"deployment not yet observed", `{"kind":"Deployment","metadata":{"generation":3},"spec":{"replicas":3},
			"status":{"observedGeneration":2,"replicas":3,"updatedReplicas":3,"availableReplicas":3}}`, "progressing"},
		{"deployment rolling", `{"kind":"Deployment","metadata":{"generation":2},"spec":{"replicas":3},
			"status":{"observedGeneration":2,"replicas":4,"updatedReplicas":2,"availableReplicas":3}}`, "progressing"},
		{"deployment stuck", `{"kind":"Deployment","metadata":{"generation":2},"spec":{"replicas":3},
			"status":{"observedGeneration":2,"conditions":[{"type":"Progressing","status":"False","reason":"ProgressDeadlineExceeded","message":"timed out"}]}}`, "failing"},
		{"statefulset updating", `{"kind":"StatefulSet","metadata":{"generation":1},"spec":{"replicas":2},
			"status":{"observedGeneration":1,"readyReplicas":2,"currentRevision":"a","updateRevision":"b"}}`, "progressing"},
		{"statefulset done", `{"kind":"StatefulSet","metadata":{"generation":1},"spec":{"replicas":2},
			"status":{"observedGeneration":1,"readyReplicas":2,"currentRevision":"b","updateRevision":"b"}}`, "healthy"},
		{"daemonset done", `{"kind":"DaemonSet","metadata":{"generation":1},
			"status":{"observedGeneration":1,"desiredNumberScheduled":5,"numberAvailable":5,"updatedNumberScheduled":5}}`, "healthy"},
		{"daemonset short", `{"kind":"DaemonSet","metadata":{"generation":1},
			"status":{"observedGeneration":1,"desiredNumberScheduled":5,"numberAvailable":4,"updatedNumberScheduled":5}}`, "progressing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// As the dynamic client decodes: integers are int64.
			u := &unstructured.Unstructured{}
			if err := u.UnmarshalJSON([]byte(strings.Replace(tc.obj, `{"kind"`, `{"apiVersion":"apps/v1","kind"`, 1))); err != nil {
				t.Fatal(err)
			}
			if got, why := workloadState(u); got != tc.want {
				t.Errorf("%s (%s), want %s", got, why, tc.want)
			}
		})
	}
}
