package apiserver

import (
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
		out = append(out, toFieldError(fe))
	}
	return out
}

// toFieldError keeps the schema's own wording: its message already says
// what kind of problem it is ("Invalid value: ...", "Required value").
func toFieldError(fe schema.FieldError) *field.Error {
	path := fieldPath(fe.Path)
	switch fe.Type {
	case schema.TypeRequired:
		return &field.Error{Type: field.ErrorTypeRequired, Field: path.String(), Detail: fe.Message}
	case schema.TypeForbidden:
		return &field.Error{Type: field.ErrorTypeForbidden, Field: path.String(), Detail: fe.Message}
	case schema.TypeUnsupported:
		return &field.Error{Type: field.ErrorTypeNotSupported, Field: path.String(), Detail: fe.Message}
	}
	return &field.Error{Type: field.ErrorTypeInvalid, Field: path.String(), Detail: fe.Message}
}

func fieldPath(p string) *field.Path {
	if p == "" {
		return field.NewPath("<root>")
	}
	return field.NewPath(p)
}
