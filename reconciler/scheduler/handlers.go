package scheduler

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/client-go/tools/cache"
)

// Plugin names, as the framework's plugins report them in a FitError's
// diagnosis; events move an unschedulable pod back only when they concern
// a plugin that rejected it (kube-scheduler's queueing hints).
const (
	pluginNodeUnschedulable  = "NodeUnschedulable"
	pluginNodeName           = "NodeName"
	pluginTaintToleration    = "TaintToleration"
	pluginNodeAffinity       = "NodeAffinity"
	pluginNodePorts          = "NodePorts"
	pluginNodeResourcesFit   = "NodeResourcesFit"
	pluginVolumeRestrictions = "VolumeRestrictions"
	pluginVolumeBinding      = "VolumeBinding"
	pluginInterPodAffinity   = "InterPodAffinity"
	pluginPodTopologySpread  = "PodTopologySpread"
)

// Events and the plugins whose verdict they can change.
var (
	podFreedResources = []string{pluginNodeResourcesFit, pluginNodePorts, pluginInterPodAffinity,
		pluginPodTopologySpread, pluginVolumeRestrictions}
	podAdded        = []string{pluginInterPodAffinity, pluginPodTopologySpread}
	volumeChanged   = []string{pluginVolumeBinding, pluginVolumeRestrictions}
	namespaceLabels = []string{pluginInterPodAffinity}
)

func assigned(p *corev1.Pod) bool { return p.Spec.NodeName != "" }

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

func (s *Scheduler) responsible(p *corev1.Pod) bool {
	_, ok := s.profiles[p.Spec.SchedulerName]
	return ok
}

func (s *Scheduler) addHandlers() {
	pods := s.factory.Core().V1().Pods().Informer()
	_, _ = pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			p := podOf(obj)
			switch {
			case p == nil:
			case assigned(p):
				if !terminal(p) {
					s.cache.AddPod(p)
					s.queue.Move(podAdded)
				}
			case s.responsible(p) && !terminal(p) && p.DeletionTimestamp == nil:
				s.queue.Add(p)
			}
		},
		UpdateFunc: func(oldObj, newObj any) { s.podUpdated(podOf(oldObj), podOf(newObj)) },
		DeleteFunc: func(obj any) {
			p := podOf(obj)
			if p == nil {
				return
			}
			if assigned(p) {
				s.cache.RemovePod(p)
				s.queue.Move(podFreedResources)
				return
			}
			s.queue.Delete(p)
		},
	})
	nodes := s.factory.Core().V1().Nodes().Informer()
	_, _ = nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				s.cache.SetNode(n)
				s.queue.Move(nil)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			old, n := nodeOf(oldObj), nodeOf(newObj)
			if old == nil || n == nil {
				return
			}
			s.cache.SetNode(n)
			if plugins := nodeChangeHint(old, n); len(plugins) > 0 {
				s.queue.Move(plugins)
			}
		},
		DeleteFunc: func(obj any) {
			if n := nodeOf(obj); n != nil {
				s.cache.RemoveNode(n.Name)
			}
		},
	})
	moveOn := func(hint []string) cache.ResourceEventHandler {
		changed := func() {
			s.objectsGen.Add(1)
			s.queue.Move(hint)
		}
		return cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { changed() },
			UpdateFunc: func(any, any) { changed() },
			DeleteFunc: func(any) { changed() },
		}
	}
	_, _ = s.factory.Core().V1().PersistentVolumeClaims().Informer().AddEventHandler(moveOn(volumeChanged))
	_, _ = s.factory.Core().V1().PersistentVolumes().Informer().AddEventHandler(moveOn(volumeChanged))
	_, _ = s.factory.Storage().V1().StorageClasses().Informer().AddEventHandler(moveOn(volumeChanged))
	_, _ = s.factory.Core().V1().Namespaces().Informer().AddEventHandler(moveOn(namespaceLabels))
}

// podUpdated follows a pod through binding, labels, termination and
// deletion: into the cache once assigned, out of the queue.
func (s *Scheduler) podUpdated(old, p *corev1.Pod) {
	if old == nil || p == nil {
		return
	}
	switch {
	case assigned(p):
		if !assigned(old) {
			s.queue.Delete(p)
		}
		if terminal(p) {
			s.cache.RemovePod(p)
			s.queue.Move(podFreedResources)
			return
		}
		s.cache.UpdatePod(p)
		// A pod just bound is, for affinity and spreading, a pod added to
		// its node.
		if !assigned(old) || !maps.Equal(old.Labels, p.Labels) {
			s.queue.Move(podAdded)
		}
	case !s.responsible(p):
	case p.DeletionTimestamp != nil || terminal(p):
		s.queue.Delete(p)
	default:
		s.queue.Update(old, p)
	}
}

// nodeChangeHint says which plugins' verdicts a node update may change;
// none for a heartbeat.
func nodeChangeHint(old, n *corev1.Node) []string {
	var plugins []string
	if old.Spec.Unschedulable && !n.Spec.Unschedulable {
		plugins = append(plugins, pluginNodeUnschedulable)
	}
	if !maps.Equal(old.Labels, n.Labels) {
		plugins = append(plugins, pluginNodeAffinity, pluginPodTopologySpread, pluginInterPodAffinity,
			pluginVolumeBinding, pluginNodeResourcesFit)
	}
	if !equality.Semantic.DeepEqual(old.Spec.Taints, n.Spec.Taints) {
		plugins = append(plugins, pluginTaintToleration)
	}
	if !equality.Semantic.DeepEqual(old.Status.Allocatable, n.Status.Allocatable) {
		plugins = append(plugins, pluginNodeResourcesFit)
	}
	return plugins
}
