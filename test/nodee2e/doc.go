// Package nodee2e holds the node agent's end-to-end tests: a real cairn
// server and two real agents, each in its own network namespace joined to
// the host by a bridge, each running its own containerd, with pods of a
// locally built image, CNI networking, host-gw routes and the iptables
// service proxy.
package nodee2e
