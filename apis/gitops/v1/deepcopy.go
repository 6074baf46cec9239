package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// DeepCopyInto copies the receiver into out.
func (in *GitRepository) DeepCopyInto(out *GitRepository) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ObjectMeta.DeepCopyInto(&out.ObjectMeta)
	in.Spec.DeepCopyInto(&out.Spec)
	in.Status.DeepCopyInto(&out.Status)
}

// DeepCopy returns a deep copy.
func (in *GitRepository) DeepCopy() *GitRepository {
	if in == nil {
		return nil
	}
	out := new(GitRepository)
	in.DeepCopyInto(out)
	return out
}

// DeepCopyObject implements runtime.Object.
func (in *GitRepository) DeepCopyObject() runtime.Object { return in.DeepCopy() }

// DeepCopyInto copies the receiver into out.
func (in *GitRepositorySpec) DeepCopyInto(out *GitRepositorySpec) {
	*out = *in
	if in.Interval != nil {
		v := *in.Interval
		out.Interval = &v
	}
	if in.SecretRef != nil {
		v := *in.SecretRef
		out.SecretRef = &v
	}
	if in.Verify != nil {
		v := *in.Verify
		out.Verify = &v
	}
}

// DeepCopyInto copies the receiver into out.
func (in *GitRepositoryStatus) DeepCopyInto(out *GitRepositoryStatus) {
	*out = *in
	if in.Conditions != nil {
		out.Conditions = make([]metav1.Condition, len(in.Conditions))
		for i := range in.Conditions {
			in.Conditions[i].DeepCopyInto(&out.Conditions[i])
		}
	}
	if in.LastAppliedTime != nil {
		out.LastAppliedTime = in.LastAppliedTime.DeepCopy()
	}
	if in.Commit != nil {
		c := *in.Commit
		if in.Commit.Time != nil {
			c.Time = in.Commit.Time.DeepCopy()
		}
		out.Commit = &c
	}
	if in.Errors != nil {
		out.Errors = append([]SyncError(nil), in.Errors...)
	}
	if in.Warnings != nil {
		out.Warnings = append([]SyncError(nil), in.Warnings...)
	}
	if in.Health != nil {
		h := *in.Health
		h.Failing = append([]string(nil), in.Health.Failing...)
		out.Health = &h
	}
	if in.History != nil {
		out.History = make([]Attempt, len(in.History))
		for i := range in.History {
			out.History[i] = in.History[i]
			out.History[i].Time = *in.History[i].Time.DeepCopy()
		}
	}
}

// DeepCopyInto copies the receiver into out.
func (in *GitRepositoryList) DeepCopyInto(out *GitRepositoryList) {
	*out = *in
	out.TypeMeta = in.TypeMeta
	in.ListMeta.DeepCopyInto(&out.ListMeta)
	if in.Items != nil {
		out.Items = make([]GitRepository, len(in.Items))
		for i := range in.Items {
			in.Items[i].DeepCopyInto(&out.Items[i])
		}
	}
}

// DeepCopyObject implements runtime.Object.
func (in *GitRepositoryList) DeepCopyObject() runtime.Object {
	if in == nil {
		return nil
	}
	out := new(GitRepositoryList)
	in.DeepCopyInto(out)
	return out
}
