package printers

import (
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// goldenCase is a kind with a few objects in interesting states, rendered
// into testdata/.
type goldenCase struct {
	group, kind string
	resource    string // as typed after kubectl get, for the golden header
	objects     []runtime.Object
}

func (c goldenCase) file() string {
	name := strings.ToLower(c.kind)
	if c.group != "" {
		name += "." + c.group
	}
	return name
}

func goldenCases() []goldenCase {
	var cases []goldenCase
	cases = append(cases, podCases()...)
	cases = append(cases, coreCases()...)
	cases = append(cases, storageCases()...)
	cases = append(cases, workloadCases()...)
	cases = append(cases, apiCases()...)
	return cases
}

// objectMeta for a namespaced fixture created age ago.
func objMeta(name string, age time.Duration) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(age)}
}

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func microAgo(d time.Duration) metav1.MicroTime { return metav1.NewMicroTime(now.Add(-d)) }

func ptr[T any](v T) *T { return &v }

const (
	second = time.Second
	minute = time.Minute
	hour   = time.Hour
	day    = 24 * time.Hour
)
