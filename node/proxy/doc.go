// Package proxy is the node's service proxy. Start runs it in one of the
// modes of kube-proxy's --proxy-mode: iptables (the default), userspace,
// or none; ipvs is refused.
//
// The iptables mode follows kube-proxy's iptables mode. Its core is pure:
// Rules turns the cluster state into chains with kube-proxy's layout and
// chain names (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING,
// KUBE-MARK-MASQ, KUBE-SVC-<hash> per service port, KUBE-SEP-<hash> per
// endpoint, and REJECT rules in the filter table for Services without
// endpoints), and Plan picks what one `iptables-restore --noflush` writes
// given what the previous sync left: everything in a full sync, only the
// chains whose rules changed and the deletions of stale chains in a
// partial one. Proxier applies the plans, one restore per sync, and keeps
// the jumps from the built-in chains with go-iptables. Commands other than
// go-iptables' go through an injectable Runner.
//
// The userspace mode, Userspace, is for machines without iptables: a Go
// TCP or UDP proxy per service port on the ClusterIP, which it adds to the
// dummy interface cairn-svc0, and on the NodePort.
//
//	err := proxy.Start(ctx, client, proxy.ModeIPTables, proxy.Options{ClusterCIDR: "10.244.0.0/16"})
//
// or, to drive a mode directly:
//
//	p, err := proxy.New(proxy.Options{ClusterCIDR: "10.244.0.0/16"})
//	if err != nil { ... }
//	err = p.Run(ctx, client) // watches Services and Endpoints until ctx ends
package proxy
