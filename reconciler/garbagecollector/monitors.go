package garbagecollector

import (
	"context"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/cache"

	"github.com/cairn-dev/cairn/reconciler/controller"
)

// monitor is the metadata informer of one resource.
type monitor struct {
	informer cache.SharedIndexInformer
	cancel   context.CancelFunc
}

// deletableResources picks, from discovery's preferred versions, the
// resources the collector watches: those supporting list, watch and
// delete, minus the ignored ones.
func deletableResources(lists []*metav1.APIResourceList, ignored map[schema.GroupResource]bool) map[schema.GroupVersionResource]schema.GroupVersionKind {
	out := map[schema.GroupVersionResource]schema.GroupVersionKind{}
	for _, l := range discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "watch", "delete"}}, lists) {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if ignored[gv.WithResource(r.Name).GroupResource()] {
				continue
			}
			out[gv.WithResource(r.Name)] = gv.WithKind(r.Kind)
		}
	}
	return out
}

// discoverLoop discovers now and then every period until ctx ends, then
// stops every informer.
func (c *Controller) discoverLoop(ctx context.Context) {
	defer c.stopMonitors()
	t := c.clock.NewTicker(c.period)
	defer t.Stop()
	for {
		err := c.discover(ctx)
		if err != nil && ctx.Err() == nil {
			c.metrics.syncError.Inc()
			c.log.Info("resource discovery failed; will retry", "err", err)
		}
		// Until a first discovery succeeds nothing is collected: retry
		// sooner than the period then.
		var soon <-chan time.Time
		if !c.isDiscovered() {
			soon = c.clock.After(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		case <-soon:
		}
	}
}

// discover refreshes the kind-to-resource mapping and starts informers
// for new resources, stopping those of resources gone. A partial failure
// keeps the informers of the groups that failed.
func (c *Controller) discover(ctx context.Context) error {
	lists, err := c.discovery.ServerPreferredResources()
	partial := err != nil && discovery.IsGroupDiscoveryFailedError(err)
	if err != nil && !partial {
		return err
	}
	groups, gerr := restmapper.GetAPIGroupResources(c.discovery)
	// A partial answer would drop the kinds of the groups that failed:
	// keep the previous mapping then, unless there is none.
	if len(groups) > 0 && (gerr == nil || c.mapper.Load() == nil) {
		m := restmapper.NewDiscoveryRESTMapper(groups)
		c.mapper.Store(&m)
	}
	want := deletableResources(lists, c.ignored)
	c.monMu.Lock()
	defer c.monMu.Unlock()
	if ctx.Err() != nil {
		return nil
	}
	for gvr, gvk := range want {
		if _, ok := c.monitors[gvr]; !ok {
			c.monitors[gvr] = c.startMonitor(ctx, gvr, gvk)
			c.log.Debug("watching resource", "resource", gvr.String())
		}
	}
	if !partial {
		for gvr, m := range c.monitors {
			if _, ok := want[gvr]; !ok {
				m.cancel()
				delete(c.monitors, gvr)
				c.log.Debug("stopped watching resource", "resource", gvr.String())
			}
		}
	}
	c.discovered = true
	if err == nil {
		err = gerr
	}
	return err
}

// startMonitor runs a metadata informer on one resource, turning its
// events into graph events.
func (c *Controller) startMonitor(ctx context.Context, gvr schema.GroupVersionResource, gvk schema.GroupVersionKind) *monitor {
	inf := metadatainformer.NewFilteredMetadataInformer(c.metadata, gvr, metav1.NamespaceAll, 0, cache.Indexers{}, nil).Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.observe(addEvent, gvk, obj, nil) },
		UpdateFunc: func(old, cur any) {
			c.observe(updateEvent, gvk, cur, old)
		},
		DeleteFunc: func(obj any) {
			if o, ok := controller.Object[metav1.Object](obj); ok {
				c.observe(deleteEvent, gvk, o, nil)
			}
		},
	})
	mctx, cancel := context.WithCancel(ctx)
	c.monitorsWG.Go(func() { inf.RunWithContext(mctx) })
	return &monitor{informer: inf, cancel: cancel}
}

// stopMonitors stops every informer and waits for them.
func (c *Controller) stopMonitors() {
	c.monMu.Lock()
	for gvr, m := range c.monitors {
		m.cancel()
		delete(c.monitors, gvr)
	}
	c.monMu.Unlock()
	c.monitorsWG.Wait()
}

func (c *Controller) isDiscovered() bool {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	return c.discovered
}

// monitorsSynced: the first discovery is done and every informer has
// listed its resource.
func (c *Controller) monitorsSynced() bool {
	c.monMu.Lock()
	defer c.monMu.Unlock()
	if !c.discovered {
		return false
	}
	for _, m := range c.monitors {
		if !m.informer.HasSynced() {
			return false
		}
	}
	return true
}

// observe queues an informer event for the graph.
func (c *Controller) observe(typ eventType, gvk schema.GroupVersionKind, obj, old any) {
	cur, ok := metaOf(gvk, obj)
	if !ok {
		return
	}
	ev := &event{typ: typ, obj: cur}
	if old != nil {
		if o, ok := metaOf(gvk, old); ok {
			ev.old = &o
		}
	}
	c.graphEvents.Add(ev)
}

// metaOf reads what the graph needs from an informer's object.
func metaOf(gvk schema.GroupVersionKind, obj any) (objectMeta, bool) {
	m, err := meta.Accessor(obj)
	if err != nil {
		return objectMeta{}, false
	}
	return objectMeta{
		identity: objectReference{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
			Namespace: m.GetNamespace(), Name: m.GetName(), UID: m.GetUID()},
		owners:     slices.Clone(m.GetOwnerReferences()),
		deleting:   m.GetDeletionTimestamp() != nil,
		finalizers: slices.Clone(m.GetFinalizers()),
	}, true
}
