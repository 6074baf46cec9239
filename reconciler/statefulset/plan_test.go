package statefulset

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// spod is a test pod: ordinal, at the update revision or not, state.
type spod struct {
	ord     int
	updated bool
	st      podState
}

type planCase struct {
	name     string
	replicas int32
	tweak    func(*appsv1.StatefulSet)
	// newImage makes the set's template differ from the current revision.
	newImage bool
	pods     []spod
	want     string
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			base := newSet(tc.replicas)
			if tc.tweak != nil {
				tc.tweak(base)
			}
			set := base
			if tc.newImage {
				set = withImage(base, "img:2")
			}
			rev := revs(t, base, set)
			var pods []*corev1.Pod
			for _, sp := range tc.pods {
				if sp.updated {
					pods = append(pods, statePod(rev.updateSet, sp.ord, rev.update.Name, sp.st))
				} else {
					pods = append(pods, statePod(rev.currentSet, sp.ord, rev.current.Name, sp.st))
				}
			}
			pl := decide(set, rev, pods, nil, t0)
			if got := pl.describe(); got != tc.want {
				t.Errorf("plan %q, want %q", got, tc.want)
			}
			for _, step := range pl.steps {
				for _, a := range step {
					if a.kind != actCreate {
						continue
					}
					wantRev, wantImg := rev.update.Name, set.Spec.Template.Spec.Containers[0].Image
					if a.pod.Labels[appsv1.StatefulSetRevisionLabel] == rev.current.Name && rev.current != rev.update {
						wantRev, wantImg = rev.current.Name, base.Spec.Template.Spec.Containers[0].Image
					}
					if podRevision(a.pod) != wantRev || a.pod.Spec.Containers[0].Image != wantImg {
						t.Errorf("created %s at %s/%s", a.pod.Name, podRevision(a.pod), a.pod.Spec.Containers[0].Image)
					}
				}
			}
		})
	}
}

func TestDecideOrderedReady(t *testing.T) {
	runPlanCases(t, []planCase{
		{name: "new set creates ordinal 0 only", replicas: 3, want: "create web-0"},
		{name: "waits for pending pod 0, creating its claims", replicas: 3, pods: []spod{{0, false, pending}}, want: "claims web-0"},
		{name: "waits for unready pod 0", replicas: 3, pods: []spod{{0, false, notReady}}, want: ""},
		{name: "pod 0 ready: create 1", replicas: 3, pods: []spod{{0, false, ready}}, want: "create web-1"},
		{name: "pod 0 ready, 1 unready: wait", replicas: 3, pods: []spod{{0, false, ready}, {1, false, notReady}}, want: ""},
		{name: "a gap is filled lowest first", replicas: 3, pods: []spod{{0, false, ready}, {2, false, ready}}, want: "create web-1"},
		{name: "failed pod is deleted", replicas: 3, pods: []spod{{0, false, failed}, {1, false, ready}}, want: "delete web-0"},
		{name: "terminating pod blocks", replicas: 3, pods: []spod{{0, false, terminating}}, want: ""},
		{name: "not yet available blocks", replicas: 3, tweak: func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 },
			pods: []spod{{0, false, readyNow}}, want: ""},
		{name: "available after minReadySeconds", replicas: 3, tweak: func(s *appsv1.StatefulSet) { s.Spec.MinReadySeconds = 10 },
			pods: []spod{{0, false, ready}}, want: "create web-1"},
		{name: "scale down deletes the highest ordinal", replicas: 1,
			pods: []spod{{0, false, ready}, {1, false, ready}, {2, false, ready}}, want: "delete web-2"},
		{name: "scale down waits for the terminating pod", replicas: 1,
			pods: []spod{{0, false, ready}, {1, false, ready}, {2, false, terminating}}, want: ""},
		{name: "scale down waits for an unhealthy replica", replicas: 1,
			pods: []spod{{0, false, notReady}, {1, false, ready}, {2, false, ready}}, want: ""},
		{name: "scale down deletes the first unhealthy condemned pod", replicas: 1,
			pods: []spod{{0, false, ready}, {1, false, ready}, {2, false, notReady}}, want: "delete web-2"},
		{name: "scale down deletes a healthy pod above an unhealthy one", replicas: 1,
			pods: []spod{{0, false, ready}, {1, false, notReady}, {2, false, ready}}, want: "delete web-2"},
		{name: "creation comes before scale down", replicas: 2,
			pods: []spod{{1, false, ready}, {2, false, ready}}, want: "create web-0"},
		{name: "start ordinal", replicas: 2, tweak: func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} },
			pods: []spod{{5, false, ready}}, want: "create web-6"},
		{name: "pods below the start ordinal are condemned", replicas: 2, tweak: func(s *appsv1.StatefulSet) { s.Spec.Ordinals = &appsv1.StatefulSetOrdinals{Start: 5} },
			pods: []spod{{0, false, ready}, {1, false, ready}, {5, false, ready}, {6, false, ready}}, want: "delete web-1"},
		{name: "a set being deleted does nothing", replicas: 3, tweak: func(s *appsv1.StatefulSet) { s.DeletionTimestamp = ptr.To(s.CreationTimestamp) },
			want: ""},
	})
}

func TestDecideParallel(t *testing.T) {
	parallel := func(s *appsv1.StatefulSet) { s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement }
	runPlanCases(t, []planCase{
		{name: "creates all at once", replicas: 3, tweak: parallel, want: "create web-0,create web-1,create web-2"},
		{name: "does not wait for readiness", replicas: 3, tweak: parallel,
			pods: []spod{{0, false, notReady}, {1, false, failed}}, want: "delete web-1,create web-2"},
		{name: "scales down all at once", replicas: 1, tweak: parallel,
			pods: []spod{{0, false, ready}, {1, false, notReady}, {2, false, ready}, {3, false, terminating}}, want: "delete web-2,delete web-1"},
		{name: "scales up and down in one sync", replicas: 2, tweak: parallel,
			pods: []spod{{0, false, ready}, {2, false, ready}}, want: "create web-1; delete web-2"},
	})
}

func TestDecideRollingUpdate(t *testing.T) {
	part := func(n int32) func(*appsv1.StatefulSet) {
		return func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(n) }
	}
	all := func(updated ...bool) []spod {
		var out []spod
		for i, u := range updated {
			out = append(out, spod{i, u, ready})
		}
		return out
	}
	runPlanCases(t, []planCase{
		{name: "no change, nothing to do", replicas: 4, pods: all(false, false, false, false), want: ""},
		{name: "highest ordinal first", replicas: 4, newImage: true, pods: all(false, false, false, false), want: "delete web-3"},
		{name: "its replacement is created at the update revision", replicas: 4, newImage: true,
			pods: all(false, false, false), want: "create web-3"},
		{name: "waits for the replacement to be ready", replicas: 4, newImage: true,
			pods: []spod{{0, false, ready}, {1, false, ready}, {2, false, ready}, {3, true, notReady}}, want: ""},
		{name: "then the next lower one", replicas: 4, newImage: true, pods: all(false, false, false, true), want: "delete web-2"},
		{name: "partition keeps lower ordinals", replicas: 4, newImage: true, tweak: part(2), pods: all(false, false, true, true), want: ""},
		{name: "partition: above it updates", replicas: 4, newImage: true, tweak: part(2), pods: all(false, false, false, true), want: "delete web-2"},
		{name: "partition: a missing pod below it is recreated at the current revision", replicas: 4, newImage: true, tweak: part(2),
			pods: []spod{{1, false, ready}, {2, true, ready}, {3, true, ready}}, want: "create web-0"},
		{name: "partition lowered to 0 finishes", replicas: 4, newImage: true, pods: all(false, false, true, true), want: "delete web-1"},
		{name: "maxUnavailable 2 deletes two", replicas: 4, newImage: true,
			tweak: func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromInt32(2))
			},
			pods: all(false, false, false, false), want: "delete web-3; delete web-2"},
		{name: "maxUnavailable 50% with one unready: one more", replicas: 4, newImage: true,
			tweak: func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = ptr.To(intstr.FromString("50%"))
				s.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
			},
			pods: []spod{{0, false, ready}, {1, false, ready}, {2, false, ready}, {3, true, notReady}}, want: "delete web-2"},
		{name: "OnDelete leaves old pods", replicas: 2, newImage: true,
			tweak: func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
			},
			pods: all(false, false), want: ""},
		{name: "OnDelete recreates a deleted pod at the update revision", replicas: 2, newImage: true,
			tweak: func(s *appsv1.StatefulSet) {
				s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.OnDeleteStatefulSetStrategyType}
			},
			pods: all(false), want: "create web-1"},
	})
}

func TestDecideRepairsIdentity(t *testing.T) {
	set := newSet(1)
	rev := revs(t, set, set)
	p := statePod(set, 0, rev.current.Name, ready)
	delete(p.Labels, appsv1.PodIndexLabel)
	if got := decide(set, rev, []*corev1.Pod{p}, nil, t0).describe(); got != "update web-0" {
		t.Errorf("plan %q, want update web-0", got)
	}
}

func TestStatus(t *testing.T) {
	base := newSet(4)
	base.Generation = 7
	set := withImage(base, "img:2")
	set.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(int32(2))
	rev := revs(t, base, set)
	rev.collisionCount = 3
	pods := []*corev1.Pod{
		statePod(rev.currentSet, 0, rev.current.Name, ready),
		statePod(rev.currentSet, 1, rev.current.Name, notReady),
		statePod(rev.updateSet, 2, rev.update.Name, ready),
		statePod(rev.updateSet, 3, rev.update.Name, terminating),
		statePod(rev.currentSet, 4, rev.current.Name, ready), // condemned
	}
	st := decide(set, rev, pods, nil, t0).status
	want := appsv1.StatefulSetStatus{ObservedGeneration: 7, Replicas: 5, ReadyReplicas: 4, AvailableReplicas: 4,
		CurrentReplicas: 3, UpdatedReplicas: 1, CurrentRevision: rev.current.Name, UpdateRevision: rev.update.Name, CollisionCount: ptr.To(int32(3))}
	if st.ObservedGeneration != want.ObservedGeneration || st.Replicas != want.Replicas || st.ReadyReplicas != want.ReadyReplicas ||
		st.AvailableReplicas != want.AvailableReplicas || st.CurrentReplicas != want.CurrentReplicas || st.UpdatedReplicas != want.UpdatedReplicas ||
		st.CurrentRevision != want.CurrentRevision || st.UpdateRevision != want.UpdateRevision || *st.CollisionCount != 3 {
		t.Errorf("status\n got %+v\nwant %+v", st, want)
	}

	// All pods updated and ready: the update revision becomes current.
	set.Spec.UpdateStrategy.RollingUpdate.Partition = ptr.To(int32(0))
	var done []*corev1.Pod
	for i := range 4 {
		done = append(done, statePod(rev.updateSet, i, rev.update.Name, ready))
	}
	st = decide(set, rev, done, nil, t0).status
	if st.CurrentRevision != rev.update.Name || st.CurrentReplicas != 4 || st.UpdatedReplicas != 4 {
		t.Errorf("finished update: %+v", st)
	}
}
