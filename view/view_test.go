package view

import (
	"bytes"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var viewNow = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestViewTable: hidden columns need -o wide, NAMESPACE comes from the
// rows' metadata, names get the kind prefix, and columns are padded as
// kubectl's tab writer pads them (three spaces, at least six wide).
func TestViewTable(t *testing.T) {
	table := &metav1.Table{
		ColumnDefinitions: []metav1.TableColumnDefinition{
			{Name: "Name", Format: "name"}, {Name: "Ready"}, {Name: "Node", Priority: 1},
		},
		Rows: []metav1.TableRow{
			{Cells: []any{"a", "1/1", "n1"}, Object: runtime.RawExtension{Raw: []byte(`{"metadata":{"namespace":"ns1"}}`)}},
			{Cells: []any{"long-name", float64(3), "multi\nline"}, Object: runtime.RawExtension{Raw: []byte(`{"metadata":{"namespace":"x"}}`)}},
		},
	}
	var b bytes.Buffer
	if err := WriteTable(&b, table, TableOptions{}); err != nil {
		t.Fatal(err)
	}
	if want := "NAME        READY\na           1/1\nlong-name   3\n"; b.String() != want {
		t.Fatalf("plain:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	_ = WriteTable(&b, table, TableOptions{Wide: true, WithNamespace: true, NamePrefix: "pod", NoHeaders: true})
	if want := "ns1   pod/a           1/1   n1\nx     pod/long-name   3     multi...\n"; b.String() != want {
		t.Fatalf("wide:\n%q\nwant\n%q", b.String(), want)
	}
}

// TestViewColorKeepsAlignment: colour codes do not count towards widths.
func TestViewColorKeepsAlignment(t *testing.T) {
	var plain, colored bytes.Buffer
	rows := [][]string{{"n1", "NotReady", "x"}, {"node-two", "Ready", "y"}}
	_ = WriteAligned(&plain, []string{"NAME", "STATUS", "AGE"}, rows, false)
	_ = WriteAligned(&colored, []string{"NAME", "STATUS", "AGE"}, rows, true)
	stripped := ansi.ReplaceAll(colored.Bytes(), nil)
	if !bytes.Equal(stripped, plain.Bytes()) || bytes.Equal(colored.Bytes(), plain.Bytes()) {
		t.Fatalf("colored:\n%q\nplain:\n%q", colored.String(), plain.String())
	}
}

// TestViewAges: ages and event intervals read from an injected clock.
func TestViewAges(t *testing.T) {
	if got := Since(metav1.NewTime(viewNow.Add(-90*time.Minute)), viewNow); got != "90m" {
		t.Errorf("Since = %q", got)
	}
	if got := Since(metav1.Time{}, viewNow); got != "<unknown>" {
		t.Errorf("zero = %q", got)
	}
	e := corev1.Event{Count: 4, FirstTimestamp: metav1.NewTime(viewNow.Add(-3 * time.Hour)), LastTimestamp: metav1.NewTime(viewNow.Add(-5 * time.Minute))}
	if got := eventInterval(&e, viewNow); got != "5m (x4 over 3h)" {
		t.Errorf("interval = %q", got)
	}
}

// TestViewPodRequests: init containers count at their maximum, app
// containers summed, and shares are of allocatable.
func TestViewPodRequests(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("1")}}}},
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("200m")}}},
			{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("300m")}}},
		},
	}}
	reqs, _ := PodRequestsAndLimits(p)
	alloc := corev1.ResourceList{corev1.ResourceCPU: mustQ("4")}
	if got := withFraction(reqs, alloc, corev1.ResourceCPU); got != "1 (25%)" {
		t.Fatalf("cpu = %q", got)
	}
	if QOSClass(p) != corev1.PodQOSBurstable {
		t.Fatalf("qos = %s", QOSClass(p))
	}
}
