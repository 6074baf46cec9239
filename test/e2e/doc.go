// Package e2e holds cairn's end-to-end tests: real servers with real etcd,
// driven through client-go and kubectl.
package e2e
