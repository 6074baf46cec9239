package gitsync

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestContains(t *testing.T) {
	for _, tc := range []struct {
		name          string
		live, desired string
		want          bool
	}{
		{"equal", `{"a":1}`, `{"a":1}`, true},
		{"live has defaults", `{"a":1,"b":{"c":2}}`, `{"a":1}`, true},
		{"changed value", `{"a":2}`, `{"a":1}`, false},
		{"missing field", `{"b":1}`, `{"a":1}`, false},
		{"empty map in git", `{"b":1}`, `{"a":{}}`, true},
		{"list element with defaults", `{"c":[{"name":"x","image":"i","pull":"Always"}]}`, `{"c":[{"name":"x","image":"i"}]}`, true},
		{"list longer in live", `{"c":[{"name":"x"},{"name":"y"}]}`, `{"c":[{"name":"x"}]}`, false},
		{"list element changed", `{"c":[{"name":"x","image":"j"}]}`, `{"c":[{"name":"x","image":"i"}]}`, false},
		{"cpu quantity", `{"cpu":"500m"}`, `{"cpu":"0.5"}`, true},
		{"cpu number", `{"cpu":"500m"}`, `{"cpu":0.5}`, true},
		{"memory quantity", `{"m":"1Gi"}`, `{"m":"1073741824"}`, true},
		{"different quantity", `{"cpu":"600m"}`, `{"cpu":"0.5"}`, false},
		{"numbers", `{"n":1.0}`, `{"n":1}`, true},
		{"string is not number", `{"port":"80"}`, `{"port":80}`, true},
		{"bool", `{"b":false}`, `{"b":true}`, false},
		{"null in git", `{}`, `{"a":null}`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := contains(decode(t, tc.live), decode(t, tc.desired)); got != tc.want {
				t.Errorf("contains(%s, %s) = %v, want %v", tc.live, tc.desired, got, tc.want)
			}
		})
	}
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	d := json.NewDecoder(stringsReader(s))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }
