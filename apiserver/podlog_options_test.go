package apiserver

import (
	"net/url"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParsePodLogOptions(t *testing.T) {
	for _, tc := range []struct {
		query     string
		container string
		pass      string
		code      int32
		msg       string
	}{
		{query: "", pass: ""},
		{query: "container=app&follow=true&previous=1&tailLines=10&limitBytes=5", container: "app", pass: "follow=true&limitBytes=5&previous=true&tailLines=10"},
		{query: "follow=false&timestamps=true&sinceSeconds=3", pass: "sinceSeconds=3&timestamps=true"},
		{query: "sinceTime=2026-01-02T03:04:05Z", pass: "sinceTime=2026-01-02T03%3A04%3A05Z"},
		{query: "tailLines=0", pass: "tailLines=0"},
		{query: "follow=yes", code: 400, msg: `follow: invalid value "yes": want true or false`},
		{query: "tailLines=x", code: 400, msg: `tailLines: invalid value "x": want an integer`},
		{query: "sinceTime=yesterday", code: 400, msg: `sinceTime: invalid value "yesterday"`},
		{query: "tailLines=-1", code: 422, msg: `PodLogOptions "p" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		{query: "limitBytes=0", code: 422, msg: `limitBytes: Invalid value: 0: must be greater than 0`},
		{query: "sinceSeconds=0", code: 422, msg: `sinceSeconds: Invalid value: 0: must be greater than 0`},
		{query: "sinceSeconds=5&sinceTime=2026-01-02T03:04:05Z", code: 422, msg: "at most one of `sinceTime` or `sinceSeconds` may be specified"},
	} {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			container, pass, err := parsePodLogOptions("p", q)
			if tc.code != 0 {
				var status apierrors.APIStatus
				if !asStatus(err, &status) || status.Status().Code != tc.code || !strings.Contains(status.Status().Message, tc.msg) {
					t.Fatalf("got %v, want %d %q", err, tc.code, tc.msg)
				}
				return
			}
			if err != nil || container != tc.container || pass.Encode() != tc.pass {
				t.Fatalf("got %q %q %v, want %q %q", container, pass.Encode(), err, tc.container, tc.pass)
			}
		})
	}
}

func asStatus(err error, status *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	if ok {
		*status = s
	}
	return ok
}

func TestLogContainer(t *testing.T) {
	pod := func(init []string, containers ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}
		for _, c := range init {
			p.Spec.InitContainers = append(p.Spec.InitContainers, corev1.Container{Name: c})
		}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c})
		}
		return p
	}
	for _, tc := range []struct {
		name, want string
		pod        *corev1.Pod
		asked      string
		msg        string
	}{
		{name: "the only container", pod: pod(nil, "app"), want: "app"},
		{name: "the only container besides init containers", pod: pod([]string{"setup"}, "app"), want: "app"},
		{name: "named", pod: pod(nil, "a", "b"), asked: "b", want: "b"},
		{name: "an init container", pod: pod([]string{"setup"}, "a", "b"), asked: "setup", want: "setup"},
		{name: "ambiguous", pod: pod(nil, "a", "b"), msg: "a container name must be specified for pod p, choose one of: [a b]"},
		{name: "ambiguous with init containers", pod: pod([]string{"setup"}, "a", "b"), msg: "a container name must be specified for pod p, choose one of: [setup a b]"},
		{name: "unknown", pod: pod(nil, "a", "b"), asked: "c", msg: "container c is not valid for pod p"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := logContainer(tc.pod, tc.asked)
			if tc.msg != "" {
				if !apierrors.IsBadRequest(err) || err.Error() != tc.msg {
					t.Fatalf("got %v, want BadRequest %q", err, tc.msg)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// FuzzParsePodLogOptions: any query either fails with an API error or
// passes on only the kubelet's parameters, each a valid value.
func FuzzParsePodLogOptions(f *testing.F) {
	f.Add("container=app&follow=true&tailLines=3")
	f.Add("sinceSeconds=5&sinceTime=2026-01-02T03:04:05Z")
	f.Add("limitBytes=-1&timestamps=1")
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		_, pass, err := parsePodLogOptions("p", q)
		if err != nil {
			var status apierrors.APIStatus
			if !asStatus(err, &status) {
				t.Fatalf("not an API error: %v", err)
			}
			return
		}
		for k, v := range pass {
			if len(v) != 1 {
				t.Fatalf("%s passed %d times", k, len(v))
			}
			switch k {
			case "follow", "previous", "timestamps":
				if v[0] != "true" {
					t.Fatalf("%s=%s", k, v[0])
				}
			case "sinceSeconds", "tailLines", "limitBytes", "sinceTime":
			default:
				t.Fatalf("passed unknown parameter %s", k)
			}
		}
	})
}
