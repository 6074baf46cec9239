package cel

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
)

// TestValidateContexts checks that an evaluation gives the same verdict
// whether its context can be cancelled or not (the engine evaluates
// without a cancellable frame when it cannot), that the cost limit holds
// on both paths, and that a cancelled context still interrupts.
func TestValidateContexts(t *testing.T) {
	big := make([]corev1.Container, 2000)
	for i := range big {
		big[i] = container("c", "nginx:1", true)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	live, stop := context.WithCancel(context.Background())
	defer stop()
	cases := []struct {
		name, expr string
		containers []corev1.Container
		want       string // in the error of both the plain and the cancellable context; "" admits
		cancelled  string // in the error with a cancelled context
	}{
		{
			name:       "admitted",
			expr:       "object.spec.template.spec.containers.all(c, c.image != '')",
			containers: big,
			cancelled:  "operation interrupted",
		},
		{
			name:       "denied",
			expr:       "object.spec.template.spec.containers.all(c, c.image == '')",
			containers: big[:3],
			want:       "failed expression",
		},
		{
			name:       "over the cost limit",
			expr:       "object.spec.template.spec.containers.all(c, object.spec.template.spec.containers.all(d, c.image == d.image))",
			containers: big,
			want:       "operation cancelled: actual cost limit exceeded",
			cancelled:  "operation interrupted",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := New(Options{})
			if probs := e.SetPolicies([]*admissionregistrationv1.ValidatingAdmissionPolicy{vap("p", tc.expr)},
				[]*admissionregistrationv1.ValidatingAdmissionPolicyBinding{vapb("b", "p")}); len(probs) > 0 {
				t.Fatal(probs)
			}
			a := create(deployment("team-a", "d", 1, nil, tc.containers...))
			msg := func(ctx context.Context) string {
				_, err := e.Validate(ctx, a, newLookup())
				if err == nil {
					return ""
				}
				_, _, m := statusOf(err)
				return m
			}
			plain, withCancel := msg(context.Background()), msg(live)
			if plain != withCancel {
				t.Errorf("verdicts differ:\nbackground:  %q\ncancellable: %q", plain, withCancel)
			}
			if (tc.want == "") != (plain == "") || !strings.Contains(plain, tc.want) {
				t.Errorf("error = %q, want %q", plain, tc.want)
			}
			if got := msg(cancelled); tc.cancelled != "" && !strings.Contains(got, tc.cancelled) {
				t.Errorf("with a cancelled context: error = %q, want %q", got, tc.cancelled)
			}
		})
	}
}
