package apiserver

import (
	"bytes"
	"encoding/json"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cairn-dev/cairn/schema"
)

// schemaErrors validates the object, as it will be stored, against its
// kind's JSON Schema: the same schemas and the same messages `cairn
// validate` and gitsync give offline.
func (s *Server) schemaErrors(obj runtime.Object, res *Resource) field.ErrorList {
	if !s.schemas.Known(res.GVK()) {
		return nil
	}
	doc, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	ferrs, err := s.schemas.Validate(res.GVK(), doc)
	if err != nil {
		return field.ErrorList{field.InternalError(nil, err)}
	}
	var out field.ErrorList
	for _, fe := range ferrs {
		out = append(out, fe.Field())
	}
	return out
}

// explainDecodeError: a JSON body the decoder refused for a wrong type
// ("replicas": "three") is checked against the kind's schema, which names
// the field and the problem; that 422 replaces the decoder's 400. `cairn
// validate` does the same, so both say the same thing.
func (s *Server) explainDecodeError(q *request, body []byte, decodeErr error) error {
	msg := decodeErr.Error()
	if !s.schemas.Known(q.res.GVK()) || bytes.HasPrefix(body, protobufMagic) ||
		!strings.Contains(msg, "cannot be handled as") || strings.Contains(msg, "strict decoding error") {
		return decodeErr // only a value the decoder could not take is explained
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return decodeErr
	}
	ferrs, err := s.schemas.Validate(q.res.GVK(), doc)
	if err != nil || len(ferrs) == 0 {
		return decodeErr
	}
	var out field.ErrorList
	for _, fe := range ferrs {
		if fe.Type == schema.TypeForbidden {
			continue // unknown fields: the strict decoder's own message says it
		}
		out = append(out, fe.Field())
	}
	if len(out) == 0 {
		return decodeErr
	}
	name, _, _ := unstructuredName(doc)
	return apierrors.NewInvalid(q.res.GVK().GroupKind(), name, out)
}

func unstructuredName(doc map[string]any) (string, bool, error) {
	md, _ := doc["metadata"].(map[string]any)
	name, ok := md["name"].(string)
	return name, ok, nil
}
