package apiserver

import (
	"context"
	"path/filepath"

	"github.com/cairn-dev/cairn/apiserver/auth"
)

// setupAuth loads (or creates) the CA, the static tokens and starts feeding
// the RBAC authorizer from the store's watch of the four RBAC resources. It
// returns once the authorizer has seen every existing RBAC object.
func (s *Server) setupAuth(ctx context.Context) error {
	ca, err := auth.LoadOrCreateCA(filepath.Join(s.cfg.DataDir, "pki"))
	if err != nil {
		return err
	}
	s.ca = ca
	tokens := map[string]auth.User{}
	if s.cfg.TokenAuthFile != "" {
		if tokens, err = auth.LoadTokenFile(s.cfg.TokenAuthFile); err != nil {
			return err
		}
	}
	s.authn = auth.NewAuthenticator(tokens, ca.Pool())
	s.authz = auth.NewRBAC()
	for _, name := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		res := s.reg.lookup("rbac.authorization.k8s.io", "v1", name)
		if err := s.follow(ctx, &follower{res: res, upsert: s.authz.Upsert, remove: s.authz.Remove}); err != nil {
			return err
		}
	}
	return nil
}
