// Package schema holds strict JSON Schemas (draft 2020-12) for every kind
// cairn serves and a fast, concurrency-safe validator over them.
//
// The schemas under generated/ are converted from the Kubernetes OpenAPI
// documents carried by the k8s.io/client-go and k8s.io/kubectl modules (see
// ./gen); cairn/ holds hand-written schemas for cairn's own kinds. Both are
// embedded into the binary.
package schema

//go:generate go run ./gen
