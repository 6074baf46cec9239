package apiserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

// watch streams events as newline-delimited metav1.WatchEvent JSON, or,
// for a client that asks for protobuf and a kind that has it, as
// length-delimited protobuf WatchEvents (Kubernetes'
// application/vnd.kubernetes.protobuf;stream=watch): the framings
// client-go's watch decoders read.
func (s *Server) watch(q *request) {
	opts, pred, err := selection(q.r, q.res)
	if err != nil {
		writeStatus(q.w, err)
		return
	}
	if q.info.Name != "" { // a watch on one named object
		byName := fields.OneTermEqualSelector("metadata.name", q.info.Name)
		if pred.Field == nil {
			pred.Field = byName
		} else {
			pred.Field = fields.AndSelectors(pred.Field, byName)
		}
	}
	timeout := time.Duration(0)
	if opts.TimeoutSeconds != nil && *opts.TimeoutSeconds > 0 {
		timeout = time.Duration(*opts.TimeoutSeconds) * time.Second
	} else {
		timeout = 30 * time.Minute
	}
	ctx := q.ctx
	var cancel func()
	ctx, cancel = context.WithTimeout(ctx, timeout)
	defer cancel()
	w, err := q.store.Watch(ctx, q.res.ListPrefix(q.info.Namespace), storage.WatchOptions{
		ResourceVersion: opts.ResourceVersion, SendInitialEvents: opts.SendInitialEvents,
		AllowBookmarks: opts.AllowWatchBookmarks, Predicate: pred,
	})
	if err != nil {
		s.fail(q, err)
		return
	}
	defer w.Stop()
	s.metrics.watchers.WithLabelValues(q.res.Resource).Inc()
	defer s.metrics.watchers.WithLabelValues(q.res.Resource).Dec()

	flusher, _ := q.w.(http.Flusher)
	h := q.w.Header()
	proto := q.out.kind == outputProtobuf && hasProtobuf(q.res)
	if proto {
		h.Set("Content-Type", protobufMediaType+";stream=watch")
	} else {
		h.Set("Content-Type", "application/json")
	}
	h.Set("Transfer-Encoding", "chunked")
	h.Del("Content-Length")
	q.w.WriteHeader(http.StatusOK)
	if flusher != nil {
		flusher.Flush()
	}
	var buf bytes.Buffer
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.ResultChan():
			if !ok {
				return
			}
			buf.Reset()
			encode := s.encodeEvent
			if proto {
				encode = s.encodeProtobufEvent
			}
			if err := encode(&buf, q, ev); err != nil {
				s.log.Debug("watch encode", "err", err)
				return
			}
			// Drain what is already queued into the same write.
			for more := true; more && buf.Len() < 1<<20; {
				select {
				case ev2, ok := <-w.ResultChan():
					if !ok {
						more = false
						break
					}
					if err := encode(&buf, q, ev2); err != nil {
						return
					}
				default:
					more = false
				}
			}
			if _, err := q.w.Write(buf.Bytes()); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
}

func (s *Server) encodeEvent(buf *bytes.Buffer, q *request, ev watch.Event) error {
	if ev.Type == watch.Error {
		st := statusOf(toAPIError(errFromWatch(ev), q.res.GR(), ""))
		return writeEvent(buf, string(ev.Type), &st)
	}
	// Watch streams are JSON (client-go's protobuf Accept included): each
	// event's object is encoded once and shared by every watcher.
	if q.out.kind == outputJSON || q.out.kind == outputProtobuf {
		data, err := s.encodeShared(ev.Object)
		if err != nil {
			return err
		}
		buf.WriteString(`{"type":"`)
		buf.WriteString(string(ev.Type))
		buf.WriteString(`","object":`)
		buf.Write(data)
		buf.WriteString("}\n")
		return nil
	}
	out, err := s.transform(q, ev.Object)
	if err != nil {
		return err
	}
	return writeEvent(buf, string(ev.Type), out)
}

// hasProtobuf: the resource's kind has a protobuf form (the built-in
// kinds; cairn's own are JSON only).
func hasProtobuf(res *Resource) bool {
	_, ok := res.New().(interface{ Marshal() ([]byte, error) })
	return ok
}

// encodeProtobufEvent appends one frame: a 4-byte big-endian length, then
// a metav1.WatchEvent whose object is the object's protobuf envelope
// (shared by every watcher).
func (s *Server) encodeProtobufEvent(buf *bytes.Buffer, q *request, ev watch.Event) error {
	var obj []byte
	var err error
	if ev.Type == watch.Error {
		st := statusOf(toAPIError(errFromWatch(ev), q.res.GR(), ""))
		st.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Status"}
		obj, err = encodeProtobufOrFail(&st)
	} else {
		obj, err = s.encodeSharedProtobuf(ev.Object)
	}
	if err != nil {
		return err
	}
	// The stream's frames are raw WatchEvent messages (Kubernetes'
	// protobuf RawSerializer); only the embedded object has the envelope.
	we := metav1.WatchEvent{Type: string(ev.Type), Object: runtime.RawExtension{Raw: obj}}
	body, err := we.Marshal()
	if err != nil {
		return err
	}
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(body)))
	buf.Write(n[:])
	buf.Write(body)
	return nil
}

func writeEvent(buf *bytes.Buffer, typ string, obj any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return err
	}
	return json.NewEncoder(buf).Encode(&struct {
		Type   string          `json:"type"`
		Object json.RawMessage `json:"object"`
	}{typ, data})
}

func errFromWatch(ev watch.Event) error {
	if st, ok := ev.Object.(*metav1.Status); ok {
		return &statusErr{st}
	}
	return errWatchFailed
}
