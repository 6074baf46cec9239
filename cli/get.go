package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/cairn-dev/cairn/view"
)

// tableAccept asks for the server's meta.k8s.io Table, as kubectl does,
// with plain JSON as the fallback a server without tables would answer.
const tableAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"

// readClients are the clients the read-only commands share: typed,
// dynamic and raw REST, and a REST mapper that knows the server's short
// names.
type readClients struct {
	server string
	cs     kubernetes.Interface
	rest   rest.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func (f *viewerFlags) clients() (*readClients, error) {
	cfg, err := f.restConfig()
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	dc := memory.NewMemCacheClient(cs.Discovery())
	mapper := restmapper.NewShortcutExpander(restmapper.NewDeferredDiscoveryRESTMapper(dc), dc, func(string) {})
	return &readClients{server: cfg.Host, cs: cs, rest: cs.CoreV1().RESTClient(), dyn: dyn, mapper: mapper}, nil
}

// kindRef is one resolved kind of a command line: where to read it and
// how to name it.
type kindRef struct {
	gvr        schema.GroupVersionResource
	gvk        schema.GroupVersionKind
	namespaced bool
}

// prefix is how kubectl names objects of mixed kinds: "pod",
// "deployment.apps".
func (k kindRef) prefix() string {
	return strings.ToLower(k.gvk.GroupKind().String())
}

func (k kindRef) path(namespace, name string) string {
	p := "/apis/" + k.gvr.Group + "/" + k.gvr.Version
	if k.gvr.Group == "" {
		p = "/api/" + k.gvr.Version
	}
	if k.namespaced && namespace != "" {
		p += "/namespaces/" + namespace
	}
	p += "/" + k.gvr.Resource
	if name != "" {
		p += "/" + name
	}
	return p
}

func (k kindRef) resource(dyn dynamic.Interface, namespace string) dynamic.ResourceInterface {
	if k.namespaced {
		return dyn.Resource(k.gvr).Namespace(namespace)
	}
	return dyn.Resource(k.gvr)
}

// resolve finds a kind by plural, singular, kind or short name, with an
// optional group ("deployments.apps").
func (c *readClients) resolve(arg string) (kindRef, error) {
	var gvr schema.GroupVersionResource
	var err error
	full, gr := schema.ParseResourceArg(strings.ToLower(arg))
	if full != nil {
		if gvr, err = c.mapper.ResourceFor(*full); err != nil {
			full = nil
		}
	}
	if full == nil {
		gvr, err = c.mapper.ResourceFor(gr.WithVersion(""))
	}
	if err != nil {
		if meta.IsNoMatchError(err) {
			return kindRef{}, fmt.Errorf("the server doesn't have a resource type %q", arg)
		}
		return kindRef{}, explain(err, c.server)
	}
	gvk, err := c.mapper.KindFor(gvr)
	if err != nil {
		return kindRef{}, explain(err, c.server)
	}
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return kindRef{}, explain(err, c.server)
	}
	return kindRef{gvr: gvr, gvk: gvk, namespaced: m.Scope.Name() == meta.RESTScopeNameNamespace}, nil
}

// getOptions are `cairn get`'s flags.
type getOptions struct {
	viewer        viewerFlags
	namespace     string
	allNamespaces bool
	selector      string
	fieldSelector string
	output        string
	watch         bool
	noHeaders     bool
}

func (o *getOptions) bind(cmd *cobra.Command) {
	fs := cmd.Flags()
	o.viewer.bind(fs)
	fs.StringVarP(&o.namespace, "namespace", "n", "", "namespace (default \"default\")")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list across every namespace")
	fs.StringVarP(&o.selector, "selector", "l", "", "label selector, e.g. app=web,tier!=db")
	fs.StringVar(&o.fieldSelector, "field-selector", "", "field selector, e.g. spec.nodeName=node-1")
	fs.StringVarP(&o.output, "output", "o", "", "wide, yaml, json, name or jsonpath=TEMPLATE")
	fs.BoolVarP(&o.watch, "watch", "w", false, "after listing, stream changes")
	fs.BoolVar(&o.noHeaders, "no-headers", false, "leave the header line out")
}

func (o *getOptions) ns() string {
	switch {
	case o.allNamespaces:
		return ""
	case o.namespace != "":
		return o.namespace
	}
	return "default"
}

func newGetCmd() *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:   "get KIND[,KIND...] [NAME...]",
		Short: "List objects (read-only), as kubectl get",
		Long: "get lists objects of one or more kinds (plural, singular, kind or short name: po, no, deploy, svc, ...)\n" +
			"in the server's table columns, or as yaml, json, names or a jsonpath template.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), args[0], args[1:])
		},
	}
	o.bind(cmd)
	return cmd
}

func newComponentStatusesCmd() *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		Use:     "componentstatuses",
		Aliases: []string{"cs"},
		Short:   "Show the health of etcd, the controller manager and the scheduler (get componentstatuses)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr(), "componentstatuses", nil)
		},
	}
	o.bind(cmd)
	return cmd
}

// userError is a failure of the command line or the request: exit 1,
// as kubectl.
func userError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: 1, err: err}
}

func (o *getOptions) run(ctx context.Context, stdout, stderr io.Writer, kindsArg string, names []string) error {
	format, template, err := parseOutput(o.output)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	c, err := o.viewer.clients()
	if err != nil {
		return userError(err)
	}
	var kinds []kindRef
	for _, k := range strings.Split(kindsArg, ",") {
		if k == "" {
			continue
		}
		ref, err := c.resolve(k)
		if err != nil {
			return userError(err)
		}
		kinds = append(kinds, ref)
	}
	if len(kinds) == 0 {
		return &exitError{code: 2, err: errors.New("name a kind, e.g. pods")}
	}
	if len(names) > 0 && len(kinds) > 1 {
		return &exitError{code: 2, err: errors.New("names can only be given with a single kind")}
	}
	if o.watch && len(kinds) > 1 {
		return &exitError{code: 2, err: errors.New("--watch takes a single kind")}
	}
	color := isTerminal(stdout)
	switch format {
	case "", "wide":
		err = o.printTables(ctx, c, stdout, stderr, kinds, names, format == "wide", color)
	default:
		err = o.printObjects(ctx, c, stdout, stderr, kinds, names, format, template)
	}
	return userError(explain(err, c.server))
}

// parseOutput splits -o into a format and, for jsonpath, its template.
func parseOutput(o string) (format, template string, err error) {
	switch {
	case o == "", o == "wide", o == "yaml", o == "json", o == "name":
		return o, "", nil
	case strings.HasPrefix(o, "jsonpath="):
		return "jsonpath", strings.TrimPrefix(o, "jsonpath="), nil
	}
	return "", "", fmt.Errorf("-o %s: want wide, yaml, json, name or jsonpath=TEMPLATE", o)
}

func (o *getOptions) listOptions() metav1.ListOptions {
	return metav1.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector}
}

// fetchTable reads one object or a list as a server Table. The rows carry
// object metadata only when the NAMESPACE column needs it.
func (o *getOptions) fetchTable(ctx context.Context, c *readClients, k kindRef, name string) (*metav1.Table, error) {
	req := c.rest.Get().AbsPath(k.path(o.ns(), name)).SetHeader("Accept", tableAccept).
		Param("includeObject", string(o.includeObject(k)))
	if name == "" {
		if o.selector != "" {
			req = req.Param("labelSelector", o.selector)
		}
		if o.fieldSelector != "" {
			req = req.Param("fieldSelector", o.fieldSelector)
		}
	}
	body, err := req.Do(ctx).Raw()
	if apierrors.IsNotFound(err) && name != "" {
		// Say which object is missing, as kubectl does, whatever detail
		// the error body carried.
		return nil, apierrors.NewNotFound(k.gvr.GroupResource(), name)
	}
	if err != nil {
		return nil, err
	}
	return decodeTable(body)
}

func (o *getOptions) includeObject(k kindRef) metav1.IncludeObjectPolicy {
	if o.allNamespaces && k.namespaced {
		return metav1.IncludeMetadata
	}
	return metav1.IncludeNone
}

func decodeTable(body []byte) (*metav1.Table, error) {
	var t metav1.Table
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("decoding the server's table: %w", err)
	}
	if t.Kind != "Table" {
		return nil, fmt.Errorf("the server answered %q where a meta.k8s.io Table was asked for", t.Kind)
	}
	return &t, nil
}

func (o *getOptions) printTables(ctx context.Context, c *readClients, stdout, stderr io.Writer, kinds []kindRef, names []string, wide, color bool) error {
	printed := false
	var last *metav1.Table
	for _, k := range kinds {
		var table *metav1.Table
		if len(names) == 0 {
			t, err := o.fetchTable(ctx, c, k, "")
			if err != nil {
				return err
			}
			table = t
		} else {
			for _, n := range names {
				t, err := o.fetchTable(ctx, c, k, n)
				if err != nil {
					return err
				}
				if table == nil {
					table = t
				} else {
					table.Rows = append(table.Rows, t.Rows...)
				}
			}
		}
		last = table
		if len(table.Rows) == 0 {
			continue
		}
		if printed {
			fmt.Fprintln(stdout)
		}
		opts := view.TableOptions{Wide: wide, NoHeaders: o.noHeaders, Color: color,
			WithNamespace: o.allNamespaces && k.namespaced}
		if len(kinds) > 1 {
			opts.NamePrefix = k.prefix()
		}
		if err := view.WriteTable(stdout, table, opts); err != nil {
			return err
		}
		printed = true
	}
	if !printed && !o.watch {
		noneFound(stderr, o, kinds)
	}
	if !o.watch {
		return nil
	}
	return o.watchTable(ctx, c, stdout, kinds[0], names, last, wide, color, !printed)
}

// noneFound says so on stderr, in kubectl's words, so that scripts
// reading stdout see nothing.
func noneFound(stderr io.Writer, o *getOptions, kinds []kindRef) {
	namespaced := false
	for _, k := range kinds {
		namespaced = namespaced || k.namespaced
	}
	if namespaced && !o.allNamespaces {
		fmt.Fprintf(stderr, "No resources found in %s namespace.\n", o.ns())
		return
	}
	fmt.Fprintln(stderr, "No resources found")
}

// watchTable streams the rows of changed objects after the listing, each
// event's rows aligned on their own, as kubectl get -w.
func (o *getOptions) watchTable(ctx context.Context, c *readClients, stdout io.Writer, k kindRef, names []string, listed *metav1.Table, wide, color, needHeader bool) error {
	req := c.rest.Get().AbsPath(k.path(o.ns(), "")).SetHeader("Accept", tableAccept).
		Param("watch", "true").Param("includeObject", string(o.includeObject(k)))
	if listed != nil && listed.ResourceVersion != "" {
		req = req.Param("resourceVersion", listed.ResourceVersion)
	}
	if o.selector != "" {
		req = req.Param("labelSelector", o.selector)
	}
	fieldSel := o.fieldSelector
	if len(names) == 1 {
		fieldSel = strings.Trim(fieldSel+",metadata.name="+names[0], ",")
	}
	if fieldSel != "" {
		req = req.Param("fieldSelector", fieldSel)
	}
	stream, err := req.Stream(ctx)
	if err != nil {
		return err
	}
	defer stream.Close()
	var columns []metav1.TableColumnDefinition
	if listed != nil {
		columns = listed.ColumnDefinitions
	}
	dec := json.NewDecoder(stream)
	for {
		var ev struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&ev); err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		switch ev.Type {
		case "BOOKMARK":
			continue
		case "ERROR":
			var st metav1.Status
			_ = json.Unmarshal(ev.Object, &st)
			return fmt.Errorf("watch: %s", st.Message)
		}
		t, err := decodeTable(ev.Object)
		if err != nil {
			return err
		}
		if len(t.ColumnDefinitions) == 0 {
			t.ColumnDefinitions = columns
		}
		opts := view.TableOptions{Wide: wide, NoHeaders: !needHeader || o.noHeaders, Color: color,
			WithNamespace: o.allNamespaces && k.namespaced}
		if err := view.WriteTable(stdout, t, opts); err != nil {
			return err
		}
		needHeader = false
	}
}

// printObjects prints full objects (yaml, json, name, jsonpath), read
// with the dynamic client so every kind prints the same way.
func (o *getOptions) printObjects(ctx context.Context, c *readClients, stdout, stderr io.Writer, kinds []kindRef, names []string, format, template string) error {
	var items []unstructured.Unstructured
	for _, k := range kinds {
		res := k.resource(c.dyn, o.ns())
		if len(names) > 0 {
			for _, n := range names {
				obj, err := res.Get(ctx, n, metav1.GetOptions{})
				if err != nil {
					return err
				}
				items = append(items, *obj)
			}
			continue
		}
		list, err := res.List(ctx, o.listOptions())
		if err != nil {
			return err
		}
		for _, it := range list.Items {
			it.SetAPIVersion(k.gvk.GroupVersion().String())
			it.SetKind(k.gvk.Kind)
			items = append(items, it)
		}
	}
	var doc map[string]any
	if len(names) == 1 && len(items) == 1 {
		doc = items[0].Object
	} else {
		list := make([]any, len(items))
		for i := range items {
			list[i] = items[i].Object
		}
		doc = map[string]any{"apiVersion": "v1", "kind": "List", "items": list, "metadata": map[string]any{"resourceVersion": ""}}
	}
	if len(items) == 0 && format != "json" && format != "yaml" {
		noneFound(stderr, o, kinds)
	}
	if err := printDoc(stdout, doc, items, kinds, format, template); err != nil {
		return err
	}
	if !o.watch {
		return nil
	}
	rv := ""
	if len(names) == 0 {
		// A fresh list's version: changes after it are what the watch shows.
		list, err := kinds[0].resource(c.dyn, o.ns()).List(ctx, metav1.ListOptions{LabelSelector: o.selector, FieldSelector: o.fieldSelector, Limit: 1})
		if err != nil {
			return err
		}
		rv = list.GetResourceVersion()
	}
	opts := o.listOptions()
	opts.ResourceVersion = rv
	if len(names) == 1 {
		opts.FieldSelector = strings.Trim(opts.FieldSelector+",metadata.name="+names[0], ",")
	}
	w, err := kinds[0].resource(c.dyn, o.ns()).Watch(ctx, opts)
	if err != nil {
		return err
	}
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil
			}
			obj, isObj := ev.Object.(*unstructured.Unstructured)
			if !isObj {
				continue
			}
			if format == "yaml" {
				fmt.Fprintln(stdout, "---")
			}
			if err := printDoc(stdout, obj.Object, []unstructured.Unstructured{*obj}, kinds[:1], format, template); err != nil {
				return err
			}
		}
	}
}

func printDoc(w io.Writer, doc map[string]any, items []unstructured.Unstructured, kinds []kindRef, format, template string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(doc, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case "yaml":
		b, err := yaml.Marshal(doc)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	case "name":
		for _, it := range items {
			gk := it.GroupVersionKind().GroupKind()
			if gk.Kind == "" && len(kinds) == 1 {
				gk = kinds[0].gvk.GroupKind()
			}
			fmt.Fprintf(w, "%s/%s\n", strings.ToLower(gk.String()), it.GetName())
		}
		return nil
	case "jsonpath":
		jp := jsonpath.New("out")
		if err := jp.Parse(relaxedJSONPath(template)); err != nil {
			return fmt.Errorf("-o jsonpath: %w", err)
		}
		return jp.Execute(w, doc)
	}
	return fmt.Errorf("unknown output %q", format)
}

// relaxedJSONPath accepts templates without the braces, ".items[*]" for
// "{.items[*]}", as kubectl does.
func relaxedJSONPath(t string) string {
	if strings.Contains(t, "{") {
		return t
	}
	if !strings.HasPrefix(t, ".") && !strings.HasPrefix(t, "$") {
		t = "." + t
	}
	return "{" + t + "}"
}

// isTerminal says whether output goes to a terminal, where colour helps;
// piped output stays plain.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
