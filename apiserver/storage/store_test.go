package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

func TestCRUDResourceVersions(t *testing.T) {
	env := newEnv(t, Options{})
	ctx := env.ctx
	key := cmKey("default", "web")

	created, err := env.cms.Create(ctx, key, cm("default", "web", nil, map[string]string{"a": "1"}), CreateOptions{})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	createRV := rvOf(t, created)
	etcdRev, err := env.store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if createRV != etcdRev {
		t.Fatalf("create RV %d, etcd revision %d", createRV, etcdRev)
	}

	for _, rv := range []string{"", strconv.FormatInt(createRV, 10), "0"} { // "0" may lag: last
		got, err := env.cms.Get(ctx, key, rv)
		if err != nil {
			t.Fatalf("Get rv=%q: %v", rv, err)
		}
		if rvOf(t, got) != createRV || got.(*corev1.ConfigMap).Data["a"] != "1" {
			t.Fatalf("Get rv=%q = %+v", rv, got)
		}
	}

	updated, err := env.cms.GuaranteedUpdate(ctx, key, func(cur runtime.Object) (Update, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["a"] = "2"
		return Update{Object: c}, nil
	})
	if err != nil {
		t.Fatalf("GuaranteedUpdate: %v", err)
	}
	updateRV := rvOf(t, updated)
	if updateRV <= createRV {
		t.Fatalf("update RV %d not after create RV %d", updateRV, createRV)
	}
	got, err := env.cms.Get(ctx, key, strconv.FormatInt(updateRV, 10))
	if err != nil || rvOf(t, got) != updateRV || got.(*corev1.ConfigMap).Data["a"] != "2" {
		t.Fatalf("Get after update = %v, %v", got, err)
	}

	// An update changing nothing is not written and keeps the RV.
	same, err := env.cms.GuaranteedUpdate(ctx, key, func(cur runtime.Object) (Update, error) {
		return Update{Object: cur}, nil
	})
	if err != nil || rvOf(t, same) != updateRV {
		t.Fatalf("no-op update = %v, %v; want RV %d", same, err, updateRV)
	}

	deleted, err := env.cms.Delete(ctx, key, DeleteOptions{})
	if err != nil {
		t.Fatalf("Delete: %v", err)
	}
	deleteRV := rvOf(t, deleted)
	if deleteRV <= updateRV || deleted.(*corev1.ConfigMap).Data["a"] != "2" {
		t.Fatalf("deleted = %+v (RV %d, update RV %d)", deleted, deleteRV, updateRV)
	}
	for _, rv := range []string{"", strconv.FormatInt(deleteRV, 10)} {
		if _, err := env.cms.Get(ctx, key, rv); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get rv=%q after delete: %v, want ErrNotFound", rv, err)
		}
	}
	if _, err := env.cms.Delete(ctx, key, DeleteOptions{}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	_, err = env.cms.GuaranteedUpdate(ctx, key, func(cur runtime.Object) (Update, error) { return Update{Object: cur}, nil })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("update of deleted: %v, want ErrNotFound", err)
	}
}

func TestErrors(t *testing.T) {
	env := newEnv(t, Options{})
	ctx := env.ctx
	first := env.mustCreate(t, cm("default", "a", nil, nil))
	errConflictFn := func(wantRV int64) UpdateFunc {
		return func(cur runtime.Object) (Update, error) {
			if rvOf(t, cur) != wantRV {
				return Update{}, fmt.Errorf("%w: have %d, want %d", ErrConflict, rvOf(t, cur), wantRV)
			}
			return Update{Object: cur}, nil
		}
	}
	custom := errors.New("custom")
	tests := []struct {
		name string
		do   func() error
		want error
	}{
		{"create existing", func() error {
			_, err := env.cms.Create(ctx, cmKey("default", "a"), cm("default", "a", nil, nil), CreateOptions{})
			return err
		}, ErrExists},
		{"update precondition", func() error {
			_, err := env.cms.GuaranteedUpdate(ctx, cmKey("default", "a"), errConflictFn(rvOf(t, first)-1))
			return err
		}, ErrConflict},
		{"update fn error unchanged", func() error {
			_, err := env.cms.GuaranteedUpdate(ctx, cmKey("default", "a"), func(runtime.Object) (Update, error) { return Update{}, custom })
			return err
		}, custom},
		{"delete precondition", func() error {
			_, err := env.cms.Delete(ctx, cmKey("default", "a"), DeleteOptions{Precondition: func(runtime.Object) error { return ErrConflict }})
			return err
		}, ErrConflict},
		{"get missing", func() error { _, err := env.cms.Get(ctx, cmKey("default", "nope"), ""); return err }, ErrNotFound},
		{"get cached missing", func() error { _, err := env.cms.Get(ctx, cmKey("default", "nope"), "0"); return err }, ErrNotFound},
		{"get bad rv", func() error { _, err := env.cms.Get(ctx, cmKey("default", "a"), "x"); return err }, ErrInvalidResourceVersion},
		{"get future rv", func() error { _, err := env.cms.Get(ctx, cmKey("default", "a"), "999999"); return err }, ErrTimeout},
		{"list bad continue", func() error {
			_, err := env.cms.List(ctx, "/registry/configmaps/", ListOptions{Continue: "!!"})
			return err
		}, ErrInvalidContinue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The precondition passes with the right RV.
	if _, err := env.cms.GuaranteedUpdate(ctx, cmKey("default", "a"), errConflictFn(rvOf(t, first))); err != nil {
		t.Fatalf("update with matching RV: %v", err)
	}
	if _, err := env.cms.Create(ctx, "/registry/secrets/default/a", cm("default", "a", nil, nil), CreateOptions{}); err == nil {
		t.Fatal("Create outside the resource prefix succeeded")
	}
}

func TestClaims(t *testing.T) {
	env := newEnv(t, Options{})
	ctx := env.ctx
	const ipKey = "/registry/ranges/serviceips/10.0.0.10"
	claim := []Claim{{Key: ipKey, Value: []byte("default/a")}}

	if _, err := env.cms.Create(ctx, cmKey("default", "a"), cm("default", "a", nil, nil), CreateOptions{Claims: claim}); err != nil {
		t.Fatalf("Create with claim: %v", err)
	}
	keys, err := env.store.Keys(ctx, "/registry/ranges/serviceips/")
	if err != nil || len(keys) != 1 || keys[0] != ipKey {
		t.Fatalf("Keys = %v, %v", keys, err)
	}
	_, err = env.cms.Create(ctx, cmKey("default", "b"), cm("default", "b", nil, nil), CreateOptions{Claims: claim})
	if !errors.Is(err, ErrClaimed) {
		t.Fatalf("Create with taken claim: %v, want ErrClaimed", err)
	}
	if _, err := env.cms.Get(ctx, cmKey("default", "b"), ""); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed create left the object: %v", err)
	}
	// Existing key wins over a taken claim.
	_, err = env.cms.Create(ctx, cmKey("default", "a"), cm("default", "a", nil, nil), CreateOptions{Claims: claim})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("Create existing with taken claim: %v, want ErrExists", err)
	}
	env.mustCreate(t, cm("default", "b", nil, nil))
	_, err = env.cms.GuaranteedUpdate(ctx, cmKey("default", "b"), func(cur runtime.Object) (Update, error) {
		c := cur.(*corev1.ConfigMap)
		c.Labels = map[string]string{"ip": "10"}
		return Update{Object: c, Claims: claim}, nil
	})
	if !errors.Is(err, ErrClaimed) {
		t.Fatalf("update with taken claim: %v, want ErrClaimed", err)
	}

	// Delete releases the claim; b can then take it in an update, and an
	// update can release a claim too.
	if _, err := env.cms.Delete(ctx, cmKey("default", "a"), DeleteOptions{Releases: []string{ipKey}}); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if keys, _ := env.store.Keys(ctx, ipKey); len(keys) != 0 {
		t.Fatalf("claim not released: %v", keys)
	}
	_, err = env.cms.GuaranteedUpdate(ctx, cmKey("default", "b"), func(cur runtime.Object) (Update, error) {
		return Update{Object: cur, Claims: claim}, nil
	})
	if err != nil {
		t.Fatalf("update claiming released key: %v", err)
	}
	resp, err := env.client.Get(ctx, ipKey)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "default/a" {
		t.Fatalf("claim value = %v, %v", resp, err)
	}
	last, err := env.cms.GuaranteedUpdate(ctx, cmKey("default", "b"), func(cur runtime.Object) (Update, error) {
		return Update{Delete: true, Releases: []string{ipKey}}, nil
	})
	if err != nil || nameOf(last) != "b" {
		t.Fatalf("update-delete = %v, %v", last, err)
	}
	if keys, _ := env.store.Keys(ctx, "/registry/"); len(keys) != 0 {
		t.Fatalf("keys left after update-delete: %v", keys)
	}
}

func TestGuaranteedUpdateRace(t *testing.T) {
	env := newEnv(t, Options{})
	key := cmKey("default", "counter")
	env.mustCreate(t, cm("default", "counter", map[string]string{"n": "0"}, nil))
	const workers = 20
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := env.cms.GuaranteedUpdate(env.ctx, key, func(cur runtime.Object) (Update, error) {
				c := cur.(*corev1.ConfigMap)
				n, err := strconv.Atoi(c.Labels["n"])
				if err != nil {
					return Update{}, err
				}
				c.Labels["n"] = strconv.Itoa(n + 1)
				return Update{Object: c}, nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("GuaranteedUpdate: %v", err)
		}
	}
	got, err := env.cms.Get(env.ctx, key, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := got.(*corev1.ConfigMap).Labels["n"]; n != strconv.Itoa(workers) {
		t.Fatalf("counter = %s, want %d", n, workers)
	}
}

func TestStoredValueIsJSONWithoutResourceVersion(t *testing.T) {
	env := newEnv(t, Options{})
	in := cm("default", "x", map[string]string{"app": "web"}, map[string]string{"k": "v"})
	in.ResourceVersion = "12345" // never stored
	out, err := env.cms.Create(env.ctx, cmKey("default", "x"), in, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := env.client.Get(env.ctx, "/registry/configmaps/default/x")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("etcd get: %v %v", resp, err)
	}
	if resp.Kvs[0].ModRevision != rvOf(t, out) {
		t.Fatalf("mod revision %d, RV %d", resp.Kvs[0].ModRevision, rvOf(t, out))
	}
	var stored struct {
		APIVersion string            `json:"apiVersion"`
		Kind       string            `json:"kind"`
		Metadata   map[string]any    `json:"metadata"`
		Data       map[string]string `json:"data"`
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, &stored); err != nil {
		t.Fatalf("stored value is not JSON: %v\n%s", err, resp.Kvs[0].Value)
	}
	if stored.APIVersion != "v1" || stored.Kind != "ConfigMap" || stored.Metadata["name"] != "x" ||
		stored.Metadata["namespace"] != "default" || stored.Data["k"] != "v" {
		t.Fatalf("stored = %s", resp.Kvs[0].Value)
	}
	if _, ok := stored.Metadata["resourceVersion"]; ok {
		t.Fatalf("resourceVersion stored: %s", resp.Kvs[0].Value)
	}
	// An update does not store it either.
	if _, err := env.cms.GuaranteedUpdate(env.ctx, cmKey("default", "x"), func(cur runtime.Object) (Update, error) {
		c := cur.(*corev1.ConfigMap)
		c.Data["k"] = "w"
		return Update{Object: c}, nil
	}); err != nil {
		t.Fatal(err)
	}
	resp, _ = env.client.Get(env.ctx, "/registry/configmaps/default/x", clientv3.WithSerializable())
	var again map[string]map[string]any
	_ = json.Unmarshal(resp.Kvs[0].Value, &again)
	if _, ok := again["metadata"]["resourceVersion"]; ok {
		t.Fatalf("resourceVersion stored by update: %s", resp.Kvs[0].Value)
	}
}
