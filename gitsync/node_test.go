package gitsync

import (
	"encoding/json"
	"testing"
)

func TestMergeTaints(t *testing.T) {
	tt := func(s string) []any {
		var v []any
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name                string
		live, last, desired string
		want                string
	}{
		{"adds git's taint, keeps the controller's",
			`[{"key":"node.kubernetes.io/not-ready","effect":"NoExecute","timeAdded":"2026-01-01T00:00:00Z"}]`, `[]`,
			`[{"key":"dedicated","value":"db","effect":"NoSchedule"}]`,
			`[{"effect":"NoExecute","key":"node.kubernetes.io/not-ready","timeAdded":"2026-01-01T00:00:00Z"},{"effect":"NoSchedule","key":"dedicated","value":"db"}]`},
		{"removes what git dropped, only that",
			`[{"key":"dedicated","value":"db","effect":"NoSchedule"},{"key":"node.kubernetes.io/unreachable","effect":"NoSchedule"}]`,
			`[{"key":"dedicated","value":"db","effect":"NoSchedule"}]`, `[]`,
			`[{"effect":"NoSchedule","key":"node.kubernetes.io/unreachable"}]`},
		{"changes a value in place",
			`[{"key":"dedicated","value":"db","effect":"NoSchedule"}]`, `[{"key":"dedicated","value":"db","effect":"NoSchedule"}]`,
			`[{"key":"dedicated","value":"web","effect":"NoSchedule"}]`,
			`[{"effect":"NoSchedule","key":"dedicated","value":"web"}]`},
		{"same key, other effect is another taint",
			`[{"key":"k","effect":"NoExecute"}]`, `[]`, `[{"key":"k","effect":"NoSchedule"}]`,
			`[{"effect":"NoExecute","key":"k"},{"effect":"NoSchedule","key":"k"}]`},
		{"a taint git declares that someone else also set is git's now",
			`[{"key":"k","effect":"NoSchedule","timeAdded":"2026-01-01T00:00:00Z"}]`, `[]`, `[{"key":"k","effect":"NoSchedule"}]`,
			`[{"effect":"NoSchedule","key":"k","timeAdded":"2026-01-01T00:00:00Z"}]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := json.Marshal(mergeTaints(tt(tc.live), tt(tc.last), tt(tc.desired)))
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
