package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
)

// TestEventsGolden: `cairn events` lists events oldest first in kubectl
// events' columns, per namespace or across all, filtered by object and
// type. Ages are measured from the seeding time, so they are exact.
func TestEventsGolden(t *testing.T) {
	rc := startReadCluster(t)
	now := func() time.Time { return rc.base }
	cases := []struct {
		golden string
		args   []string
	}{
		{"events-default.txt", []string{}},
		{"events-all.txt", []string{"-A"}},
		{"events-for-pod.txt", []string{"--for", "pod/web-7d4b9c-abc12"}},
		{"events-for-node.txt", []string{"--for", "no/node-3"}},
		{"events-warnings.txt", []string{"-A", "--types", "Warning"}},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			out, errOut, code := runRead(t, newEventsCmdAt(now), append([]string{"events", "--kubeconfig", rc.viewer}, tc.args...)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			checkGolden(t, filepath.Join("get", tc.golden), out)
		})
	}
	out, errOut, code := runRead(t, newEventsCmdAt(now), "events", "--kubeconfig", rc.viewer, "-n", "kube-public")
	if code != 0 || out != "" || errOut != "No events found in kube-public namespace.\n" {
		t.Fatalf("empty: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, _, code := runRead(t, newEventsCmdAt(now), "events", "--kubeconfig", rc.viewer, "--types", "Loud"); code != 2 {
		t.Fatalf("--types Loud: exit %d, want 2", code)
	}
}

// TestEventsWatch: --watch prints new events as they are recorded, with
// the header once.
func TestEventsWatch(t *testing.T) {
	s := apiservertest.Start(t, "", nil)
	base := time.Now().UTC().Truncate(time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	root := &cobra.Command{Use: "cairn", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newEventsCmdAt(func() time.Time { return base.Add(time.Minute) }))
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs([]string{"events", "--kubeconfig", s.Kubeconfig("viewer"), "--watch", "--types", "Warning"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	apiservertest.Eventually(t, 20*time.Second, "the empty listing", func() bool { return strings.Contains(out.String(), "No events found") })
	admin := s.Client("admin")
	for _, e := range []struct{ name, typ, reason string }{{"a", corev1.EventTypeNormal, "Quiet"}, {"b", corev1.EventTypeWarning, "Loud"}} {
		if _, err := admin.CoreV1().Events("default").Create(ctx, &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{Name: e.name}, Type: e.typ, Reason: e.reason, Message: "m",
			InvolvedObject: corev1.ObjectReference{Kind: "Node", Name: "n1"}, LastTimestamp: metav1.NewTime(base),
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	apiservertest.Eventually(t, 20*time.Second, "the warning", func() bool { return strings.Contains(out.String(), "Loud") })
	cancel()
	<-done
	want := "No events found in default namespace.\nLAST SEEN   TYPE      REASON   OBJECT    MESSAGE\n60s         Warning   Loud     Node/n1   m\n"
	if got := out.String(); got != want || strings.Contains(got, "Quiet") {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}
