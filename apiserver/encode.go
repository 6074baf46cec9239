package apiserver

import (
	"encoding/json"
	"errors"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var errWatchFailed = errors.New("apiserver: watch failed")

type statusErr struct{ st *metav1.Status }

func (e *statusErr) Error() string         { return e.st.Message }
func (e *statusErr) Status() metav1.Status { return *e.st }

// sharedEncodings remembers the JSON of recently sent watch objects. The
// watch cache hands the same immutable object to every watcher, so with
// many watchers each event is encoded once instead of once per watcher.
type sharedEncodings struct {
	mu   sync.Mutex
	m    map[runtime.Object][]byte
	ring []runtime.Object
	next int
}

func newSharedEncodings(size int) *sharedEncodings {
	return &sharedEncodings{m: make(map[runtime.Object][]byte, size), ring: make([]runtime.Object, size)}
}

func (c *sharedEncodings) get(obj runtime.Object) ([]byte, error) {
	c.mu.Lock()
	data, ok := c.m[obj]
	c.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if _, ok := c.m[obj]; !ok {
		if old := c.ring[c.next]; old != nil {
			delete(c.m, old)
		}
		c.ring[c.next] = obj
		c.next = (c.next + 1) % len(c.ring)
		c.m[obj] = data
	}
	c.mu.Unlock()
	return data, nil
}

func (s *Server) encodeShared(obj runtime.Object) ([]byte, error) {
	return s.encodings.get(obj)
}
