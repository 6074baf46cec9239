package apiserver

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

func badRequest(msg string) error { return apierrors.NewBadRequest(msg) }

// toAPIError turns a storage or handler error into a Kubernetes API error
// about the named object of a resource.
func toAPIError(err error, gr schema.GroupResource, name string) error {
	var status apierrors.APIStatus
	switch {
	case errors.As(err, &status):
		return err
	case errors.Is(err, storage.ErrNotFound):
		return apierrors.NewNotFound(gr, name)
	case errors.Is(err, storage.ErrExists):
		return apierrors.NewAlreadyExists(gr, name)
	case errors.Is(err, storage.ErrConflict):
		return apierrors.NewConflict(gr, name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	case errors.Is(err, storage.ErrGone):
		return apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %v", err))
	case errors.Is(err, storage.ErrInvalidResourceVersion):
		return apierrors.NewBadRequest(err.Error())
	case errors.Is(err, storage.ErrInvalidContinue):
		return apierrors.NewBadRequest(fmt.Sprintf("invalid continue token: %v", err))
	case errors.Is(err, storage.ErrTimeout):
		return apierrors.NewTimeoutError(err.Error(), 1)
	}
	return apierrors.NewInternalError(err)
}

// statusOf returns the metav1.Status of an error.
func statusOf(err error) metav1.Status {
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		s := status.Status()
		s.Kind, s.APIVersion = "Status", "v1"
		if s.Status == "" {
			s.Status = metav1.StatusFailure
		}
		return s
	}
	return statusOf(apierrors.NewInternalError(err))
}

// writeStatus writes an error as a metav1.Status with its code.
func writeStatus(w http.ResponseWriter, err error) {
	s := statusOf(err)
	code := int(s.Code)
	if code == 0 {
		code = http.StatusInternalServerError
		s.Code = int32(code)
	}
	writeJSON(w, code, &s)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
	_, _ = w.Write([]byte("\n"))
}

func methodNotAllowed(verb string, gr schema.GroupResource) error {
	return apierrors.NewMethodNotSupported(gr, verb)
}
