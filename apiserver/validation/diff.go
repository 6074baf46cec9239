package validation

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// specDiff describes how two values of the same struct type differ, field by
// top-level JSON field, for the "may not change" messages (kube-apiserver
// appends a go-cmp diff there).
func specDiff(oldObj, newObj any) string {
	oldFields, newFields := jsonFields(oldObj), jsonFields(newObj)
	keys := make([]string, 0, len(oldFields)+len(newFields))
	for k := range oldFields {
		keys = append(keys, k)
	}
	for k := range newFields {
		if _, ok := oldFields[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		o, inOld := oldFields[k]
		n, inNew := newFields[k]
		if inOld && inNew && reflect.DeepEqual(o, n) {
			continue
		}
		if inOld {
			fmt.Fprintf(&b, "-\t%s: %s\n", k, compact(o))
		}
		if inNew {
			fmt.Fprintf(&b, "+\t%s: %s\n", k, compact(n))
		}
	}
	return b.String()
}

func jsonFields(v any) map[string]any {
	var m map[string]any
	if b, err := json.Marshal(v); err == nil {
		_ = json.Unmarshal(b, &m)
	}
	return m
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
