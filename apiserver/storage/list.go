package storage

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/runtime"
)

// maxListFetch caps how many keys one etcd read of a filtered list fetches.
const maxListFetch = 10000

// List returns the objects under keyPrefix ("/registry/pods/" or
// "/registry/pods/default/") matching opts.Predicate, sorted by key; see
// ListOptions. With ResourceVersion "" and no Continue it is a consistent
// read served from the watch cache once the cache caught up with etcd's
// current revision (from etcd if it does not within ~3 s). A Continue token
// reads etcd at the token's revision (ErrGone once compacted). Objects may be
// shared with the watch cache: do not mutate them.
func (r *Resource) List(ctx context.Context, keyPrefix string, opts ListOptions) (ListResult, error) {
	keyPrefix, err := r.checkPrefix(keyPrefix)
	if err != nil {
		return ListResult{}, err
	}
	if opts.Limit < 0 {
		opts.Limit = 0
	}
	if opts.Continue != "" {
		fromKey, rev, err := decodeContinue(opts.Continue, keyPrefix)
		if err != nil {
			return ListResult{}, err
		}
		return r.listEtcd(ctx, keyPrefix, fromKey, rev, opts.Limit, opts.Predicate)
	}
	switch opts.ResourceVersion {
	case "":
		if err := r.waitFresh(ctx); err != nil {
			if ctx.Err() != nil {
				return ListResult{}, ctx.Err()
			}
			r.log.Debug("storage: cache not fresh, listing etcd", "err", err)
			return r.listEtcd(ctx, keyPrefix, keyPrefix, 0, opts.Limit, opts.Predicate)
		}
	case "0":
	default:
		rev, err := parseResourceVersion(opts.ResourceVersion)
		if err != nil {
			return ListResult{}, err
		}
		if opts.ResourceVersionMatch == "Exact" {
			return r.listEtcd(ctx, keyPrefix, keyPrefix, rev, opts.Limit, opts.Predicate)
		}
		if err := r.waitRev(ctx, rev, false); err != nil {
			return ListResult{}, err
		}
	}
	return r.listCache(keyPrefix, opts.Limit, opts.Predicate)
}

// listCache lists the watch cache at its current revision.
func (r *Resource) listCache(keyPrefix string, limit int64, pred Predicate) (ListResult, error) {
	empty := pred.empty()
	r.mu.RLock()
	rev := r.rev
	matched := make([]*entry, 0, len(r.objects))
	for key, e := range r.objects {
		if strings.HasPrefix(key, keyPrefix) && (empty || pred.matches(e.labels, e.fields)) {
			matched = append(matched, e)
		}
	}
	r.mu.RUnlock()
	sort.Slice(matched, func(i, j int) bool { return matched[i].key < matched[j].key })

	res := ListResult{ResourceVersion: rev}
	page := matched
	if limit > 0 && int64(len(matched)) > limit {
		page = matched[:limit]
		next, err := encodeContinue(page[len(page)-1].key+"\x00", keyPrefix, rev)
		if err != nil {
			return ListResult{}, err
		}
		res.Continue = next
		if empty {
			remaining := int64(len(matched)) - limit
			res.RemainingItemCount = &remaining
		}
	}
	res.Items = make([]runtime.Object, len(page))
	for i, e := range page {
		res.Items[i] = e.obj
	}
	return res, nil
}

// listEtcd lists etcd from fromKey to the end of keyPrefix at rev (0 =
// current, linearizable). With a limit and a predicate it keeps fetching,
// doubling the fetch size, until limit matches are found.
func (r *Resource) listEtcd(ctx context.Context, keyPrefix, fromKey string, rev, limit int64, pred Predicate) (ListResult, error) {
	empty := pred.empty()
	paging := limit > 0
	fetch := int64(maxListFetch)
	if paging {
		fetch = min(limit, maxListFetch)
	}
	end := clientv3.GetPrefixRangeEnd(keyPrefix)
	var (
		items     = []runtime.Object{}
		lastKey   string
		hasMore   bool
		count     int64
		firstRead = true
	)
	key := fromKey
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(fetch)}
		if rev > 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		start := time.Now()
		resp, err := r.s.client.Get(ctx, key, opts...)
		observe(r.m.list, start)
		if err != nil {
			return ListResult{}, fmt.Errorf("storage: list %s: %w", keyPrefix, etcdErr(err, rev))
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		if firstRead {
			count, firstRead = resp.Count, false
		}
		hasMore = resp.More
		// Reuse the cache's decoded objects when they are the same revision.
		r.mu.RLock()
		cached := make([]*entry, len(resp.Kvs))
		for i, kv := range resp.Kvs {
			if e := r.objects[string(kv.Key)]; e != nil && e.rev == kv.ModRevision {
				cached[i] = e
			}
		}
		r.mu.RUnlock()
		for i, kv := range resp.Kvs {
			if paging && int64(len(items)) >= limit {
				hasMore = true
				break
			}
			lastKey = string(kv.Key)
			e := cached[i]
			if e == nil {
				if e, err = r.newEntry(lastKey, kv.Value, kv.ModRevision); err != nil {
					return ListResult{}, err
				}
			}
			if empty || pred.matches(e.labels, e.fields) {
				items = append(items, e.obj)
			}
		}
		if !hasMore || len(resp.Kvs) == 0 || (paging && int64(len(items)) >= limit) {
			break
		}
		if paging {
			fetch = min(fetch*2, maxListFetch)
		}
		key = lastKey + "\x00"
	}
	res := ListResult{Items: items, ResourceVersion: rev}
	if paging && hasMore {
		next, err := encodeContinue(lastKey+"\x00", keyPrefix, rev)
		if err != nil {
			return ListResult{}, err
		}
		res.Continue = next
		if empty {
			remaining := max(count-int64(len(items)), 0)
			res.RemainingItemCount = &remaining
		}
	}
	return res, nil
}
