// Package policies is cairn's admission: the built-in plugins
// (policies/builtin) and the CEL ValidatingAdmissionPolicy engine
// (policies/cel). It is a leaf library: the API server runs it on every
// write, and gitsync and `cairn validate` run the same code offline, so all
// three give the same verdict.
package policies

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Operation is what a request does to an object.
type Operation string

// Admission operations, as Kubernetes names them.
const (
	Create  Operation = "CREATE"
	Update  Operation = "UPDATE"
	Delete  Operation = "DELETE"
	Connect Operation = "CONNECT"
)

// UserInfo is the requester, as authenticated.
type UserInfo struct {
	Name   string
	UID    string
	Groups []string
}

// Attributes describe one write being admitted.
type Attributes struct {
	Operation   Operation
	Kind        schema.GroupVersionKind
	Resource    schema.GroupVersionResource
	Subresource string
	Namespace   string
	Name        string
	// Object is the new object; mutating plugins change it in place. Nil on
	// delete.
	Object runtime.Object
	// OldObject is the stored object on update and delete; never changed.
	OldObject runtime.Object
	User      UserInfo
	DryRun    bool
}

// Mutating plugins may change Attributes.Object; an error refuses the
// request (return a *k8s.io/apimachinery/pkg/api/errors.StatusError to
// choose the HTTP status, Forbidden otherwise).
type Mutating interface {
	Name() string
	Admit(ctx context.Context, a *Attributes) error
}

// Validating plugins accept or refuse the final object. Warnings go back
// to the client as HTTP Warning headers; audit annotations are recorded
// with the request.
type Validating interface {
	Name() string
	Validate(ctx context.Context, a *Attributes) (Result, error)
}

// Result is what a validating plugin found besides a refusal.
type Result struct {
	Warnings         []string
	AuditAnnotations map[string]string
}
