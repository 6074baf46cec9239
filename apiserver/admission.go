package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/apiserver/auth"
	"github.com/cairn-dev/cairn/policies"
)

// admissionAttributes describes one write for the admission plugins, in the
// policies package's terms (policies is a leaf library shared with gitsync
// and `cairn validate`).
func admissionAttributes(op policies.Operation, res *Resource, subresource, namespace, name string,
	obj, old runtime.Object, user auth.User, dryRun bool) *policies.Attributes {
	return &policies.Attributes{
		Operation: op, Kind: res.GVK(), Resource: res.GroupVersion().WithResource(res.Resource),
		Subresource: subresource, Namespace: namespace, Name: name, Object: obj, OldObject: old,
		User:   policies.UserInfo{Name: user.Name, UID: user.UID, Groups: user.Groups},
		DryRun: dryRun,
	}
}
