package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
)

// Create stores obj under key in one etcd transaction, together with the
// claim keys, failing with ErrExists (key present) or ErrClaimed (a claim key
// present). It returns obj with its resourceVersion set.
func (r *Resource) Create(ctx context.Context, key string, obj runtime.Object, opts CreateOptions) (runtime.Object, error) {
	if err := r.checkKey(key); err != nil {
		return nil, err
	}
	data, err := r.encode(obj)
	if err != nil {
		return nil, err
	}
	cmps := make([]clientv3.Cmp, 0, 1+len(opts.Claims))
	ops := make([]clientv3.Op, 0, 1+len(opts.Claims))
	cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(key), "=", 0))
	ops = append(ops, clientv3.OpPut(key, string(data)))
	for _, c := range opts.Claims {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(c.Key), "=", 0))
		ops = append(ops, clientv3.OpPut(c.Key, string(c.Value)))
	}
	txn := r.s.client.Txn(ctx).If(cmps...).Then(ops...)
	if len(opts.Claims) > 0 {
		txn = txn.Else(countOps(key, opts.Claims)...)
	}
	start := time.Now()
	resp, err := txn.Commit()
	observe(r.m.create, start)
	if err != nil {
		return nil, fmt.Errorf("storage: create %s: %w", key, err)
	}
	if !resp.Succeeded {
		return nil, failedCreateOrClaim(resp, key, opts.Claims, true)
	}
	r.noteWrite(resp.Header.Revision)
	if err := setResourceVersion(obj, resp.Header.Revision); err != nil {
		return nil, err
	}
	return obj, nil
}

// countOps returns count-only reads of key and the claim keys, used as the
// Else branch of a transaction to tell which comparison failed.
func countOps(key string, claims []Claim) []clientv3.Op {
	ops := make([]clientv3.Op, 0, 1+len(claims))
	ops = append(ops, clientv3.OpGet(key, clientv3.WithCountOnly()))
	for _, c := range claims {
		ops = append(ops, clientv3.OpGet(c.Key, clientv3.WithCountOnly()))
	}
	return ops
}

// failedCreateOrClaim explains a failed create transaction whose Else branch
// was countOps: ErrExists when the key exists (and keyMustBeAbsent), else
// ErrClaimed for the first claim key present.
func failedCreateOrClaim(resp *clientv3.TxnResponse, key string, claims []Claim, keyMustBeAbsent bool) error {
	if keyMustBeAbsent && (len(resp.Responses) == 0 || resp.Responses[0].GetResponseRange().GetCount() > 0) {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	for i, c := range claims {
		if i+1 < len(resp.Responses) && resp.Responses[i+1].GetResponseRange().GetCount() > 0 {
			return fmt.Errorf("%w: %s", ErrClaimed, c.Key)
		}
	}
	if keyMustBeAbsent {
		return fmt.Errorf("%w: %s", ErrExists, key)
	}
	return fmt.Errorf("%w: %s", ErrClaimed, key)
}

// encode clears obj's resourceVersion (never stored) and encodes it.
func (r *Resource) encode(obj runtime.Object) ([]byte, error) {
	acc, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	acc.SetResourceVersion("")
	data, err := r.s.codec.Encode(obj)
	if err != nil {
		return nil, fmt.Errorf("storage: encode: %w", err)
	}
	return data, nil
}

// Get returns the object at key. resourceVersion "" reads etcd
// (linearizable); "0" reads the watch cache; any other value reads the watch
// cache once it is not older than that revision (ErrTimeout after ~3 s).
func (r *Resource) Get(ctx context.Context, key string, resourceVersion string) (runtime.Object, error) {
	if err := r.checkKey(key); err != nil {
		return nil, err
	}
	if resourceVersion == "" {
		st, err := r.readEtcd(ctx, key)
		if err != nil {
			return nil, err
		}
		return st.obj, nil
	}
	if resourceVersion != "0" {
		rev, err := parseResourceVersion(resourceVersion)
		if err != nil {
			return nil, err
		}
		if err := r.waitRev(ctx, rev, false); err != nil {
			return nil, err
		}
	}
	r.mu.RLock()
	e := r.objects[key]
	r.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return e.obj, nil
}

// state is an object as read for a compare-and-swap.
type state struct {
	obj       runtime.Object // may be shared with the cache: never mutated
	data      []byte
	rev       int64
	fromCache bool // possibly stale
}

// readEtcd reads key from etcd (linearizable). The returned object is the
// cache's when the cache holds the same revision.
func (r *Resource) readEtcd(ctx context.Context, key string) (state, error) {
	start := time.Now()
	resp, err := r.s.client.Get(ctx, key)
	observe(r.m.get, start)
	if err != nil {
		return state{}, fmt.Errorf("storage: get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return state{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	kv := resp.Kvs[0]
	return r.stateOf(key, kv.Value, kv.ModRevision)
}

func (r *Resource) stateOf(key string, data []byte, rev int64) (state, error) {
	r.mu.RLock()
	e := r.objects[key]
	r.mu.RUnlock()
	if e != nil && e.rev == rev {
		return state{obj: e.obj, data: data, rev: rev}, nil
	}
	obj, err := r.decode(data, rev)
	if err != nil {
		return state{}, fmt.Errorf("%s: %w", key, err)
	}
	return state{obj: obj, data: data, rev: rev}, nil
}

// current reads key from the watch cache, falling back to etcd when the
// cache does not have it.
func (r *Resource) current(ctx context.Context, key string) (state, error) {
	r.mu.RLock()
	e := r.objects[key]
	r.mu.RUnlock()
	if e != nil {
		return state{obj: e.obj, data: e.data, rev: e.rev, fromCache: true}, nil
	}
	return r.readEtcd(ctx, key)
}

// elseState decodes the current value from the Else branch's first read;
// ErrNotFound when the key is gone.
func (r *Resource) elseState(resp *clientv3.TxnResponse, key string) (state, error) {
	if len(resp.Responses) == 0 {
		return state{}, fmt.Errorf("storage: %s: transaction returned no read", key)
	}
	rr := resp.Responses[0].GetResponseRange()
	if rr == nil || len(rr.Kvs) == 0 {
		return state{}, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	return r.stateOf(key, rr.Kvs[0].Value, rr.Kvs[0].ModRevision)
}

// GuaranteedUpdate applies fn to the current object at key and writes the
// result with a compare-and-swap on the key's mod revision, calling fn again
// with the fresh object when it loses a race. fn gets a private deep copy.
// An error from fn is returned unchanged (when fn fails on a possibly stale
// cached object, it is first retried on the object read from etcd). An
// update that changes nothing and claims nothing is not written.
// Update.Delete deletes the key instead and returns its last state with the
// deletion's revision.
func (r *Resource) GuaranteedUpdate(ctx context.Context, key string, fn UpdateFunc) (runtime.Object, error) {
	if err := r.checkKey(key); err != nil {
		return nil, err
	}
	st, err := r.current(ctx, key)
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		upd, err := fn(st.obj.DeepCopyObject())
		if err != nil {
			if st.fromCache {
				if st, err = r.readEtcd(ctx, key); err != nil {
					return nil, err
				}
				continue
			}
			return nil, err
		}
		if upd.Delete {
			out, retry, err := r.casDelete(ctx, key, st, upd.Releases)
			if err != nil {
				return nil, err
			}
			if retry != nil {
				st = *retry
				continue
			}
			return out, nil
		}
		if upd.Object == nil {
			return nil, fmt.Errorf("storage: update of %s returned no object", key)
		}
		data, err := r.encode(upd.Object)
		if err != nil {
			return nil, err
		}
		if len(upd.Claims) == 0 && len(upd.Releases) == 0 && bytes.Equal(data, st.data) {
			if st.fromCache {
				if st, err = r.readEtcd(ctx, key); err != nil {
					return nil, err
				}
				continue
			}
			if err := setResourceVersion(upd.Object, st.rev); err != nil {
				return nil, err
			}
			return upd.Object, nil
		}

		cmps := make([]clientv3.Cmp, 0, 1+len(upd.Claims))
		ops := make([]clientv3.Op, 0, 1+len(upd.Claims)+len(upd.Releases))
		elseOps := make([]clientv3.Op, 0, 1+len(upd.Claims))
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", st.rev))
		ops = append(ops, clientv3.OpPut(key, string(data)))
		elseOps = append(elseOps, clientv3.OpGet(key))
		for _, c := range upd.Claims {
			cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(c.Key), "=", 0))
			ops = append(ops, clientv3.OpPut(c.Key, string(c.Value)))
			elseOps = append(elseOps, clientv3.OpGet(c.Key, clientv3.WithCountOnly()))
		}
		for _, k := range upd.Releases {
			ops = append(ops, clientv3.OpDelete(k))
		}
		start := time.Now()
		resp, err := r.s.client.Txn(ctx).If(cmps...).Then(ops...).Else(elseOps...).Commit()
		observe(r.m.update, start)
		if err != nil {
			return nil, fmt.Errorf("storage: update %s: %w", key, err)
		}
		if resp.Succeeded {
			r.noteWrite(resp.Header.Revision)
			if err := setResourceVersion(upd.Object, resp.Header.Revision); err != nil {
				return nil, err
			}
			return upd.Object, nil
		}
		next, err := r.elseState(resp, key)
		if err != nil {
			return nil, err
		}
		if next.rev == st.rev {
			// The object did not change: a claim is taken.
			return nil, failedCreateOrClaim(resp, key, upd.Claims, false)
		}
		st = next
	}
}

// casDelete deletes key if it is still at st.rev. On a lost race it returns
// the fresh state to retry with.
func (r *Resource) casDelete(ctx context.Context, key string, st state, releases []string) (runtime.Object, *state, error) {
	ops := make([]clientv3.Op, 0, 1+len(releases))
	ops = append(ops, clientv3.OpDelete(key))
	for _, k := range releases {
		ops = append(ops, clientv3.OpDelete(k))
	}
	start := time.Now()
	resp, err := r.s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(key), "=", st.rev)).
		Then(ops...).
		Else(clientv3.OpGet(key)).
		Commit()
	observe(r.m.delete, start)
	if err != nil {
		return nil, nil, fmt.Errorf("storage: delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		next, err := r.elseState(resp, key)
		if err != nil {
			return nil, nil, err
		}
		return nil, &next, nil
	}
	r.noteWrite(resp.Header.Revision)
	out := st.obj.DeepCopyObject()
	if err := setResourceVersion(out, resp.Header.Revision); err != nil {
		return nil, nil, err
	}
	return out, nil, nil
}

// Delete deletes key with a compare-and-swap on its mod revision after
// checking opts.Precondition (which must not mutate the object it gets), and
// returns the deleted object with the deletion's revision as resourceVersion.
func (r *Resource) Delete(ctx context.Context, key string, opts DeleteOptions) (runtime.Object, error) {
	if err := r.checkKey(key); err != nil {
		return nil, err
	}
	st, err := r.current(ctx, key)
	if err != nil {
		return nil, err
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if opts.Precondition != nil {
			if err := opts.Precondition(st.obj); err != nil {
				if st.fromCache {
					if st, err = r.readEtcd(ctx, key); err != nil {
						return nil, err
					}
					continue
				}
				return nil, err
			}
		}
		out, retry, err := r.casDelete(ctx, key, st, opts.Releases)
		if err != nil {
			return nil, err
		}
		if retry == nil {
			return out, nil
		}
		st = *retry
	}
}

func errGone(rev, oldest int64) error {
	return fmt.Errorf("%w: %d (oldest available %d)", ErrGone, rev, oldest)
}

// etcdErr maps etcd's revision errors to the package's.
func etcdErr(err error, rev int64) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		return fmt.Errorf("%w: %d: %v", ErrGone, rev, err)
	case errors.Is(err, rpctypes.ErrFutureRev):
		return fmt.Errorf("%w: %d: %v", ErrTimeout, rev, err)
	}
	return err
}
