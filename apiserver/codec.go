package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	sigsjson "sigs.k8s.io/json"
)

// storageCodec encodes objects as the JSON kept in etcd and decodes them
// back, finding the type from the leading "kind"/"apiVersion" that
// encoding/json writes first for every k8s.io/api type.
type storageCodec struct{ scheme *runtime.Scheme }

func (c storageCodec) Encode(obj runtime.Object) ([]byte, error) {
	return json.Marshal(obj)
}

func (c storageCodec) Decode(data []byte) (runtime.Object, error) {
	gvk, ok := sniffGVK(data)
	if !ok {
		var tm struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(data, &tm); err != nil {
			return nil, fmt.Errorf("apiserver: decode stored object: %w", err)
		}
		gvk = schema.FromAPIVersionAndKind(tm.APIVersion, tm.Kind)
	}
	obj, err := c.scheme.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("apiserver: decode stored object: %w", err)
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(data, obj); err != nil {
		return nil, fmt.Errorf("apiserver: decode stored %s: %w", gvk.Kind, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

// sniffGVK reads {"kind":"K","apiVersion":"G/V",... without a full parse.
func sniffGVK(data []byte) (schema.GroupVersionKind, bool) {
	const k, av = `{"kind":"`, `","apiVersion":"`
	if !bytes.HasPrefix(data, []byte(k)) {
		return schema.GroupVersionKind{}, false
	}
	rest := data[len(k):]
	i := bytes.IndexByte(rest, '"')
	if i < 0 || !bytes.HasPrefix(rest[i:], []byte(av)) {
		return schema.GroupVersionKind{}, false
	}
	kind := string(rest[:i])
	rest = rest[i+len(av):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return schema.GroupVersionKind{}, false
	}
	return schema.FromAPIVersionAndKind(string(rest[:j]), kind), true
}

var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// protoScheme types the objects protoCodec encodes.
var protoScheme = sync.OnceValue(NewScheme)

// protoCodec decodes Kubernetes' protobuf envelope for the built-in kinds.
var protoCodec = sync.OnceValue(func() *protobuf.Serializer {
	s := protoScheme()
	return protobuf.NewSerializer(s, s)
})

// encodeProtobuf encodes a built-in kind in Kubernetes' protobuf envelope;
// false for kinds with no protobuf form (cairn's own), which go out as JSON.
func encodeProtobuf(obj runtime.Object) ([]byte, bool) {
	if _, ok := obj.(interface{ Marshal() ([]byte, error) }); !ok {
		return nil, false
	}
	if obj.GetObjectKind().GroupVersionKind().Kind == "" {
		return nil, false
	}
	var buf bytes.Buffer
	if err := protoCodec().Encode(obj, &buf); err != nil {
		return nil, false
	}
	return buf.Bytes(), true
}

// fieldValidation is the client's choice for unknown and duplicate fields.
type fieldValidation string

const (
	validationStrict fieldValidation = "Strict"
	validationWarn   fieldValidation = "Warn"
	validationIgnore fieldValidation = "Ignore"
)

func parseFieldValidation(r *http.Request) (fieldValidation, error) {
	switch v := r.URL.Query().Get("fieldValidation"); v {
	case "", "Strict":
		return validationStrict, nil
	case "Warn", "Ignore":
		return fieldValidation(v), nil
	default:
		return "", fmt.Errorf("fieldValidation must be one of Strict, Warn, Ignore, not %q", v)
	}
}

// decodeBody decodes a request body into a new object of the resource's
// kind. Unknown and duplicate fields are errors under Strict and warnings
// under Warn. A mismatched apiVersion or kind is always an error.
func decodeBody(data []byte, res *Resource, newObj func() runtime.Object, gvk schema.GroupVersionKind, fv fieldValidation) (runtime.Object, []string, error) {
	obj := newObj()
	var strictErrs []error
	if bytes.HasPrefix(data, protobufMagic) {
		// kubectl and client-go send built-in kinds as protobuf.
		if _, _, err := protoCodec().Decode(data, &gvk, obj); err != nil {
			return nil, nil, badRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
		}
	} else {
		var err error
		strictErrs, err = sigsjson.UnmarshalStrict(data, obj, sigsjson.DisallowDuplicateFields, sigsjson.DisallowUnknownFields)
		if err != nil {
			return nil, nil, badRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err))
		}
	}
	var warnings []string
	if len(strictErrs) > 0 && fv != validationIgnore {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		if fv == validationStrict {
			return nil, nil, badRequest(fmt.Sprintf("%s in version %q cannot be handled as a %s: strict decoding error: %s",
				gvk.Kind, gvk.Version, gvk.Kind, strings.Join(msgs, ", ")))
		}
		warnings = msgs
	}
	got := obj.GetObjectKind().GroupVersionKind()
	if got.Kind != "" && got.Kind != gvk.Kind {
		return nil, nil, badRequest(fmt.Sprintf("the kind in the data (%s) does not match the expected kind (%s)", got.Kind, gvk.Kind))
	}
	if got.Version != "" && got.GroupVersion() != gvk.GroupVersion() {
		return nil, nil, badRequest(fmt.Sprintf("the API version in the data (%s) does not match the expected API version (%s)",
			got.GroupVersion().String(), gvk.GroupVersion().String()))
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	if _, err := meta.Accessor(obj); err != nil {
		return nil, nil, badRequest(err.Error())
	}
	return obj, warnings, nil
}
