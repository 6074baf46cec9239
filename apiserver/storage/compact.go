package storage

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	defaultCompactInterval = 5 * time.Minute
	// compactRevKey coordinates compaction between API servers sharing one
	// etcd, as kube-apiserver does: its version counts compactions.
	compactRevKey = "compact_rev_key"
)

// Compact compacts etcd's history up to rev. Compacting to a revision that is
// already compacted is not an error.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	start := time.Now()
	_, err := s.client.Compact(ctx, rev)
	s.metrics.observeStore("compact", start)
	if errors.Is(err, rpctypes.ErrCompacted) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: compact to %d: %w", rev, err)
	}
	s.metrics.compacted()
	s.log.Debug("storage: compacted etcd", "rev", rev)
	return nil
}

// RunCompactor compacts etcd every interval (default 5m) to the revision seen
// at the previous tick, until ctx ends. Like kube-apiserver, servers sharing
// an etcd agree through a compare-and-swap on compact_rev_key so only one of
// them compacts per interval.
func (s *Store) RunCompactor(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = defaultCompactInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	var version, rev int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		v, r, err := s.compactOnce(ctx, version, rev)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("storage: compaction failed", "err", err)
			}
			continue
		}
		version, rev = v, r
	}
}

// compactOnce claims this interval's compaction by bumping compact_rev_key's
// version from version, then compacts to rev (the revision of the previous
// tick). It returns the key's version and etcd's current revision for the
// next tick. Losing the claim to another server is not an error.
func (s *Store) compactOnce(ctx context.Context, version, rev int64) (int64, int64, error) {
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.Version(compactRevKey), "=", version)).
		Then(clientv3.OpPut(compactRevKey, strconv.FormatInt(rev, 10))).
		Else(clientv3.OpGet(compactRevKey)).
		Commit()
	if err != nil {
		return version, rev, fmt.Errorf("storage: compaction claim: %w", err)
	}
	cur := resp.Header.Revision
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().GetKvs()
		if len(kvs) == 0 {
			return 0, cur, nil
		}
		return kvs[0].Version, cur, nil
	}
	if rev == 0 {
		return version + 1, cur, nil
	}
	if err := s.Compact(ctx, rev); err != nil {
		return version + 1, cur, err
	}
	return version + 1, cur, nil
}
