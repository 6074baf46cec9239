package logserver

import (
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzParseLogRequest: any query is either refused or read into options
// within their ranges.
func FuzzParseLogRequest(f *testing.F) {
	f.Add("follow=true&tailLines=3&limitBytes=10")
	f.Add("previous=1&timestamps=false")
	f.Add("sinceSeconds=5")
	f.Fuzz(func(t *testing.T, query string) {
		if _, err := url.ParseQuery(query); err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/containerLogs/ns/pod/c?"+url.PathEscape(query), nil)
		r.URL.RawQuery = query
		r.SetPathValue("namespace", "ns")
		r.SetPathValue("pod", "pod")
		r.SetPathValue("container", "c")
		req, err := parseLogRequest(r)
		if err != nil {
			return
		}
		if req.opts.TailLines < -1 || req.opts.LimitBytes < 0 || req.namespace != "ns" || req.pod != "pod" || req.container != "c" {
			t.Fatalf("%q: %+v", query, req)
		}
		q := r.URL.Query()
		if q.Has("sinceSeconds") || q.Has("sinceTime") {
			t.Fatalf("%q: a since parameter was accepted", query)
		}
	})
}
