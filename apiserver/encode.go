package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

var errWatchFailed = errors.New("apiserver: watch failed")

type statusErr struct{ st *metav1.Status }

func (e *statusErr) Error() string         { return e.st.Message }
func (e *statusErr) Status() metav1.Status { return *e.st }

// sharedEncodings remembers the encoding (JSON, or the protobuf envelope)
// of recently sent watch objects. The watch cache hands the same immutable
// object to every watcher, so with many watchers each event is encoded
// once instead of once per watcher.
type sharedEncodings struct {
	encode func(runtime.Object) ([]byte, error)
	mu     sync.Mutex
	m      map[runtime.Object][]byte
	ring   []runtime.Object
	next   int
}

func newSharedEncodings(size int, encode func(runtime.Object) ([]byte, error)) *sharedEncodings {
	return &sharedEncodings{encode: encode, m: make(map[runtime.Object][]byte, size), ring: make([]runtime.Object, size)}
}

func encodeJSON(obj runtime.Object) ([]byte, error) { return json.Marshal(obj) }

// encodeProtobufOrFail is the object's protobuf envelope. Objects from
// the watch cache carry no apiVersion and kind; the envelope names them,
// from the scheme.
func encodeProtobufOrFail(obj runtime.Object) ([]byte, error) {
	m, ok := obj.(interface{ Marshal() ([]byte, error) })
	if !ok {
		return nil, fmt.Errorf("%T has no protobuf encoding", obj)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	if gvk.Kind == "" {
		kinds, _, err := protoScheme().ObjectKinds(obj)
		if err != nil || len(kinds) == 0 {
			return nil, fmt.Errorf("%T: no kind: %v", obj, err)
		}
		gvk = kinds[0]
	}
	raw, err := m.Marshal()
	if err != nil {
		return nil, err
	}
	unk := runtime.Unknown{TypeMeta: runtime.TypeMeta{APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind}, Raw: raw}
	body, err := unk.Marshal()
	if err != nil {
		return nil, err
	}
	return append(append(make([]byte, 0, len(protobufMagic)+len(body)), protobufMagic...), body...), nil
}

func (c *sharedEncodings) get(obj runtime.Object) ([]byte, error) {
	c.mu.Lock()
	data, ok := c.m[obj]
	c.mu.Unlock()
	if ok {
		return data, nil
	}
	data, err := c.encode(obj)
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

func (s *Server) encodeSharedProtobuf(obj runtime.Object) ([]byte, error) {
	return s.protoEncodings.get(obj)
}
