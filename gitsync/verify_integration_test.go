package gitsync_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	gitopsv1 "github.com/cairn-dev/cairn/apis/gitops/v1"
)

// commitSigned commits files signed with key (nil: unsigned).
func (r *repo) commitSigned(msg string, files map[string]string, key *openpgp.Entity) string {
	r.t.Helper()
	wt, err := r.r.Worktree()
	if err != nil {
		r.t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(r.dir, name), []byte(content), 0o644); err != nil {
			r.t.Fatal(err)
		}
		if _, err := wt.Add(name); err != nil {
			r.t.Fatal(err)
		}
	}
	h, err := wt.Commit(msg, &git.CommitOptions{SignKey: key, AllowEmptyCommits: true,
		Author: &object.Signature{Name: "Ada", Email: "ada@example.com", When: time.Now()}})
	if err != nil {
		r.t.Fatal(err)
	}
	return h.String()
}

func armoredPublic(t *testing.T, e *openpgp.Entity) []byte {
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

// TestSignedRevisions: with spec.verify, a revision signed by a trusted
// key is applied and reported Verified; an unsigned one and one signed by
// another key are refused, the last signed revision staying in force.
func TestSignedRevisions(t *testing.T) {
	e := start(t)
	r := newRepo(t)
	team, err := openpgp.NewEntity("Team", "", "team@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := openpgp.NewEntity("Stranger", "", "stranger@example.com", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.admin.CoreV1().Secrets("default").Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "signers"},
		Data:       map[string][]byte{"team.asc": armoredPublic(t, team)},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	h1 := r.commitSigned("signed", map[string]string{"app.yaml": appYAML}, team)
	src := &gitopsv1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: gitopsv1.SchemeGroupVersion.String(), Kind: "GitRepository"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "signed"},
		Spec: gitopsv1.GitRepositorySpec{URL: r.dir, Ref: gitopsv1.GitRef{Branch: "main"}, Prune: true, DefaultNamespace: "default",
			Interval: &metav1.Duration{Duration: time.Hour}, Verify: &gitopsv1.VerifySpec{SecretRef: gitopsv1.LocalObjectReference{Name: "signers"}}},
	}
	u, _ := runtime.DefaultUnstructuredConverter.ToUnstructured(src)
	if _, err := e.dyn.Resource(gitRepositories).Namespace("default").Create(e.ctx, &unstructured.Unstructured{Object: u}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	st := e.synced("signed", h1)
	if st.Status.LastAppliedRevision != h1 || !hasCondition(st, "Verified", metav1.ConditionTrue, "Signed", "Team <team@example.com>") {
		t.Fatalf("signed revision: applied %q, conditions %+v", st.Status.LastAppliedRevision, st.Status.Conditions)
	}

	for _, tc := range []struct {
		name   string
		key    *openpgp.Entity
		reason string
	}{
		{"unsigned", nil, "Unsigned"},
		{"signed by a stranger", stranger, "UntrustedSigner"},
	} {
		h := r.commitSigned(tc.name, map[string]string{"app.yaml": strings.Replace(appYAML, "blue", "red", 1)}, tc.key)
		st := e.synced("signed", h)
		if st.Status.LastAppliedRevision != h1 || !hasCondition(st, "Ready", metav1.ConditionFalse, tc.reason, "") ||
			!hasCondition(st, "Verified", metav1.ConditionFalse, tc.reason, "") {
			t.Fatalf("%s: applied %q, conditions %+v", tc.name, st.Status.LastAppliedRevision, st.Status.Conditions)
		}
		if cm, _ := e.configMap("shop", "settings"); cm.Data["color"] != "blue" {
			t.Fatalf("%s: the refused revision changed shop/settings: %v", tc.name, cm.Data)
		}
		if len(st.Status.History) == 0 || st.Status.History[0].Revision != h || st.Status.History[0].Result != "Refused" {
			t.Fatalf("%s: history %+v", tc.name, st.Status.History)
		}
	}
}

func hasCondition(r *gitopsv1.GitRepository, typ string, status metav1.ConditionStatus, reason, msgPart string) bool {
	for _, c := range r.Status.Conditions {
		if c.Type == typ {
			return c.Status == status && c.Reason == reason && strings.Contains(c.Message, msgPart)
		}
	}
	return false
}
