package storage

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
)

// NewClient returns an etcd client for endpoints (tlsConfig nil = plain
// connections) with a 5 s dial timeout, keepalive pings and an 8 MiB request
// limit.
func NewClient(endpoints []string, tlsConfig *tls.Config) (*clientv3.Client, error) {
	c, err := clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		TLS:                  tlsConfig,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    30 * time.Second,
		DialKeepAliveTimeout: 10 * time.Second,
		PermitWithoutStream:  true,
		MaxCallSendMsgSize:   8 << 20,
		Logger:               newZapLogger(slog.Default(), zapcore.ErrorLevel),
	})
	if err != nil {
		return nil, fmt.Errorf("storage: etcd client for %v: %w", endpoints, err)
	}
	return c, nil
}

// MemberStatus is the health of one etcd member, for componentstatuses.
type MemberStatus struct {
	Name      string
	ClientURL string
	Healthy   bool
	Error     string
}

const memberStatusTimeout = 2 * time.Second

// MemberHealth reports the health of every member of the client's cluster:
// a member is healthy when it answers a status request, reports no errors
// and knows a leader.
func MemberHealth(ctx context.Context, c *clientv3.Client) ([]MemberStatus, error) {
	members, err := c.MemberList(ctx, clientv3.WithSerializable())
	if err != nil {
		return nil, fmt.Errorf("storage: etcd member list: %w", err)
	}
	out := make([]MemberStatus, len(members.Members))
	var wg sync.WaitGroup
	for i, m := range members.Members {
		out[i].Name = m.Name
		if len(m.ClientURLs) == 0 {
			out[i].Error = "member has not started"
			continue
		}
		out[i].ClientURL = m.ClientURLs[0]
		wg.Add(1)
		go func(st *MemberStatus) {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, memberStatusTimeout)
			defer cancel()
			resp, err := c.Status(sctx, st.ClientURL)
			switch {
			case err != nil:
				st.Error = err.Error()
			case len(resp.Errors) > 0:
				st.Error = fmt.Sprint(resp.Errors)
			case resp.Leader == 0:
				st.Error = "no leader"
			default:
				st.Healthy = true
			}
		}(&out[i])
	}
	wg.Wait()
	return out, nil
}
