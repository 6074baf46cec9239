package schema

import (
	"testing"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestFieldReadsLikeMessage: the Kubernetes field error of a schema problem
// prints the schema's own message, so the server's 422 and `cairn validate`
// agree word for word.
func TestFieldReadsLikeMessage(t *testing.T) {
	v := New()
	doc := map[string]any{
		"apiVersion": "v1", "kind": "Pod", "metadata": map[string]any{"name": "p"},
		"spec": map[string]any{"bogus": true, "restartPolicy": "Sometimes", "containers": []any{map[string]any{"image": 5}}},
	}
	errs, err := v.Validate(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, doc)
	if err != nil || len(errs) == 0 {
		t.Fatalf("want schema errors, got %v %v", errs, err)
	}
	for _, fe := range errs {
		f := fe.Field()
		body := f.ErrorBody()
		if fe.Type == TypeForbidden {
			if body != "Forbidden: "+fe.Message {
				t.Errorf("%s: %q", fe.Path, body)
			}
			continue
		}
		if body != fe.Message || f.Field != fe.Path {
			t.Errorf("%s: field error reads %q at %q, schema says %q", fe.Path, body, f.Field, fe.Message)
		}
	}
}
