// Package v1 holds cairn's own API group, gitops.cairn.dev/v1: the
// GitRepository kind that declares a git source and reports its sync status.
package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupName is cairn's API group.
const GroupName = "gitops.cairn.dev"

// SchemeGroupVersion is gitops.cairn.dev/v1.
var SchemeGroupVersion = schema.GroupVersion{Group: GroupName, Version: "v1"}

// AddToScheme registers the group's kinds.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(SchemeGroupVersion, &GitRepository{}, &GitRepositoryList{})
	metav1.AddToGroupVersion(s, SchemeGroupVersion)
	return nil
}

// GitRepository is a git source whose manifests cairn keeps applied.
type GitRepository struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   GitRepositorySpec   `json:"spec,omitempty"`
	Status GitRepositoryStatus `json:"status,omitempty"`
}

// GitRepositorySpec says where the manifests are and how to fetch them.
type GitRepositorySpec struct {
	// URL is a local path, file://, https:// or ssh:// repository address.
	URL string `json:"url"`
	// Ref picks the revision: one of branch, tag or commit.
	Ref GitRef `json:"ref,omitempty"`
	// Path inside the repository holding the manifests; "" is the root.
	Path string `json:"path,omitempty"`
	// Interval between fetches, e.g. "15s".
	Interval *metav1.Duration `json:"interval,omitempty"`
	// SecretRef names a Secret in the same namespace with credentials
	// (username/password or bearerToken, and caFile, for https;
	// identity, password and known_hosts for ssh) and the push webhook's
	// webhook-secret.
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
	// Verify, when set, refuses revisions not signed by one of the keys
	// in the Secret it names (OpenPGP key rings as *.asc/*.gpg/pgp, SSH
	// keys as allowed_signers or *.pub).
	Verify *VerifySpec `json:"verify,omitempty"`
	// DefaultNamespace is used for objects in the revision without one.
	DefaultNamespace string `json:"defaultNamespace,omitempty"`
	// Prune deletes live objects this source applied that left git.
	Prune bool `json:"prune,omitempty"`
	// AllowEmpty lets a revision with no manifests prune everything.
	AllowEmpty bool `json:"allowEmpty,omitempty"`
	// Suspend stops syncing.
	Suspend bool `json:"suspend,omitempty"`
}

// VerifySpec names the keys revisions must be signed with.
type VerifySpec struct {
	SecretRef LocalObjectReference `json:"secretRef"`
}

// GitRef selects a revision.
type GitRef struct {
	Branch string `json:"branch,omitempty"`
	Tag    string `json:"tag,omitempty"`
	Commit string `json:"commit,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}

// GitRepositoryStatus reports the last fetch and apply.
type GitRepositoryStatus struct {
	ObservedGeneration    int64              `json:"observedGeneration,omitempty"`
	Conditions            []metav1.Condition `json:"conditions,omitempty"`
	LastAttemptedRevision string             `json:"lastAttemptedRevision,omitempty"`
	LastAppliedRevision   string             `json:"lastAppliedRevision,omitempty"`
	LastAppliedTime       *metav1.Time       `json:"lastAppliedTime,omitempty"`
	// Commit describes the applied revision for people.
	Commit *CommitInfo `json:"commit,omitempty"`
	// Errors lists every problem of the last attempted revision.
	Errors []SyncError `json:"errors,omitempty"`
	// Warnings are doubts about the last attempted revision that did not
	// stop it: a Service selecting no pod template of the revision, a
	// claim naming a StorageClass that does not exist.
	Warnings []SyncError `json:"warnings,omitempty"`
	// Health is how the workloads of the applied revision are doing.
	Health *Health `json:"health,omitempty"`
	// Inventory counts the objects this source owns.
	Inventory int `json:"inventory,omitempty"`
	// History is the last attempts, newest first (at most 10): each
	// revision tried and what came of it.
	History []Attempt `json:"history,omitempty"`
}

// Health summarises the applied revision's workloads (Deployments,
// StatefulSets, DaemonSets): healthy when all their replicas are updated
// and available, progressing while a rollout goes on, failing when it
// stopped (progress deadline exceeded) or the object is missing.
type Health struct {
	Workloads   int `json:"workloads"`
	Healthy     int `json:"healthy"`
	Progressing int `json:"progressing"`
	// Failing names the failing workloads as Kind/namespace/name: why
	// (at most 10).
	Failing []string `json:"failing,omitempty"`
}

// Attempt is one revision tried.
type Attempt struct {
	Revision string      `json:"revision,omitempty"`
	Time     metav1.Time `json:"time"`
	// Result is Applied, Refused or Failed (fetch, credentials or API
	// errors).
	Result  string `json:"result"`
	Message string `json:"message,omitempty"`
}

// CommitInfo is the applied commit's author and message.
type CommitInfo struct {
	Author  string       `json:"author,omitempty"`
	Message string       `json:"message,omitempty"`
	Time    *metav1.Time `json:"time,omitempty"`
}

// SyncError is one problem found in a revision, with where it came from.
type SyncError struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Object  string `json:"object,omitempty"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// GitRepositoryList is a list of GitRepository.
type GitRepositoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []GitRepository `json:"items"`
}
