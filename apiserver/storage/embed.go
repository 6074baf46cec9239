package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
	"go.uber.org/zap/zapcore"
)

// EmbeddedConfig configures an etcd member run inside the cairn process.
type EmbeddedConfig struct {
	Name           string // member name, default "default"
	Dir            string // data dir
	ClientURL      string // e.g. "http://127.0.0.1:2379"; "" = pick a free loopback port
	PeerURL        string // "" = pick a free loopback port
	InitialCluster string // "name=peerURL,..." for multi-member clusters; "" = single member
	ClusterState   string // "new" (default) or "existing"
	Logger         *slog.Logger
}

// Embedded is a running embedded etcd member.
type Embedded struct {
	etcd      *embed.Etcd
	endpoints []string
	closeOnce sync.Once
}

const (
	embeddedReadyTimeout = 60 * time.Second
	embeddedQuotaBytes   = 8 << 30
)

// StartEmbedded starts an etcd member and waits (up to 60 s, or until ctx
// ends) until it is ready to serve. ctx bounds only the start; Close stops
// the member. Members of a new multi-member cluster become ready only once a
// quorum runs, so start them concurrently.
//
// Auto-compaction is off (the Store compacts), the backend quota is 8 GiB and
// etcd's logging goes to cfg.Logger at error level.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if cfg.Dir == "" {
		return nil, errors.New("storage: embedded etcd needs a data dir")
	}
	if cfg.Name == "" {
		cfg.Name = "default"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	var err error
	if cfg.ClientURL == "" {
		if cfg.ClientURL, err = freeLoopbackURL(); err != nil {
			return nil, err
		}
	}
	if cfg.PeerURL == "" {
		if cfg.PeerURL, err = freeLoopbackURL(); err != nil {
			return nil, err
		}
	}
	clientURL, err := url.Parse(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("storage: client URL: %w", err)
	}
	peerURL, err := url.Parse(cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("storage: peer URL: %w", err)
	}

	ec := embed.NewConfig()
	ec.Name = cfg.Name
	ec.Dir = cfg.Dir
	ec.ListenClientUrls = []url.URL{*clientURL}
	ec.AdvertiseClientUrls = []url.URL{*clientURL}
	ec.ListenPeerUrls = []url.URL{*peerURL}
	ec.AdvertisePeerUrls = []url.URL{*peerURL}
	ec.InitialCluster = cfg.InitialCluster
	if ec.InitialCluster == "" {
		ec.InitialCluster = cfg.Name + "=" + cfg.PeerURL
	}
	ec.ClusterState = embed.ClusterStateFlagNew
	if cfg.ClusterState != "" {
		ec.ClusterState = cfg.ClusterState
	}
	ec.InitialClusterToken = "cairn"
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "0" // off: Store.RunCompactor compacts
	ec.QuotaBackendBytes = embeddedQuotaBytes
	ec.EnableGRPCGateway = false
	ec.Logger = "zap"
	ec.LogLevel = "error"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newZapLogger(cfg.Logger, zapcore.ErrorLevel))

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("storage: start embedded etcd: %w", err)
	}
	timer := time.NewTimer(embeddedReadyTimeout)
	defer timer.Stop()
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("storage: embedded etcd: %w", err)
	case <-timer.C:
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("storage: embedded etcd not ready after %s", embeddedReadyTimeout)
	case <-ctx.Done():
		e.Server.Stop()
		e.Close()
		return nil, fmt.Errorf("storage: embedded etcd: %w", ctx.Err())
	}
	return &Embedded{etcd: e, endpoints: []string{clientURL.String()}}, nil
}

// Endpoints returns the member's client URLs.
func (e *Embedded) Endpoints() []string {
	return append([]string(nil), e.endpoints...)
}

// Close stops the member. It is safe to call more than once.
func (e *Embedded) Close() {
	e.closeOnce.Do(e.etcd.Close)
}

// freeLoopbackURL returns http://127.0.0.1:PORT with a port that was free a
// moment ago.
func freeLoopbackURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("storage: find a free port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("storage: find a free port: %w", err)
	}
	return "http://" + addr, nil
}

// Client returns an in-process client of this member: requests go straight
// into the etcd server's request handlers, with no gRPC connection, TLS or
// loopback socket in between. The API server uses it for its own embedded
// etcd; other processes still reach the member through Endpoints.
func (e *Embedded) Client() *clientv3.Client {
	return v3client.New(e.etcd.Server)
}
