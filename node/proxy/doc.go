// Package proxy is the node's service proxy in kube-proxy's iptables mode:
// it turns Services and Endpoints into nat rules that send traffic for a
// ClusterIP or NodePort to one of the Service's ready endpoints.
//
// The core is Rules, a pure function from the cluster state to one
// iptables-restore input with kube-proxy's chain layout and chain names
// (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING, KUBE-MARK-MASQ,
// KUBE-SVC-<hash> per service port, KUBE-SEP-<hash> per endpoint, and
// REJECT rules in the filter table for Services without endpoints).
// Proxier applies it: one `iptables-restore --noflush` per sync, which
// rewrites the KUBE-* chains and deletes stale ones atomically, plus the
// jumps from the built-in chains, inserted once. Every command goes through
// an injectable Runner.
//
//	p, err := proxy.New(proxy.Options{ClusterCIDR: "10.244.0.0/16"})
//	if err != nil { ... }
//	err = p.Run(ctx, client) // watches Services and Endpoints until ctx ends
package proxy
