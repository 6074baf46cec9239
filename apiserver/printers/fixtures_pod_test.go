package printers

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func running(ready bool, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{
		Ready:        ready,
		RestartCount: restarts,
		State:        corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(hour)}},
	}
}

func containers(names ...string) []corev1.Container {
	out := make([]corev1.Container, len(names))
	for i, n := range names {
		out[i] = corev1.Container{Name: n, Image: "registry.cairn.dev/" + n + ":1.0"}
	}
	return out
}

func podCases() []goldenCase {
	runningPod := &corev1.Pod{
		ObjectMeta: objMeta("nginx-7c5ddbdf54-x8f9p", 3*day),
		Spec:       corev1.PodSpec{NodeName: "cairn-1", Containers: containers("nginx")},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			PodIPs:            []corev1.PodIP{{IP: "10.42.0.15"}, {IP: "fd00:10:42::f"}},
			ContainerStatuses: []corev1.ContainerStatus{running(true, 0)},
		},
	}

	crashLoop := &corev1.Pod{
		ObjectMeta: objMeta("api-5d9c7b8f6-2lq4z", 25*minute),
		Spec:       corev1.PodSpec{NodeName: "cairn-2", Containers: containers("api", "proxy")},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			PodIP: "10.42.1.7", // only the singular field set
			ContainerStatuses: []corev1.ContainerStatus{
				{
					RestartCount: 7,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
						Reason: "CrashLoopBackOff", Message: "back-off 5m0s restarting failed container",
					}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
						ExitCode: 1, Reason: "Error", FinishedAt: ago(2 * minute),
					}},
				},
				running(true, 0),
			},
		},
	}

	terminating := &corev1.Pod{
		ObjectMeta: objMeta("web-0", 2*hour),
		Spec:       corev1.PodSpec{NodeName: "cairn-1", Containers: containers("web")},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			PodIPs:            []corev1.PodIP{{IP: "10.42.0.22"}},
			ContainerStatuses: []corev1.ContainerStatus{running(true, 0)},
		},
	}
	terminating.DeletionTimestamp = ptr(ago(10 * second))

	initializing := &corev1.Pod{
		ObjectMeta: objMeta("db-0", 45*second),
		Spec: corev1.PodSpec{
			NodeName:       "cairn-2",
			InitContainers: containers("fetch-schema", "migrate"),
			Containers:     containers("postgres"),
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodPending,
			PodIPs: []corev1.PodIP{{IP: "10.42.1.9"}},
			InitContainerStatuses: []corev1.ContainerStatus{
				{Name: "fetch-schema", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}}},
				{Name: "migrate", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
			},
			ContainerStatuses: []corev1.ContainerStatus{
				{State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
			},
		},
	}

	initCrash := &corev1.Pod{
		ObjectMeta: objMeta("cache-warmer-6f7b9-kq2mz", 12*minute),
		Spec: corev1.PodSpec{
			NodeName:       "cairn-1",
			InitContainers: containers("wait-for-db"),
			Containers:     containers("warmer"),
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name:         "wait-for-db",
				RestartCount: 4,
				State:        corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 2, FinishedAt: ago(90 * second),
				}},
			}},
		},
	}

	completed := &corev1.Pod{
		ObjectMeta: objMeta("backup-29100420-7tq2x", 5*hour),
		Spec:       corev1.PodSpec{NodeName: "cairn-2", Containers: containers("backup")},
		Status: corev1.PodStatus{
			Phase:  corev1.PodSucceeded,
			PodIPs: []corev1.PodIP{{IP: "10.42.1.30"}},
			ContainerStatuses: []corev1.ContainerStatus{{
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed"}},
			}},
		},
	}

	// A completed pod that is being deleted is not Terminating.
	completedDeleted := completed.DeepCopy()
	completedDeleted.Name = "backup-29100360-m2v8d"
	completedDeleted.DeletionTimestamp = ptr(ago(5 * second))

	pending := &corev1.Pod{
		ObjectMeta: objMeta("gpu-job-x7c2p", 40*second),
		Spec: corev1.PodSpec{
			Containers: containers("train"),
			ReadinessGates: []corev1.PodReadinessGate{
				{ConditionType: "cairn.dev/load-balancer-ready"},
				{ConditionType: "cairn.dev/warm"},
			},
		},
		Status: corev1.PodStatus{
			Phase:             corev1.PodPending,
			NominatedNodeName: "cairn-3",
			Conditions: []corev1.PodCondition{
				{Type: "cairn.dev/warm", Status: corev1.ConditionTrue},
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable"},
			},
		},
	}

	gated := &corev1.Pod{
		ObjectMeta: objMeta("gated-batch-0", 6*minute),
		Spec:       corev1.PodSpec{Containers: containers("batch")},
		Status: corev1.PodStatus{
			Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated},
			},
		},
	}

	sidecar := &corev1.Pod{
		ObjectMeta: objMeta("app-with-sidecar-0", 3*hour),
		Spec: corev1.PodSpec{
			NodeName: "cairn-1",
			InitContainers: []corev1.Container{{
				Name: "log-shipper", Image: "registry.cairn.dev/log-shipper:1.0",
				RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways),
			}},
			Containers: containers("app"),
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIPs: []corev1.PodIP{{IP: "10.42.0.40"}},
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodInitialized, Status: corev1.ConditionTrue},
				{Type: corev1.PodReady, Status: corev1.ConditionTrue},
			},
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "log-shipper", Ready: true, Started: ptr(true), RestartCount: 1,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, FinishedAt: ago(hour + 20*minute),
				}},
			}},
			ContainerStatuses: []corev1.ContainerStatus{running(true, 0)},
		},
	}

	oomKilled := &corev1.Pod{
		ObjectMeta: objMeta("worker-84d6b7c9f-tn5rw", 50*minute),
		Spec:       corev1.PodSpec{NodeName: "cairn-2", Containers: containers("worker")},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIPs: []corev1.PodIP{{IP: "10.42.1.12"}},
			ContainerStatuses: []corev1.ContainerStatus{{
				RestartCount: 2,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "OOMKilled", FinishedAt: ago(20 * second),
				}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: 137, Reason: "OOMKilled", FinishedAt: ago(9 * minute),
				}},
			}},
		},
	}

	signalled := &corev1.Pod{
		ObjectMeta: objMeta("sleeper", 8*day),
		Spec:       corev1.PodSpec{NodeName: "cairn-1", Containers: containers("sleep")},
		Status: corev1.PodStatus{
			Phase: corev1.PodFailed,
			ContainerStatuses: []corev1.ContainerStatus{{
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Signal: 9, ExitCode: 137}},
			}},
		},
	}

	evicted := &corev1.Pod{
		ObjectMeta: objMeta("nginx-7c5ddbdf54-evct1", 400*day),
		Spec:       corev1.PodSpec{NodeName: "cairn-2", Containers: containers("nginx")},
		Status: corev1.PodStatus{
			Phase:   corev1.PodFailed,
			Reason:  "Evicted",
			Message: "The node was low on resource: memory.",
		},
	}

	nodeLost := &corev1.Pod{
		ObjectMeta: objMeta("agent-qz8rt", 30*day),
		Spec:       corev1.PodSpec{NodeName: "cairn-3", Containers: containers("agent")},
		Status: corev1.PodStatus{
			Phase:             corev1.PodRunning,
			Reason:            nodeUnreachablePodReason,
			PodIPs:            []corev1.PodIP{{IP: "10.42.2.3"}},
			ContainerStatuses: []corev1.ContainerStatus{running(true, 0)},
		},
	}
	nodeLost.DeletionTimestamp = ptr(ago(3 * minute))

	completedButRunning := &corev1.Pod{
		ObjectMeta: objMeta("one-done-one-running", 20*minute),
		Spec:       corev1.PodSpec{NodeName: "cairn-1", Containers: containers("main", "helper")},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIPs: []corev1.PodIP{{IP: "10.42.0.51"}},
			ContainerStatuses: []corev1.ContainerStatus{
				{State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}},
				running(true, 0),
			},
		},
	}

	return []goldenCase{{
		kind: "Pod", resource: "pods",
		objects: []runtime.Object{
			runningPod, crashLoop, terminating, initializing, initCrash, completed, completedDeleted,
			pending, gated, sidecar, oomKilled, signalled, evicted, nodeLost, completedButRunning,
		},
	}}
}
