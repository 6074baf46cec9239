package framework

import "testing"

func TestNodeName(t *testing.T) {
	snap := NewSnapshot(nodes(newNode("a"), newNode("b")), nil)
	const reject = "UnschedulableAndUnresolvable: node(s) didn't match the requested node name"
	_, got := filterNodes(t, &NodeName{}, newPod("p").on("b").obj(), snap)
	if want := map[string]string{"a": reject, "b": ""}; !equalMaps(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	_, got = filterNodes(t, &NodeName{}, newPod("p").obj(), snap)
	if want := map[string]string{"a": "", "b": ""}; !equalMaps(got, want) {
		t.Errorf("without nodeName: got %v, want %v", got, want)
	}
}
