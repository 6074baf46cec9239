package garbagecollector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// errNamespacedOwnerOfClusterScoped: a cluster-scoped object names a
// namespaced owner. An owner reference carries no namespace, so there is
// nowhere to look it up; retrying cannot help.
var errNamespacedOwnerOfClusterScoped = errors.New("cluster-scoped objects cannot refer to namespaced owners")

// restMappingError: the kind an owner reference or node names is not
// served (yet); a later discovery may know it.
type restMappingError struct{ kind, version string }

func (e *restMappingError) Error() string {
	return fmt.Sprintf("unable to get REST mapping for %s/%s", e.kind, e.version)
}

// maxPatchAttempts bounds the read-modify-patch retries on conflicts
// before the item goes back to the queue.
const maxPatchAttempts = 5

// apiResource maps an apiVersion and kind to the resource serving it.
func (c *Controller) apiResource(apiVersion, kind string) (schema.GroupVersionResource, bool, error) {
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil || gv.Version == "" {
		return schema.GroupVersionResource{}, false, &restMappingError{kind: kind, version: apiVersion}
	}
	mapper := c.mapper.Load()
	if mapper == nil {
		return schema.GroupVersionResource{}, false, &restMappingError{kind: kind, version: apiVersion}
	}
	m, err := (*mapper).RESTMapping(schema.GroupKind{Group: gv.Group, Kind: kind}, gv.Version)
	if err != nil {
		return schema.GroupVersionResource{}, false, &restMappingError{kind: kind, version: apiVersion}
	}
	return m.Resource, m.Scope.Name() == meta.RESTScopeNameNamespace, nil
}

// resourceClient is the metadata client for the object id names.
func (c *Controller) resourceClient(id objectReference) (metadata.ResourceInterface, error) {
	gvr, namespaced, err := c.apiResource(id.APIVersion, id.Kind)
	if err != nil {
		return nil, err
	}
	if !namespaced {
		return c.metadata.Resource(gvr), nil
	}
	if id.Namespace == "" {
		return nil, errNamespacedOwnerOfClusterScoped
	}
	return c.metadata.Resource(gvr).Namespace(id.Namespace), nil
}

// getObject reads the object's live metadata, past every cache.
func (c *Controller) getObject(ctx context.Context, id objectReference) (*metav1.PartialObjectMetadata, error) {
	rc, err := c.resourceClient(id)
	if err != nil {
		return nil, err
	}
	return rc.Get(ctx, id.Name, metav1.GetOptions{})
}

// deleteObject deletes the object, only if it is still the one with
// id's UID.
func (c *Controller) deleteObject(ctx context.Context, id objectReference, policy metav1.DeletionPropagation) error {
	rc, err := c.resourceClient(id)
	if err != nil {
		return err
	}
	uid := id.UID
	return rc.Delete(ctx, id.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}, PropagationPolicy: &policy})
}

// patchMeta re-reads the object and applies change to its metadata,
// writing the result back with a merge patch conditional on the version
// read; a conflict starts over. change returns the patch, or nil when
// nothing needs writing. A missing object (or one replaced under the same
// name) is not an error: there is nothing left to change.
func (c *Controller) patchMeta(ctx context.Context, id objectReference, change func(*metav1.PartialObjectMetadata) ([]byte, error)) error {
	rc, err := c.resourceClient(id)
	if err != nil {
		return err
	}
	for attempt := 0; ; attempt++ {
		live, err := rc.Get(ctx, id.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if live.UID != id.UID {
			return nil
		}
		patch, err := change(live)
		if err != nil || patch == nil {
			return err
		}
		_, err = rc.Patch(ctx, id.Name, types.MergePatchType, patch, metav1.PatchOptions{})
		switch {
		case err == nil || apierrors.IsNotFound(err):
			return nil
		case apierrors.IsConflict(err) && attempt+1 < maxPatchAttempts:
			continue
		}
		return fmt.Errorf("patching %s: %w", id, err)
	}
}

// removeOwnerRefs deletes the references to uids from the object.
func (c *Controller) removeOwnerRefs(ctx context.Context, id objectReference, uids []types.UID) error {
	return c.patchMeta(ctx, id, func(live *metav1.PartialObjectMetadata) ([]byte, error) {
		refs := withoutOwners(live.OwnerReferences, uids)
		if len(refs) == len(live.OwnerReferences) {
			return nil, nil
		}
		return ownerRefsPatch(live.UID, live.ResourceVersion, refs)
	})
}

// unblockOwnerRefs clears blockOwnerDeletion on the object's references.
func (c *Controller) unblockOwnerRefs(ctx context.Context, id objectReference) error {
	return c.patchMeta(ctx, id, func(live *metav1.PartialObjectMetadata) ([]byte, error) {
		refs := unblocked(live.OwnerReferences)
		if slices.EqualFunc(refs, live.OwnerReferences, refsEqual) {
			return nil, nil
		}
		return ownerRefsPatch(live.UID, live.ResourceVersion, refs)
	})
}

// removeFinalizer takes finalizer f off the object; with no finalizer
// left the API server completes its deletion.
func (c *Controller) removeFinalizer(ctx context.Context, id objectReference, f string) error {
	return c.patchMeta(ctx, id, func(live *metav1.PartialObjectMetadata) ([]byte, error) {
		if !slices.Contains(live.Finalizers, f) {
			return nil, nil
		}
		rest := slices.DeleteFunc(slices.Clone(live.Finalizers), func(s string) bool { return s == f })
		return finalizersPatch(live.UID, live.ResourceVersion, rest)
	})
}
