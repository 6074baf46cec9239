package apiserver

import (
	"mime"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/apiserver/printers"
)

type outputKind int

const (
	outputJSON outputKind = iota
	outputTable
	outputMetadata // PartialObjectMetadata(List)
	outputProtobuf // Kubernetes' protobuf envelope
)

const protobufMediaType = "application/vnd.kubernetes.protobuf"

type outputFormat struct {
	kind          outputKind
	includeObject metav1.IncludeObjectPolicy
	noHeaders     bool
}

// negotiate picks the response form from the Accept header, as
// kube-apiserver does, taking the first acceptable entry: JSON, Kubernetes'
// protobuf (for the built-in kinds; client-go asks for it first), a
// meta.k8s.io Table, or object metadata.
func negotiate(r *http.Request) (outputFormat, error) {
	out := outputFormat{kind: outputJSON, includeObject: metav1.IncludeMetadata}
	if v := r.URL.Query().Get("includeObject"); v != "" {
		out.includeObject = metav1.IncludeObjectPolicy(v)
	}
	accept := r.Header.Get("Accept")
	if accept == "" {
		return out, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == protobufMediaType && params["as"] == "" {
			out.kind = outputProtobuf
			return out, nil
		}
		if mt != "application/json" && mt != "*/*" && mt != "application/*" {
			continue
		}
		metaV1 := params["g"] == "meta.k8s.io" && (params["v"] == "v1" || params["v"] == "v1beta1")
		switch params["as"] {
		case "Table":
			if metaV1 {
				out.kind = outputTable
				return out, nil
			}
		case "PartialObjectMetadata", "PartialObjectMetadataList":
			if metaV1 {
				out.kind = outputMetadata
				return out, nil
			}
		case "":
			return out, nil
		}
	}
	return out, apierrors.NewGenericServerResponse(http.StatusNotAcceptable, "get", emptyGR, "",
		"only application/json (as JSON, Table or PartialObjectMetadata) and application/vnd.kubernetes.protobuf are served", 0, false)
}

// transform turns an object or list into the negotiated form.
func (s *Server) transform(q *request, obj runtime.Object) (any, error) {
	if _, isStatus := obj.(*metav1.Status); isStatus || q.out.kind == outputJSON || q.out.kind == outputProtobuf {
		return obj, nil
	}
	if q.res == nil {
		return obj, nil
	}
	items := []runtime.Object{obj}
	isList := meta.IsListType(obj)
	var lm metav1.ListMeta
	if isList {
		var err error
		if items, err = meta.ExtractList(obj); err != nil {
			return nil, err
		}
		if la, err := meta.ListAccessor(obj); err == nil {
			lm = metav1.ListMeta{ResourceVersion: la.GetResourceVersion(), Continue: la.GetContinue(), RemainingItemCount: la.GetRemainingItemCount()}
		}
	} else if m, err := meta.Accessor(obj); err == nil {
		lm.ResourceVersion = m.GetResourceVersion()
	}
	if q.out.kind == outputMetadata {
		metas := make([]metav1.PartialObjectMetadata, len(items))
		for i, it := range items {
			metas[i] = partialMeta(it)
		}
		if !isList {
			return &metas[0], nil
		}
		return &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadataList"},
			ListMeta: lm, Items: metas}, nil
	}
	if q.info.Subresource == "scale" {
		return obj, nil
	}
	p := printers.ForKind(q.res.Group, q.res.Kind)
	table := &metav1.Table{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "Table"}, ListMeta: lm}
	if !q.out.noHeaders {
		table.ColumnDefinitions = p.Columns
	}
	now := time.Now()
	table.Rows = make([]metav1.TableRow, 0, len(items))
	for _, it := range items {
		cells, err := p.Cells(it, now)
		if err != nil {
			return nil, apierrors.NewInternalError(err)
		}
		row := metav1.TableRow{Cells: cells}
		switch q.out.includeObject {
		case metav1.IncludeObject:
			row.Object = runtime.RawExtension{Object: it}
		case metav1.IncludeNone:
		default:
			pm := partialMeta(it)
			row.Object = runtime.RawExtension{Object: &pm}
		}
		table.Rows = append(table.Rows, row)
	}
	return table, nil
}

func partialMeta(obj runtime.Object) metav1.PartialObjectMetadata {
	pm := metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "meta.k8s.io/v1", Kind: "PartialObjectMetadata"}}
	if a, ok := obj.(metav1.ObjectMetaAccessor); ok {
		if om, ok := a.GetObjectMeta().(*metav1.ObjectMeta); ok {
			pm.ObjectMeta = *om
		}
	}
	return pm
}
