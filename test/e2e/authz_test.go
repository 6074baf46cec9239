package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"

	"github.com/cairn-dev/cairn/apiserver"
)

// The outcome classes of one request in the authorization matrix.
const (
	authzPass         = "pass" // passed authentication and authorization: 2xx, or 404/409/422
	authzUnauthorized = "401"  // rejected by authentication
	authzForbidden    = "403"  // rejected by authorization
	authzNA           = "n/a"  // the verb does not exist for the (sub)resource
)

const (
	authzVerbsRead = "get list watch"
	authzVerbsAll  = "get list watch create update patch delete"
	authzObject    = "authz"     // name of the objects seeded for the matrix
	authzNewObject = "authz-new" // name used by (dry-run) creates
	authzNodeName  = "n1"        // the node the node identity is, and the nodes column's object
)

var authzVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete"}

// authzResource is one column of the matrix: a resource or subresource, the
// requests addressing it and the seed object the admin creates first.
type authzResource struct {
	key         string // how the matrix names it: "deployments.apps", "nodes/status"
	group       string
	resource    string
	subresource string
	namespace   string
	collection  string // URL path of the collection
	verbs       string // verbs that exist for it; the others are n/a
	seed        string // JSON object the admin creates before the matrix ("" for subresources)
	create      string // JSON body of the create request
}

func (r *authzResource) itemPath() string {
	p := r.collection + "/" + r.objectName()
	if r.subresource != "" {
		p += "/" + r.subresource
	}
	return p
}

func authzResources() []*authzResource {
	core := func(resource string, namespaced bool) *authzResource {
		r := &authzResource{key: resource, resource: resource, verbs: authzVerbsAll, collection: "/api/v1/" + resource}
		if namespaced {
			r.namespace = "default"
			r.collection = "/api/v1/namespaces/default/" + resource
		}
		return r
	}
	group := func(group, version, resource string, namespaced bool) *authzResource {
		r := &authzResource{key: resource + "." + group, group: group, resource: resource, verbs: authzVerbsAll,
			collection: "/apis/" + group + "/" + version + "/" + resource}
		if namespaced {
			r.namespace = "default"
			r.collection = "/apis/" + group + "/" + version + "/namespaces/default/" + resource
		}
		return r
	}
	podJSON := func(name string) string {
		return `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"},` +
			`"spec":{"containers":[{"name":"c","image":"registry.k8s.io/pause:3.10"}]}}`
	}
	nodeJSON := func(name string) string {
		return `{"apiVersion":"v1","kind":"Node","metadata":{"name":"` + name + `"}}`
	}
	secretJSON := func(name string) string {
		return `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"` + name + `"},"stringData":{"k":"v"}}`
	}
	configMapJSON := func(name string) string {
		return `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"` + name + `"},"data":{"k":"v"}}`
	}
	deploymentJSON := func(name string) string {
		return `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"` + name + `"},"spec":{"replicas":1,` +
			`"selector":{"matchLabels":{"app":"` + name + `"}},"template":{"metadata":{"labels":{"app":"` + name + `"}},` +
			`"spec":{"containers":[{"name":"c","image":"registry.k8s.io/pause:3.10"}]}}}}`
	}
	clusterRoleJSON := func(name string) string {
		return `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"` + name + `"},` +
			`"rules":[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get"]}]}`
	}
	gitRepoJSON := func(name string) string {
		return `{"apiVersion":"gitops.cairn.dev/v1","kind":"GitRepository","metadata":{"name":"` + name + `"},` +
			`"spec":{"url":"https://git.example.com/cluster.git","ref":{"branch":"main"}}}`
	}

	pods := core("pods", true)
	pods.seed, pods.create = podJSON(authzObject), podJSON(authzNewObject)
	nodes := core("nodes", false)
	// The nodes column addresses the node the node identity is: n1.
	nodes.seed, nodes.create = nodeJSON(authzNodeName), nodeJSON(authzNewObject)
	secrets := core("secrets", true)
	secrets.seed, secrets.create = secretJSON(authzObject), secretJSON(authzNewObject)
	configmaps := core("configmaps", true)
	configmaps.seed, configmaps.create = configMapJSON(authzObject), configMapJSON(authzNewObject)
	deployments := group("apps", "v1", "deployments", true)
	deployments.seed, deployments.create = deploymentJSON(authzObject), deploymentJSON(authzNewObject)
	clusterroles := group("rbac.authorization.k8s.io", "v1", "clusterroles", false)
	clusterroles.seed, clusterroles.create = clusterRoleJSON(authzObject), clusterRoleJSON(authzNewObject)
	gitrepos := group("gitops.cairn.dev", "v1", "gitrepositories", true)
	gitrepos.seed, gitrepos.create = gitRepoJSON(authzObject), gitRepoJSON(authzNewObject)
	nodeStatus := &authzResource{key: "nodes/status", resource: "nodes", subresource: "status",
		collection: "/api/v1/nodes", verbs: "get update patch"}
	podBinding := &authzResource{key: "pods/binding", resource: "pods", subresource: "binding", namespace: "default",
		collection: "/api/v1/namespaces/default/pods", verbs: "create",
		create: `{"apiVersion":"v1","kind":"Binding","metadata":{"name":"` + authzObject + `"},"target":{"kind":"Node","name":"` + authzNodeName + `"}}`}
	return []*authzResource{pods, nodes, secrets, configmaps, deployments, clusterroles, gitrepos, nodeStatus, podBinding}
}

// name of the object a resource's item requests address.
func (r *authzResource) objectName() string {
	if r.resource == "nodes" {
		return authzNodeName
	}
	return authzObject
}

// authzIdentity is one row of the matrix.
type authzIdentity struct {
	name string
	user string // the user name a 403 message names
	cfg  *rest.Config
	// allowed maps a matrix resource key to the verbs the bootstrap policy
	// grants on it (space separated); a missing key grants nothing.
	allowed map[string]string
	// unauthenticated: every request, /healthz included, fails with 401.
	unauthenticated bool
	// nonResource is the expected outcome of GET on each non-resource path.
	nonResource map[string]string
	// admission maps "verb resource" cells RBAC allows but an admission
	// plugin (NodeRestriction) refuses to a text its 403 must contain.
	admission map[string]string
}

func (id *authzIdentity) expect(res *authzResource, verb string) string {
	if !hasWord(res.verbs, verb) {
		return authzNA
	}
	if id.unauthenticated {
		return authzUnauthorized
	}
	if hasWord(id.allowed[res.key], verb) {
		return authzPass
	}
	return authzForbidden
}

func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if f == w || f == "*" {
			return true
		}
	}
	return false
}

// TestAuthzMatrix drives raw HTTP requests of every built-in identity
// against a sample of resources and verbs and checks each outcome against
// the bootstrap RBAC policy (apiserver/auth/bootstrap.go), plus the
// metav1.Status bodies of 401 and 403 responses. Writes use dryRun=All so
// every identity sees the same objects.
func TestAuthzMatrix(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(`tok-node,system:node:`+authzNodeName+`,uid-n1,"system:nodes"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startServer(t, dir, func(c *apiserver.Config) { c.TokenAuthFile = tokenFile })

	adminCfg := ts.restConfig("admin")
	anonCfg := rest.AnonymousClientConfig(adminCfg) // the CA, no credentials
	tokenCfg := func(token string) *rest.Config {
		c := rest.CopyConfig(anonCfg)
		c.BearerToken = token
		return c
	}
	all := map[string]string{}
	resources := authzResources()
	for _, r := range resources {
		all[r.key] = authzVerbsAll
	}
	public := map[string]string{"/healthz": authzPass, "/version": authzPass, "/api": authzForbidden, "/apis": authzForbidden}
	authenticated := map[string]string{"/healthz": authzPass, "/version": authzPass, "/api": authzPass, "/apis": authzPass}
	identities := []*authzIdentity{
		{name: "anonymous", user: "system:anonymous", cfg: anonCfg, nonResource: public},
		{name: "bad-token", cfg: tokenCfg("nope"), unauthenticated: true},
		{name: "viewer", user: "cairn:viewer", cfg: ts.restConfig("viewer"), nonResource: authenticated, allowed: map[string]string{
			"pods": authzVerbsRead, "nodes": authzVerbsRead, "configmaps": authzVerbsRead,
			"deployments.apps": authzVerbsRead, "clusterroles.rbac.authorization.k8s.io": authzVerbsRead,
			"gitrepositories.gitops.cairn.dev": authzVerbsRead, "nodes/status": "get",
		}},
		{name: "gitsync", user: "cairn:gitsync", cfg: ts.restConfig("gitsync"), nonResource: authenticated, allowed: map[string]string{
			"pods": authzVerbsAll, "nodes": "get list watch create update patch", "secrets": authzVerbsAll, "configmaps": authzVerbsAll,
			"deployments.apps": authzVerbsAll, "clusterroles.rbac.authorization.k8s.io": authzVerbsAll,
			"gitrepositories.gitops.cairn.dev": authzVerbsAll,
		}},
		{name: "node", user: "system:node:" + authzNodeName, cfg: tokenCfg("tok-node"), nonResource: authenticated, allowed: map[string]string{
			"pods": "get list watch create delete", "nodes": "get list watch create update patch",
			"nodes/status": "update patch", "secrets": authzVerbsRead, "configmaps": authzVerbsRead,
		}, admission: map[string]string{
			// NodeRestriction: a node writes only itself and pods bound to it.
			"create pods":  `node "n1" can only create mirror pods`,
			"delete pods":  `node "n1" can only delete pods with spec.nodeName set to itself`,
			"create nodes": `node "n1" is not allowed to modify node "authz-new"`,
		}},
		{name: "admin", user: "cairn:admin", cfg: adminCfg, nonResource: authenticated, allowed: all},
	}

	admin := newAuthzClient(t, adminCfg)
	ctx := ctxT(t)
	// Seed one object per resource, and keep what update requests send back.
	updateBodies := map[string][]byte{}
	for _, r := range resources {
		if r.seed == "" {
			continue
		}
		if code, body := admin.do(ctx, http.MethodPost, r.collection, "application/json", []byte(r.seed)); code != http.StatusCreated {
			t.Fatalf("seeding %s: got %d: %s", r.key, code, body)
		}
	}
	for _, r := range resources {
		if !hasWord(r.verbs, "update") {
			continue
		}
		path := r.collection + "/" + r.objectName()
		code, body := admin.do(ctx, http.MethodGet, path, "", nil)
		if code != http.StatusOK {
			t.Fatalf("reading the seeded %s: got %d: %s", r.key, code, body)
		}
		var obj map[string]any
		if err := json.Unmarshal(body, &obj); err != nil {
			t.Fatal(err)
		}
		md := obj["metadata"].(map[string]any)
		md["labels"] = map[string]any{"authz": "updated"}
		updateBodies[r.key], _ = json.Marshal(obj)
	}

	for _, id := range identities {
		t.Run(id.name, func(t *testing.T) {
			c := newAuthzClient(t, id.cfg)
			for _, path := range []string{"/healthz", "/version", "/api", "/apis"} {
				want := id.nonResource[path]
				if id.unauthenticated {
					want = authzUnauthorized
				}
				code, body := c.do(ctx, http.MethodGet, path, "", nil)
				got := authzClass(code)
				if got != want {
					t.Errorf("%s: GET %s: got %d (%s), want %s; body: %s", id.name, path, code, got, want, trimBody(body))
					continue
				}
				checkAuthzStatus(t, id, "GET "+path, code, body, func() string {
					return fmt.Sprintf("forbidden: User %q cannot get path %q", id.user, path)
				})
			}
			for _, r := range resources {
				for _, verb := range authzVerbs {
					want := id.expect(r, verb)
					if want == authzNA {
						continue
					}
					method, path, ctype, body := authzRequest(r, verb, updateBodies[r.key])
					code, respBody := c.do(ctx, method, path, ctype, body)
					got := authzClass(code)
					cell := fmt.Sprintf("%s %s %s (%s %s)", id.name, verb, r.key, method, path)
					if msg, ok := id.admission[verb+" "+r.key]; ok {
						var st metav1.Status
						_ = json.Unmarshal(respBody, &st)
						if code != http.StatusForbidden || st.Reason != metav1.StatusReasonForbidden || !strings.Contains(st.Message, msg) {
							t.Errorf("%s: got %d, want 403 from admission with %q; body: %s", cell, code, msg, trimBody(respBody))
						}
						continue
					}
					if got != want {
						t.Errorf("%s: got %d (%s), want %s; body: %s", cell, code, got, want, trimBody(respBody))
						continue
					}
					if got == authzPass && (code < 200 || code > 299) {
						t.Logf("%s: passed authorization with %d: %s", cell, code, trimBody(respBody))
					}
					checkAuthzStatus(t, id, cell, code, respBody, func() string {
						return forbiddenMessage(id.user, verb, r)
					})
				}
			}
		})
	}
}

// authzRequest builds the request of one verb on a matrix resource. Writes
// are dry runs; the watch is a collection watch (its response stops being
// read once the headers arrive).
func authzRequest(r *authzResource, verb string, updateBody []byte) (method, path, ctype string, body []byte) {
	item := r.itemPath()
	switch verb {
	case "get":
		return http.MethodGet, item, "", nil
	case "list":
		return http.MethodGet, r.collection, "", nil
	case "watch":
		return http.MethodGet, r.collection + "?watch=true", "", nil
	case "create":
		if r.subresource != "" { // pods/binding: POST to the subresource
			return http.MethodPost, item + "?dryRun=All", "application/json", []byte(r.create)
		}
		return http.MethodPost, r.collection + "?dryRun=All", "application/json", []byte(r.create)
	case "update":
		return http.MethodPut, item + "?dryRun=All", "application/json", updateBody
	case "patch":
		return http.MethodPatch, item + "?dryRun=All", "application/merge-patch+json", []byte(`{"metadata":{"labels":{"authz":"patched"}}}`)
	case "delete":
		return http.MethodDelete, item + "?dryRun=All", "", nil
	}
	panic("unknown verb " + verb)
}

// forbiddenMessage is kube-apiserver's 403 message for a denied resource
// request (k8s.io/apiserver responsewriters.ForbiddenStatusError): the
// qualified resource without the subresource, the object's name when the
// request addresses one, then the authorizer's text naming
// resource/subresource.
func forbiddenMessage(user, verb string, r *authzResource) string {
	gr := schema.GroupResource{Group: r.group, Resource: r.resource}.String()
	name := ""
	if verb != "list" && verb != "watch" && (verb != "create" || r.subresource != "") {
		name = r.objectName()
	}
	res := r.resource
	if r.subresource != "" {
		res += "/" + r.subresource
	}
	scope := "at the cluster scope"
	if r.namespace != "" {
		scope = fmt.Sprintf("in the namespace %q", r.namespace)
	}
	reason := fmt.Sprintf("User %q cannot %s resource %q in API group %q %s", user, verb, res, r.group, scope)
	if name == "" {
		return fmt.Sprintf("%s is forbidden: %s", gr, reason)
	}
	return fmt.Sprintf("%s %q is forbidden: %s", gr, name, reason)
}

// checkAuthzStatus checks the metav1.Status body of a 401 or 403.
func checkAuthzStatus(t *testing.T, id *authzIdentity, cell string, code int, body []byte, wantMessage func() string) {
	t.Helper()
	if code != http.StatusUnauthorized && code != http.StatusForbidden {
		return
	}
	var st metav1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Errorf("%s: %d body is not a metav1.Status: %v: %s", cell, code, err, trimBody(body))
		return
	}
	wantReason := metav1.StatusReasonUnauthorized
	if code == http.StatusForbidden {
		wantReason = metav1.StatusReasonForbidden
	}
	if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure || int(st.Code) != code || st.Reason != wantReason {
		t.Errorf("%s: %d body: got kind=%q apiVersion=%q status=%q code=%d reason=%q, want Status v1 Failure %d %s",
			cell, code, st.Kind, st.APIVersion, st.Status, st.Code, st.Reason, code, wantReason)
	}
	switch code {
	case http.StatusUnauthorized:
		if st.Message != "Unauthorized" {
			t.Errorf("%s: 401 message: got %q, want %q", cell, st.Message, "Unauthorized")
		}
	case http.StatusForbidden:
		if want := wantMessage(); st.Message != want {
			t.Errorf("%s: 403 message:\n got  %s\n want %s", cell, st.Message, want)
		}
		if !strings.Contains(st.Message, fmt.Sprintf("User %q", id.user)) {
			t.Errorf("%s: 403 message does not name the user %q: %s", cell, id.user, st.Message)
		}
	}
}

func authzClass(code int) string {
	switch {
	case code == http.StatusUnauthorized:
		return authzUnauthorized
	case code == http.StatusForbidden:
		return authzForbidden
	case code >= 200 && code <= 299, code == http.StatusNotFound, code == http.StatusConflict, code == http.StatusUnprocessableEntity:
		return authzPass
	}
	return fmt.Sprintf("unexpected %d", code)
}

func trimBody(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// authzClient issues raw HTTP requests with one identity's credentials.
type authzClient struct {
	t    *testing.T
	host string
	c    *http.Client
}

func newAuthzClient(t *testing.T, cfg *rest.Config) *authzClient {
	t.Helper()
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return &authzClient{t: t, host: strings.TrimSuffix(cfg.Host, "/"), c: c}
}

// do sends one request and returns the status code and body. A successful
// watch returns as soon as the response headers arrive, with no body.
func (a *authzClient) do(ctx context.Context, method, path, ctype string, body []byte) (int, []byte) {
	a.t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, a.host+path, bytes.NewReader(body))
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && strings.Contains(path, "watch=true") {
		return resp.StatusCode, nil
	}
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return resp.StatusCode, data
}

// TestAuthzResourceNames checks RBAC rules restricted by resourceNames as
// Kubernetes applies them: a get names the object in its path, and a list
// or watch names it with a metadata.name field selector (kube-apiserver's
// RequestInfo takes the name from the selector), so
// `kubectl get secret one --watch` works with a role granting only "one".
func TestAuthzResourceNames(t *testing.T) {
	ts := startServer(t, t.TempDir(), nil)
	ctx := ctxT(t)
	admin := newAuthzClient(t, ts.restConfig("admin"))
	for _, obj := range []struct{ path, body string }{
		{"/api/v1/namespaces/default/secrets", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"one"},"data":{"k":"dg=="}}`},
		{"/api/v1/namespaces/default/secrets", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"two"},"data":{"k":"dg=="}}`},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles", `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role",` +
			`"metadata":{"name":"read-one-secret"},"rules":[{"apiGroups":[""],"resources":["secrets"],"resourceNames":["one"],"verbs":["get","list","watch"]}]}`},
		{"/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", `{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding",` +
			`"metadata":{"name":"read-one-secret"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"read-one-secret"},` +
			`"subjects":[{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"cairn:viewer"}]}`},
	} {
		if code, body := admin.do(ctx, http.MethodPost, obj.path, "application/json", []byte(obj.body)); code != http.StatusCreated {
			t.Fatalf("POST %s: got %d: %s", obj.path, code, body)
		}
	}
	viewer := newAuthzClient(t, ts.restConfig("viewer"))
	eventually(t, 10*time.Second, "the viewer's role binding to take effect", func() bool {
		code, _ := viewer.do(ctx, http.MethodGet, "/api/v1/namespaces/default/secrets/one", "", nil)
		return code == http.StatusOK
	})

	const secrets = "/api/v1/namespaces/default/secrets"
	denied := func(verb, name string) string {
		reason := fmt.Sprintf(`User "cairn:viewer" cannot %s resource "secrets" in API group "" in the namespace "default"`, verb)
		if name == "" {
			return "secrets is forbidden: " + reason
		}
		return fmt.Sprintf("secrets %q is forbidden: %s", name, reason)
	}
	for _, tc := range []struct {
		name, path string
		wantCode   int
		wantMsg    string // of a 403
	}{
		{"get the granted secret", secrets + "/one", http.StatusOK, ""},
		{"get another secret", secrets + "/two", http.StatusForbidden, denied("get", "two")},
		{"list all secrets", secrets, http.StatusForbidden, denied("list", "")},
		{"list the granted secret by field selector", secrets + "?fieldSelector=metadata.name%3Done", http.StatusOK, ""},
		{"watch the granted secret by field selector", secrets + "?watch=true&fieldSelector=metadata.name%3Done", http.StatusOK, ""},
		{"list another secret by field selector", secrets + "?fieldSelector=metadata.name%3Dtwo", http.StatusForbidden, denied("list", "two")},
		{"watch another secret by field selector", secrets + "?watch=true&fieldSelector=metadata.name%3Dtwo", http.StatusForbidden, denied("watch", "two")},
	} {
		code, body := viewer.do(ctx, http.MethodGet, tc.path, "", nil)
		if code != tc.wantCode {
			t.Errorf("%s: GET %s as cairn:viewer: got %d, want %d; body: %s", tc.name, tc.path, code, tc.wantCode, trimBody(body))
			continue
		}
		if code != http.StatusForbidden {
			continue
		}
		var st metav1.Status
		if err := json.Unmarshal(body, &st); err != nil {
			t.Errorf("%s: 403 body is not a metav1.Status: %v: %s", tc.name, err, trimBody(body))
			continue
		}
		if st.Reason != metav1.StatusReasonForbidden || st.Message != tc.wantMsg {
			t.Errorf("%s: GET %s: 403 status:\n got  reason=%s message=%s\n want reason=Forbidden message=%s", tc.name, tc.path, st.Reason, st.Message, tc.wantMsg)
		}
	}
}
