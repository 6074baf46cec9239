package framework

import "testing"

func TestFitErrorMessage(t *testing.T) {
	insufficient := NewStatus(Unschedulable, "Insufficient cpu", "Insufficient memory")
	tests := []struct {
		name string
		err  FitError
		want string
	}{
		{"reasons counted, sorted as strings", FitError{NumAllNodes: 12, Diagnosis: Diagnosis{NodeToStatus: map[string]*Status{
			"a": insufficient, "b": NewStatus(Unschedulable, "Insufficient cpu"), "c": NewStatus(UnschedulableAndUnresolvable, "node(s) were unschedulable"),
		}}}, "0/12 nodes are available: 1 Insufficient memory, 1 node(s) were unschedulable, 2 Insufficient cpu."},
		{"absent nodes take the absent status", FitError{NumAllNodes: 5, Diagnosis: Diagnosis{
			NodeToStatus:      map[string]*Status{"a": insufficient},
			AbsentNodesStatus: NewStatus(UnschedulableAndUnresolvable, "node(s) didn't satisfy plugin(s) [NodeAffinity]"),
		}}, "0/5 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 4 node(s) didn't satisfy plugin(s) [NodeAffinity]."},
		{"a PreFilter message replaces the node reasons", FitError{NumAllNodes: 3, Diagnosis: Diagnosis{
			PreFilterMsg: `persistentvolumeclaim "x" not found`, AbsentNodesStatus: NewStatus(UnschedulableAndUnresolvable, "ignored"),
		}}, `0/3 nodes are available: persistentvolumeclaim "x" not found.`},
		{"no reasons", FitError{NumAllNodes: 2}, "0/2 nodes are available:"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("%s:\ngot  %q\nwant %q", tc.name, got, tc.want)
		}
	}
}

func TestStatus(t *testing.T) {
	var s *Status
	if !s.IsSuccess() || s.Code() != Success || s.Reasons() != nil || s.AsError() != nil {
		t.Error("nil status is not success")
	}
	shared := rejection("A", Unschedulable, "r")
	c := shared.WithPlugin("B")
	if shared.Plugin() != "A" || c.Plugin() != "B" || !c.IsRejected() || c.Message() != "r" {
		t.Errorf("WithPlugin modified a shared status: %v, %v", shared, c)
	}
	if NewStatus(Skip).AsError() != nil || !NewStatus(Skip).IsSkip() {
		t.Error("Skip")
	}
	if AsStatus(nil) != nil || AsStatus(errTest).Code() != Error || AsStatus(errTest).Message() != "boom" {
		t.Error("AsStatus")
	}
}

type testError struct{}

func (testError) Error() string { return "boom" }

var errTest = testError{}
