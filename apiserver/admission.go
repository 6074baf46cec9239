package apiserver

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/apiserver/auth"
)

// Operation is what a request does to an object.
type Operation string

// Admission operations.
const (
	OperationCreate Operation = "CREATE"
	OperationUpdate Operation = "UPDATE"
	OperationDelete Operation = "DELETE"
)

// AdmissionAttributes describe one write for the admission plugins.
type AdmissionAttributes struct {
	Operation   Operation
	Resource    *Resource
	Subresource string
	Namespace   string
	Name        string
	Object      runtime.Object // mutating plugins change it in place
	OldObject   runtime.Object // nil on create; never to be changed
	User        auth.User
	DryRun      bool
}

// MutatingPlugin may change the object before validation (defaults,
// LimitRange). An error refuses the request.
type MutatingPlugin interface {
	Name() string
	Admit(ctx context.Context, a *AdmissionAttributes) error
}

// ValidatingPlugin accepts or refuses the final object; warnings go back to
// the client as Warning headers.
type ValidatingPlugin interface {
	Name() string
	Validate(ctx context.Context, a *AdmissionAttributes) (warnings []string, err error)
}
