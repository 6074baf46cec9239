package gitsync_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/cairn-dev/cairn/apiserver/apiservertest"
)

// TestResyncCostsNoWrites: 10,000 objects applied once; a resync of the
// same revision, and one of a new revision that changes one object, make
// no write to any other object, and the resync no status write.
func TestResyncCostsNoWrites(t *testing.T) {
	const n = 10000
	e := start(t)
	r := newRepo(t)
	files := map[string]string{}
	for f := 0; f < 100; f++ {
		var b strings.Builder
		for i := 0; i < n/100; i++ {
			fmt.Fprintf(&b, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-%03d-%03d\ndata:\n  index: \"%d\"\n", f, i, i)
		}
		files[fmt.Sprintf("cms/%03d.yaml", f)] = b.String()
	}
	h1 := r.commit("10,000 config maps", files)
	start := time.Now()
	e.createSource("many", r.dir)
	st := e.synced("many", h1)
	if st.Status.LastAppliedRevision != h1 {
		t.Fatalf("not applied: %+v", st.Status.Conditions)
	}
	t.Logf("first apply of %d objects: %s", n, time.Since(start).Round(time.Millisecond))

	list, err := e.admin.CoreV1().ConfigMaps("default").List(e.ctx, metav1.ListOptions{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	w, err := e.admin.CoreV1().ConfigMaps("default").Watch(e.ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	srcBefore := e.source("many").ResourceVersion

	// A resync of the same revision.
	resync := time.Now()
	e.c.Trigger("default", "many")
	apiservertest.Eventually(t, 60*time.Second, "a resync", func() bool {
		return e.c.Syncs("default", "many") >= 2
	})
	t.Logf("resync of %d unchanged objects: %s", n, time.Since(resync).Round(time.Millisecond))
	if rv := e.source("many").ResourceVersion; rv != srcBefore {
		t.Errorf("the resync rewrote the GitRepository (resourceVersion %s → %s)", srcBefore, rv)
	}

	// A new revision changing one object writes that object only.
	files["cms/042.yaml"] = strings.Replace(files["cms/042.yaml"], "index: \"7\"", "index: \"seven\"", 1)
	h2 := r.commit("one change", map[string]string{"cms/042.yaml": files["cms/042.yaml"]})
	changed := time.Now()
	e.synced("many", h2)
	t.Logf("revision changing 1 of %d objects applied in %s", n, time.Since(changed).Round(time.Millisecond))

	var events []string
	timeout := time.After(2 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Bookmark {
				continue
			}
			m, _ := ev.Object.(metav1.Object)
			events = append(events, fmt.Sprintf("%s %s", ev.Type, m.GetName()))
		case <-timeout:
			done = true
		}
	}
	if len(events) != 1 || events[0] != "MODIFIED cm-042-007" {
		t.Fatalf("writes after the first apply: %v (want only MODIFIED cm-042-007)", events)
	}
}
