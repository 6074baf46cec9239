package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/cairn-dev/cairn/apiserver/auth"
)

// KubeletClientUser is the user of the client certificate the API server
// presents to nodes' kubelets when it reads pod logs, as in Kubernetes.
// A node's log server must allow it.
const KubeletClientUser = "system:kube-apiserver-kubelet-client"

// DefaultKubeletPort is dialled when a Node does not report its
// kubelet's port in status.daemonEndpoints.
const DefaultKubeletPort = 10250

// DefaultKubeletAddressTypes are the Node addresses tried, in order, to
// reach its kubelet.
var DefaultKubeletAddressTypes = []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeHostName}

const (
	// kubeletClientValidity of the in-memory client certificate; it is
	// reissued when less than kubeletClientRenew of it is left.
	kubeletClientValidity = 7 * 24 * time.Hour
	kubeletClientRenew    = 24 * time.Hour
	// maxKubeletErrorBytes of a kubelet's error answer are kept.
	maxKubeletErrorBytes = 64 << 10
)

// kubeletClient reaches nodes' kubelets over HTTPS: it verifies their
// serving certificates against the cluster CA and presents a client
// certificate for KubeletClientUser, issued from the CA and kept in
// memory only.
type kubeletClient struct {
	ca           *auth.CA
	addressTypes []corev1.NodeAddressType
	http         *http.Client

	mu   sync.Mutex
	cert *tls.Certificate
}

func newKubeletClient(ca *auth.CA, addressTypes []string) (*kubeletClient, error) {
	k := &kubeletClient{ca: ca, addressTypes: DefaultKubeletAddressTypes}
	if len(addressTypes) > 0 {
		k.addressTypes = nil
		for _, t := range addressTypes {
			k.addressTypes = append(k.addressTypes, corev1.NodeAddressType(t))
		}
	}
	if _, err := k.clientCertificate(nil); err != nil {
		return nil, err
	}
	k.http = &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{
			RootCAs:              ca.Pool(),
			GetClientCertificate: k.clientCertificate,
			MinVersion:           tls.VersionTLS12,
		},
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 30 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}}
	return k, nil
}

// clientCertificate returns the client certificate, issuing a new one
// when there is none or it is about to expire.
func (k *kubeletClient) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.cert != nil && time.Until(k.cert.Leaf.NotAfter) > kubeletClientRenew {
		return k.cert, nil
	}
	certPEM, keyPEM, err := k.ca.IssueClient(auth.User{Name: KubeletClientUser}, kubeletClientValidity)
	if err != nil {
		return nil, fmt.Errorf("apiserver: kubelet client certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("apiserver: kubelet client certificate: %w", err)
	}
	k.cert = &cert
	return k.cert, nil
}

// kubeletURL is where node's kubelet serves the log of one container.
func (k *kubeletClient) kubeletURL(node *corev1.Node, namespace, pod, container string, opts url.Values) (*url.URL, error) {
	host := ""
	for _, t := range k.addressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				host = a.Address
				break
			}
		}
		if host != "" {
			break
		}
	}
	if host == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("node %s has no address of a type in %v to reach its kubelet at", node.Name, k.addressTypes))
	}
	port := int(node.Status.DaemonEndpoints.KubeletEndpoint.Port)
	if port == 0 {
		port = DefaultKubeletPort
	}
	return &url.URL{
		Scheme:   "https",
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/containerLogs/" + namespace + "/" + pod + "/" + container,
		RawPath:  "/containerLogs/" + url.PathEscape(namespace) + "/" + url.PathEscape(pod) + "/" + url.PathEscape(container),
		RawQuery: opts.Encode(),
	}, nil
}

// parsePodLogOptions reads and validates a pods/log query as
// kube-apiserver does, returning the container asked for and the
// parameters to pass to the kubelet.
func parsePodLogOptions(name string, q url.Values) (string, url.Values, error) {
	pass := url.Values{}
	var errs field.ErrorList
	for _, p := range []string{"follow", "previous", "timestamps"} {
		v := q.Get(p)
		if v == "" {
			continue
		}
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", nil, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid value %q: want true or false", p, v))
		}
		if b {
			pass.Set(p, "true")
		}
	}
	for _, p := range []struct {
		name string
		min  int64
	}{{"sinceSeconds", 1}, {"tailLines", 0}, {"limitBytes", 1}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return "", nil, apierrors.NewBadRequest(fmt.Sprintf("%s: invalid value %q: want an integer", p.name, v))
		}
		if n < p.min {
			msg := "must be greater than 0"
			if p.min == 0 {
				msg = "must be greater than or equal to 0"
			}
			errs = append(errs, field.Invalid(field.NewPath(p.name), n, msg))
			continue
		}
		pass.Set(p.name, v)
	}
	if v := q.Get("sinceTime"); v != "" {
		if _, err := time.Parse(time.RFC3339, v); err != nil {
			return "", nil, apierrors.NewBadRequest(fmt.Sprintf("sinceTime: invalid value %q: want an RFC 3339 time", v))
		}
		if pass.Has("sinceSeconds") {
			errs = append(errs, field.Forbidden(field.NewPath(""), "at most one of `sinceTime` or `sinceSeconds` may be specified"))
		}
		pass.Set("sinceTime", v)
	}
	if len(errs) > 0 {
		return "", nil, apierrors.NewInvalid(schema.GroupKind{Kind: "PodLogOptions"}, name, errs)
	}
	return q.Get("container"), pass, nil
}

// logContainer picks the container whose log is read: the one named, or
// the pod's only container, with kube-apiserver's messages otherwise.
func logContainer(pod *corev1.Pod, name string) (string, error) {
	var names []string
	for _, c := range pod.Spec.InitContainers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.Containers {
		names = append(names, c.Name)
	}
	for _, c := range pod.Spec.EphemeralContainers {
		names = append(names, c.Name)
	}
	if name == "" {
		switch len(pod.Spec.Containers) {
		case 1:
			return pod.Spec.Containers[0].Name, nil
		case 0:
			return "", apierrors.NewBadRequest(fmt.Sprintf("pod %s has no containers", pod.Name))
		}
		return "", apierrors.NewBadRequest(fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names))
	}
	for _, n := range names {
		if n == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

// servePodLog serves GET pods/log: it finds the pod's node and streams
// the container's log from the node's kubelet.
func (s *Server) servePodLog(w http.ResponseWriter, r *http.Request, info *requestInfo, res *Resource) {
	if info.Verb != "get" {
		writeStatus(w, methodNotAllowed(info.Verb, res.GR()))
		return
	}
	ctx := r.Context()
	containerName, opts, err := parsePodLogOptions(info.Name, r.URL.Query())
	if err != nil {
		writeStatus(w, err)
		return
	}
	obj, err := s.stores[res].Get(ctx, res.Key(info.Namespace, info.Name), "")
	if err != nil {
		writeStatus(w, toAPIError(err, res.GR(), info.Name))
		return
	}
	pod := obj.(*corev1.Pod)
	container, err := logContainer(pod, containerName)
	if err != nil {
		writeStatus(w, err)
		return
	}
	if pod.Spec.NodeName == "" {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name)))
		return
	}
	nodes := s.reg.lookup("", "v1", "nodes")
	nodeObj, err := s.stores[nodes].Get(ctx, nodes.Key("", pod.Spec.NodeName), "")
	if err != nil {
		writeStatus(w, toAPIError(err, nodes.GR(), pod.Spec.NodeName))
		return
	}
	node := nodeObj.(*corev1.Node)
	u, err := s.kubelets.kubeletURL(node, pod.Namespace, pod.Name, container, opts)
	if err != nil {
		writeStatus(w, err)
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		writeStatus(w, apierrors.NewInternalError(err))
		return
	}
	resp, err := s.kubelets.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		writeStatus(w, apierrors.NewInternalError(fmt.Errorf("reading the log from node %s's kubelet: %w", node.Name, err)))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		writeStatus(w, kubeletError(resp, node.Name, res.GR(), info.Name))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	if err := copyFlushing(ctx, w, resp.Body); err != nil && ctx.Err() == nil {
		s.log.Debug("streaming a pod log", "pod", pod.Namespace+"/"+pod.Name, "container", container, "node", node.Name, "err", err)
	}
}

// kubeletError turns a kubelet's error answer into an API error carrying
// the kubelet's message, as kube-apiserver does. A kubelet refusing the
// API server's own certificate is the server's problem, not the
// client's: that is an internal error.
func kubeletError(resp *http.Response, node string, gr schema.GroupResource, name string) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxKubeletErrorBytes))
	msg := strings.TrimSpace(string(body))
	if msg == "" {
		msg = http.StatusText(resp.StatusCode)
	}
	switch resp.StatusCode {
	case http.StatusBadRequest:
		return apierrors.NewBadRequest(msg)
	case http.StatusNotFound:
		return &apierrors.StatusError{ErrStatus: metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound,
			Reason: metav1.StatusReasonNotFound, Message: msg,
			Details: &metav1.StatusDetails{Group: gr.Group, Kind: gr.Resource, Name: name}}}
	case http.StatusUnauthorized, http.StatusForbidden:
		return apierrors.NewInternalError(fmt.Errorf("the kubelet of node %s refused the API server's client certificate (%d): %s", node, resp.StatusCode, msg))
	case http.StatusInternalServerError:
		return apierrors.NewInternalError(errors.New(msg))
	}
	return apierrors.NewGenericServerResponse(resp.StatusCode, "get", gr, name, msg, 0, false)
}

// copyFlushing copies a log stream, flushing every chunk so followers see
// lines as the container writes them.
func copyFlushing(ctx context.Context, w http.ResponseWriter, r io.Reader) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return ferr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}
