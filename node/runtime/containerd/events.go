package containerd

import (
	"context"
	"fmt"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"
)

// Task event topics the runtime follows.
const (
	topicStart  = "/tasks/start"
	topicExit   = "/tasks/exit"
	topicOOM    = "/tasks/oom"
	topicDelete = "/tasks/delete"
)

// Events implements runtime.Runtime: the IDs of containers of this
// namespace that started, exited, were OOM-killed or deleted. A lost
// connection to containerd is retried until ctx ends; events in between are
// lost, which a kubelet's periodic relist covers.
func (r *Runtime) Events(ctx context.Context) (<-chan string, error) {
	ctx = r.nsctx(ctx)
	out := make(chan string, 256)
	go func() {
		defer close(out)
		r.subscribe(ctx, []string{topicStart, topicExit, topicOOM, topicDelete}, func(id string) {
			select {
			case out <- id:
			case <-ctx.Done():
			}
		}, nil)
	}()
	return out, nil
}

// watchOOM remembers the containers containerd reports OOM kills for, as a
// label too so that the reason survives an agent restart.
func (r *Runtime) watchOOM(ctx context.Context, ready chan<- struct{}) {
	defer close(r.done)
	r.subscribe(ctx, []string{topicOOM}, func(id string) {
		r.mu.Lock()
		r.oom[id] = true
		r.mu.Unlock()
		c, err := r.client.LoadContainer(ctx, id)
		if err != nil {
			return
		}
		if _, err := c.SetLabels(ctx, map[string]string{labelOOM: "true"}); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("record OOM kill", "container", id, "err", err)
		}
	}, ready)
}

// subscribe calls emit with the container ID of every event on topics in
// the runtime's namespace until ctx ends, subscribing again after errors.
// ready, if not nil, is closed once the first subscription is made.
func (r *Runtime) subscribe(ctx context.Context, topics []string, emit func(id string), ready chan<- struct{}) {
	filters := make([]string, 0, len(topics))
	for _, t := range topics {
		filters = append(filters, fmt.Sprintf("namespace==%q,topic==%q", r.ns, t))
	}
	backoff := 100 * time.Millisecond
	for {
		sctx, cancel := context.WithCancel(ctx)
		evs, errs := r.client.Subscribe(sctx, filters...)
		if ready != nil {
			close(ready)
			ready = nil
		}
		err := r.drain(sctx, evs, errs, emit)
		cancel()
		if ctx.Err() != nil {
			return
		}
		r.log.Debug("containerd event stream ended; subscribing again", "err", err, "after", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (r *Runtime) drain(ctx context.Context, evs <-chan *events.Envelope, errs <-chan error, emit func(id string)) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errs:
			return err
		case env, ok := <-evs:
			if !ok {
				return nil
			}
			if env.Event == nil {
				continue
			}
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				r.log.Debug("undecodable containerd event", "topic", env.Topic, "err", err)
				continue
			}
			if id := containerOf(v); id != "" {
				emit(id)
			}
		}
	}
}

// containerOf returns the container an event is about; exec processes'
// events name no container state change and return "".
func containerOf(v any) string {
	switch e := v.(type) {
	case *apievents.TaskStart:
		return e.ContainerID
	case *apievents.TaskExit:
		if e.ID != "" && e.ID != e.ContainerID {
			return ""
		}
		return e.ContainerID
	case *apievents.TaskOOM:
		return e.ContainerID
	case *apievents.TaskDelete:
		if e.ID != "" && e.ID != e.ContainerID {
			return ""
		}
		return e.ContainerID
	}
	return ""
}
