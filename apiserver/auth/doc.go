// Package auth is cairn's API-server security layer: the cluster PKI (CA,
// serving and client certificates), request authentication (static bearer
// tokens, X.509 client certificates, anonymous), RBAC authorization over
// rbac.authorization.k8s.io/v1 objects with Kubernetes semantics, the
// bootstrap policy and built-in identities, and kubeconfig files for them.
//
// Authentication follows kube-apiserver: a verified client certificate maps
// to user CN and groups O; a bearer token from the static token file maps to
// its user; a request with neither is system:anonymous. Authenticated users
// always carry the group system:authenticated.
//
// Authorization follows the Kubernetes RBAC authorizer, preceded by the
// system:masters superuser short-circuit.
package auth

import "errors"

// Sentinel errors; returned errors wrap them with detail.
var (
	// ErrUnauthorized: the request carried credentials that are not valid
	// (unknown bearer token, client certificate not signed by the client CA).
	ErrUnauthorized = errors.New("auth: unauthorized")
	// ErrInvalidTokenFile: the static token file could not be parsed.
	ErrInvalidTokenFile = errors.New("auth: invalid token file")
	// ErrPKI: a certificate or key on disk is unusable.
	ErrPKI = errors.New("auth: invalid certificate material")
	// ErrInvalidKubeconfig: WriteKubeconfig was given inconsistent input.
	ErrInvalidKubeconfig = errors.New("auth: invalid kubeconfig")
)
