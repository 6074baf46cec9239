// Package nodestatus is the node agent's registration, node status and
// lease: the part of a kubelet that tells the cluster a machine exists,
// what it holds and that it is alive.
//
// It has three layers. ReadMachine reads the machine (CPUs, memory, the
// data dir's filesystem, PIDs, identity) from /proc, /sys and /etc.
// Compute is a pure function from the previous NodeStatus, a Machine, the
// runtime and network inputs and a Config to the next NodeStatus, as the
// kubelet computes it (capacity, allocatable, conditions, node info,
// images). Agent is the loop at the edge: it registers the Node (or waits
// for an administrator to create it), renews the node's Lease in
// kube-node-lease and posts the status when it changes and at every
// status period.
package nodestatus
