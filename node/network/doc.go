// Package network is the node's pod network: one network namespace per
// pod, wired by the distro's CNI plugins to a bridge over the node's
// spec.podCIDR, and host routes to the other nodes' pod CIDRs via their
// InternalIPs, so that pods on different nodes reach each other with
// their own addresses.
//
// The pieces, in the order the kubelet uses them:
//
//	c, err := network.New(network.Config{PodCIDR: node.Spec.PodCIDR, ClusterCIDR: "10.88.0.0/16"})
//	err = network.EnsureMasquerade(ctx, node.Spec.PodCIDR, "10.88.0.0/16")
//	err = network.SyncRoutes(ctx, network.Routes(nodes, node.Name)) // on every Node change
//
//	path, err := network.CreateNetNS("/run/cairn/netns", podUID)
//	ip, err := c.SetUp(ctx, podUID, path, hostPorts)
//	...
//	err = c.TearDown(ctx, podUID, path, hostPorts)
//	err = network.DeleteNetNS(path)
//
// New writes the conflist "cairn" (bridge with host-local IPAM, then
// portmap) and loads it with go-cni, plus the loopback plugin on lo.
// Everything acts in the calling thread's network namespace: run it
// inside Do to act in another one, as the tests do with a namespace that
// stands for each node's host.
package network
