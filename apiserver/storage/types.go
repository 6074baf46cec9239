// Package storage is cairn's etcd-backed object store: the only code in cairn
// that talks to etcd. Objects are stored as JSON under
// /registry/<resource>/<namespace>/<name> (cluster-scoped:
// /registry/<resource>/<name>); an object's resourceVersion is the etcd mod
// revision of its key and is never stored in the value itself.
//
// Each served resource is opened once (Store.Open), which starts one etcd
// watch feeding an in-memory watch cache; client watches and cached reads are
// served from that cache.
//
// Objects returned by this package may be shared with the watch cache: callers
// must DeepCopy before mutating them.
package storage

import (
	"errors"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
)

// Sentinel errors; wrapped errors name the key involved.
var (
	ErrNotFound = errors.New("storage: not found")
	ErrExists   = errors.New("storage: already exists")
	ErrConflict = errors.New("storage: resource version conflict")
	// ErrClaimed: a Claim key of a Create or Update is already taken.
	ErrClaimed = errors.New("storage: claim already taken")
	// ErrGone: the requested resource version was compacted or is older than
	// the watch cache window.
	ErrGone = errors.New("storage: resource version too old")
	// ErrInvalidContinue: a continue token could not be decoded.
	ErrInvalidContinue = errors.New("storage: invalid continue token")
	// ErrTimeout: a resourceVersion in the future the cache did not reach in
	// time (Kubernetes answers "Too large resource version").
	ErrTimeout = errors.New("storage: timed out waiting for resource version")
	// ErrInvalidResourceVersion: a resourceVersion that is not a revision.
	ErrInvalidResourceVersion = errors.New("storage: invalid resource version")
)

// Codec turns objects into the bytes kept in etcd and back. The store clears
// metadata.resourceVersion before Encode and sets it after Decode.
type Codec interface {
	Encode(obj runtime.Object) ([]byte, error)
	Decode(data []byte) (runtime.Object, error)
}

// AttrFunc returns the labels and the selectable fields of an object.
type AttrFunc func(obj runtime.Object) (labels.Set, fields.Set, error)

// Predicate selects objects by label and field selectors; nil selectors match
// everything.
type Predicate struct {
	Label labels.Selector
	Field fields.Selector
}

// Claim is an extra key written in the same etcd transaction as an object,
// used to allocate unique values (a Service's ClusterIP, a NodePort). The
// transaction fails with ErrClaimed when the key already exists.
type Claim struct {
	Key   string
	Value []byte
}

// Update is what an UpdateFunc decides for the current object.
type Update struct {
	Object   runtime.Object // the new object (ignored when Delete is set)
	Claims   []Claim        // keys to create in the same transaction
	Releases []string       // keys to delete in the same transaction
	Delete   bool           // delete the object instead (e.g. last finalizer removed)
}

// UpdateFunc receives the current object (a private deep copy it may mutate)
// and returns the update to apply. GuaranteedUpdate calls it again with the
// fresh object when the compare-and-swap loses a race.
type UpdateFunc func(current runtime.Object) (Update, error)

// ListOptions mirror metav1.ListOptions' semantics.
type ListOptions struct {
	// ResourceVersion "" is a consistent (quorum) read; "0" is served from the
	// watch cache; any other value with ResourceVersionMatch "Exact" reads
	// etcd at that revision, otherwise it is "not older than".
	ResourceVersion      string
	ResourceVersionMatch string
	Limit                int64
	Continue             string
	Predicate            Predicate
}

// ListResult is one page of a list.
type ListResult struct {
	Items              []runtime.Object
	ResourceVersion    int64
	Continue           string
	RemainingItemCount *int64
}

// WatchOptions mirror metav1.ListOptions' watch semantics.
type WatchOptions struct {
	// ResourceVersion "" or "0": synthetic ADDED events for the current state,
	// then changes. Any other value: changes after that revision (exclusive);
	// ErrGone when it is older than the watch cache window.
	ResourceVersion string
	// SendInitialEvents (watch-list, used by client-go informers): ADDED for
	// every current object, then a BOOKMARK annotated
	// "k8s.io/initial-events-end": "true".
	SendInitialEvents *bool
	AllowBookmarks    bool
	Predicate         Predicate
}

// DeleteOptions carry a precondition and keys released with the object.
type DeleteOptions struct {
	// Precondition is checked against the current object; an error aborts.
	Precondition func(current runtime.Object) error
	Releases     []string
}

// CreateOptions carry claims written with the object.
type CreateOptions struct {
	Claims []Claim
}
