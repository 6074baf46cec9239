// Package sim runs simulated nodes inside one process, as kwok does: each
// node registers a Node, renews its Lease, posts its status and "runs" the
// pods bound to it by writing their status, without containers.
//
// It is cheap per node, so that the scheduler and the controllers can be
// tested and benchmarked against thousands of nodes and tens of thousands
// of pods: one pod informer shared by every node (bound pods only, through
// a spec.nodeName!= field selector), one tick loop that walks a slice of
// the nodes each tick so that their heartbeats spread over the interval,
// and bounded worker pools for registration, heartbeats and pods.
//
// Pod status is level-triggered: it is computed from the pod and written
// only when it differs, so a restarted simulator converges without
// rewriting what is already right.
//
//	c, err := sim.New(sim.Config{
//		Client: client,
//		Nodes:  sim.Generate(5000, sim.GenOptions{Zones: []string{"a", "b", "c"}, Sizes: sim.DefaultSizes()}),
//		NoPods: true,
//	})
//	if err != nil { ... }
//	go c.Run(ctx)
//	<-c.Registered()
//	c.StopHeartbeats("sim-0042") // the node goes silent
package sim
