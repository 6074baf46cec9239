package view

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// DescribeObject renders any object, as kubectl's generic describer
// does: name, namespace, labels and annotations, then every other field
// of the object as an indented "Key: value" outline.
func DescribeObject(obj map[string]any, events []corev1.Event, now time.Time) string {
	d := newDescriber()
	meta, _ := obj["metadata"].(map[string]any)
	d.line(0, "Name:\t%s\n", str(meta["name"]))
	if ns := str(meta["namespace"]); ns != "" {
		d.line(0, "Namespace:\t%s\n", ns)
	}
	d.labels(0, "Labels", stringMapOf(meta["labels"]))
	d.stringMap("Annotations", stringMapOf(meta["annotations"]), ": ")
	d.line(0, "API Version:\t%s\n", str(obj["apiVersion"]))
	d.line(0, "Kind:\t%s\n", str(obj["kind"]))
	rest := map[string]any{}
	for k, v := range obj {
		if k != "apiVersion" && k != "kind" {
			rest[k] = v
		}
	}
	if m, ok := rest["metadata"].(map[string]any); ok {
		trimmed := map[string]any{}
		for k, v := range m {
			switch k {
			case "name", "namespace", "labels", "annotations", "managedFields":
			default:
				trimmed[k] = v
			}
		}
		rest["metadata"] = trimmed
	}
	d.outline(0, rest)
	d.events(events, now)
	return d.String()
}

func (d *describer) outline(level int, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		title := fieldTitle(k)
		switch v := m[k].(type) {
		case map[string]any:
			if len(v) == 0 {
				continue
			}
			d.line(level, "%s:\n", title)
			d.outline(level+1, v)
		case []any:
			if len(v) == 0 {
				continue
			}
			d.line(level, "%s:\n", title)
			for _, item := range v {
				if im, ok := item.(map[string]any); ok {
					d.outline(level+1, im)
				} else {
					d.line(level+1, "%s\n", scalar(item))
				}
			}
		default:
			d.line(level, "%s:\t%s\n", title, scalar(v))
		}
	}
}

// fieldTitle turns a field name into describe's title case:
// "creationTimestamp" becomes "Creation Timestamp".
func fieldTitle(k string) string {
	var b strings.Builder
	for i, r := range k {
		if i == 0 {
			b.WriteString(strings.ToUpper(string(r)))
			continue
		}
		if r >= 'A' && r <= 'Z' && !(i > 0 && k[i-1] >= 'A' && k[i-1] <= 'Z') {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}

func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	default:
		return fmt.Sprint(x)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func stringMapOf(v any) map[string]string {
	m, _ := v.(map[string]any)
	out := make(map[string]string, len(m))
	for k, val := range m {
		out[k] = scalar(val)
	}
	return out
}

func equalJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	return string(ja) == string(jb)
}
