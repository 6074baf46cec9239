package statefulset

import (
	"fmt"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestNewRevision(t *testing.T) {
	set := newSet(1)
	set.Annotations = map[string]string{"note": "x"}
	cr, err := newRevision(set, 3, ptr.To(int32(0)))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(cr.Data.Raw)
	if !strings.HasPrefix(raw, `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"web"}},"spec":{"containers":[{`) {
		t.Errorf("data %s", raw)
	}
	hash := cr.Labels[RevisionHashLabel]
	if hash == "" || cr.Name != "web-"+hash || cr.Revision != 3 || cr.Labels["app"] != "web" || cr.Annotations["note"] != "x" {
		t.Errorf("revision %+v", cr.ObjectMeta)
	}
	if ref := metav1.GetControllerOf(cr); ref == nil || ref.UID != set.UID {
		t.Errorf("owner %+v", cr.OwnerReferences)
	}
	back, err := applyRevision(withImage(set, "other"), cr)
	if err != nil {
		t.Fatal(err)
	}
	if !apiequality.Semantic.DeepEqual(back.Spec.Template, set.Spec.Template) {
		t.Errorf("applied template %+v, want %+v", back.Spec.Template, set.Spec.Template)
	}
}

func TestRevisionHash(t *testing.T) {
	set := newSet(1)
	name := func(s *appsv1.StatefulSet, collisions int32, number int64) string {
		cr, err := newRevision(s, number, ptr.To(collisions))
		if err != nil {
			t.Fatal(err)
		}
		return cr.Name
	}
	base := name(set, 0, 1)
	for _, tc := range []struct {
		what string
		got  string
		same bool
	}{
		{"same template, other number", name(set, 0, 5), true},
		{"other replicas", name(newSet(7), 0, 1), true},
		{"other image", name(withImage(set, "img:2"), 0, 1), false},
		{"collision counted", name(set, 1, 1), false},
	} {
		if (tc.got == base) != tc.same {
			t.Errorf("%s: %s vs %s, want same=%v", tc.what, tc.got, base, tc.same)
		}
	}
}

func TestRevisionsToPrune(t *testing.T) {
	mk := func(n int) []*appsv1.ControllerRevision {
		var out []*appsv1.ControllerRevision
		for i := 1; i <= n; i++ {
			out = append(out, &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("r%d", i)}, Revision: int64(i)})
		}
		return out
	}
	names := func(rs []*appsv1.ControllerRevision) string {
		var s []string
		for _, r := range rs {
			s = append(s, r.Name)
		}
		return strings.Join(s, ",")
	}
	podAt := func(rev string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{appsv1.StatefulSetRevisionLabel: rev}}}
	}
	for _, tc := range []struct {
		name            string
		limit           *int32
		n               int
		current, update string
		pods            []*corev1.Pod
		want            string
	}{
		{name: "within the default limit", n: 12, current: "r11", update: "r12", want: ""},
		{name: "beyond the default limit", n: 14, current: "r13", update: "r14", want: "r1,r2"},
		{name: "limit 0 keeps only live ones", limit: ptr.To(int32(0)), n: 5, current: "r2", update: "r5", pods: []*corev1.Pod{podAt("r3")}, want: "r1,r4"},
		{name: "limit 1", limit: ptr.To(int32(1)), n: 4, current: "r4", update: "r4", want: "r1,r2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := newSet(1)
			if tc.limit != nil {
				set.Spec.RevisionHistoryLimit = tc.limit
			}
			if got := names(revisionsToPrune(set, tc.pods, mk(tc.n), tc.current, tc.update)); got != tc.want {
				t.Errorf("prune %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSortRevisions(t *testing.T) {
	rs := []*appsv1.ControllerRevision{
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Revision: 2},
		{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Revision: 1},
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Revision: 2},
	}
	sortRevisions(rs)
	if rs[0].Name != "c" || rs[1].Name != "a" || rs[2].Name != "b" || nextRevision(rs) != 3 || nextRevision(nil) != 1 {
		t.Errorf("sorted %s %s %s", rs[0].Name, rs[1].Name, rs[2].Name)
	}
}
