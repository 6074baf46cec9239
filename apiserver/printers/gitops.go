package printers

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

const (
	gitopsGroup       = "gitops.cairn.dev"
	gitRepositoryKind = "GitRepository"
	// revisionWidth is how much of the applied revision REVISION shows.
	revisionWidth = 12
)

// The GitRepository printer reads fields by path, so it works on an
// Unstructured or on any typed object that converts to one.
func init() {
	register(gitopsGroup, gitRepositoryKind, Printer{
		Columns: []metav1.TableColumnDefinition{
			nameColumn(),
			column("URL", "string", "The URL of the Git repository."),
			column("Revision", "string", "The last revision applied from the repository."),
			column("Ready", "string", "The status of the Ready condition."),
			column("Status", "string", "The message of the Ready condition."),
			ageColumn(),
		},
		Cells: gitRepositoryCells,
	})
}

func gitRepositoryCells(obj runtime.Object, now time.Time) ([]any, error) {
	content, err := unstructuredContent(obj)
	if err != nil {
		return nil, err
	}
	if kind, _, _ := unstructured.NestedString(content, "kind"); kind != "" && kind != gitRepositoryKind {
		return nil, fmt.Errorf("printers: cannot print a %s as a %s", kind, gitRepositoryKind)
	}
	str := func(path ...string) string {
		s, _, _ := unstructured.NestedString(content, path...)
		return s
	}

	revision := []rune(str("status", "lastAppliedRevision"))
	if len(revision) > revisionWidth {
		revision = revision[:revisionWidth]
	}

	ready, message := "", ""
	conditions, _, _ := unstructured.NestedSlice(content, "status", "conditions")
	for _, c := range conditions {
		cond, ok := c.(map[string]any)
		if !ok {
			continue
		}
		if t, _, _ := unstructured.NestedString(cond, "type"); t == "Ready" {
			ready, _, _ = unstructured.NestedString(cond, "status")
			message, _, _ = unstructured.NestedString(cond, "message")
			break
		}
	}

	var created metav1.Time
	if ts := str("metadata", "creationTimestamp"); ts != "" {
		if err := created.UnmarshalQueryParameter(ts); err != nil {
			created = metav1.Time{}
		}
	}

	return []any{
		str("metadata", "name"),
		str("spec", "url"),
		string(revision),
		ready,
		message,
		age(now, created),
	}, nil
}

// unstructuredContent returns obj's fields as a map: an Unstructured's own,
// or those of a typed object converted.
func unstructuredContent(obj runtime.Object) (map[string]any, error) {
	if isNil(obj) {
		return nil, fmt.Errorf("printers: nil object")
	}
	if u, ok := obj.(runtime.Unstructured); ok {
		return u.UnstructuredContent(), nil
	}
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("printers: converting %T: %w", obj, err)
	}
	return content, nil
}
