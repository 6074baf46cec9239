package validation

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func replicas(r *int32) int64 {
	if r == nil {
		return 0
	}
	return int64(*r)
}

// validateWorkloadSelector checks a required, non-empty label selector and
// returns it as a labels.Selector (nil when it cannot be converted). A missing
// selector selects nothing, so the template labels are reported too, as
// Kubernetes does.
func validateWorkloadSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) (labels.Selector, field.ErrorList) {
	if sel == nil {
		return labels.Nothing(), field.ErrorList{field.Required(fldPath, "")}
	}
	errs := validateLabelSelector(sel, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, append(errs, field.Invalid(fldPath, sel, "invalid label selector"))
	}
	return s, errs
}

// validatePodTemplateSpecForReplicaSet is ValidatePodTemplateSpecForReplicaSet
// (also used by Deployments): the selector must match the template labels,
// the pod spec must be valid, restartPolicy Always. Like Kubernetes, the
// template is not validated when the selector cannot be converted.
func validatePodTemplateSpecForReplicaSet(t *corev1.PodTemplateSpec, selector labels.Selector, kind string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(fldPath.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplateSpec(t, fldPath)...)
	errs = append(errs, validateTemplateRestart(&t.Spec, kind, fldPath.Child("spec"))...)
	return errs
}

func validateTemplateRestart(spec *corev1.PodSpec, kind string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if spec.RestartPolicy != corev1.RestartPolicyAlways {
		errs = append(errs, field.NotSupported(fldPath.Child("restartPolicy"), spec.RestartPolicy, []string{string(corev1.RestartPolicyAlways)}))
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, field.Forbidden(fldPath.Child("activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return errs
}

// validateDeployment is ValidateDeploymentSpec.
func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	spec := &d.Spec
	fldPath := specPath
	errs := nonNegative(replicas(spec.Replicas), fldPath.Child("replicas"))
	selector, serrs := validateWorkloadSelector(spec.Selector, "deployment", fldPath.Child("selector"))
	errs = append(errs, serrs...)
	if selector != nil {
		errs = append(errs, validatePodTemplateSpecForReplicaSet(&spec.Template, selector, "ReplicaSet", fldPath.Child("template"))...)
	}
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	if pds := spec.ProgressDeadlineSeconds; pds != nil {
		errs = append(errs, nonNegative(int64(*pds), fldPath.Child("progressDeadlineSeconds"))...)
		if *pds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(fldPath.Child("progressDeadlineSeconds"), spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return errs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			return field.ErrorList{field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil")}
		}
		p := fldPath.Child("rollingUpdate")
		maxUnavailable, maxSurge := intOrZero(s.RollingUpdate.MaxUnavailable), intOrZero(s.RollingUpdate.MaxSurge)
		errs := validatePositiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))
		errs = append(errs, validatePositiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
		if intOrPercentValue(maxUnavailable) == 0 && intOrPercentValue(maxSurge) == 0 {
			errs = append(errs, field.Invalid(p.Child("maxUnavailable"), maxUnavailable, "may not be 0 when `maxSurge` is 0"))
		}
		return append(errs, notMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
	default:
		return field.ErrorList{field.NotSupported(fldPath, s, []string{string(appsv1.RecreateDeploymentStrategyType), string(appsv1.RollingUpdateDeploymentStrategyType)})}
	}
	return nil
}

// intOrZero is the v1 to internal conversion of an optional IntOrString.
func intOrZero(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.FromInt32(0)
	}
	return *v
}

func validatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(fldPath, v, msg))
		}
	case intstr.Int:
		errs = append(errs, nonNegative(int64(v.IntValue()), fldPath)...)
	default:
		errs = append(errs, field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')"))
	}
	return errs
}

func percentValue(v intstr.IntOrString) (int, bool) {
	if v.Type != intstr.String || len(validation.IsValidPercent(v.StrVal)) != 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(v.StrVal[:len(v.StrVal)-1])
	return n, true
}

func intOrPercentValue(v intstr.IntOrString) int {
	if n, ok := percentValue(v); ok {
		return n
	}
	return v.IntValue()
}

func notMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	if n, ok := percentValue(v); ok && n > 100 {
		return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
	}
	return nil
}

// validateReplicaSet is ValidateReplicaSetSpec.
func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	spec := &rs.Spec
	errs := nonNegative(replicas(spec.Replicas), specPath.Child("replicas"))
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	selector, serrs := validateWorkloadSelector(spec.Selector, "deployment", specPath.Child("selector"))
	errs = append(errs, serrs...)
	if selector != nil {
		errs = append(errs, validatePodTemplateSpecForReplicaSet(&spec.Template, selector, "ReplicaSet", specPath.Child("template"))...)
	}
	return errs
}

// validateDaemonSet is ValidateDaemonSetSpec.
func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	spec := &ds.Spec
	var errs field.ErrorList
	if spec.Selector == nil {
		errs = append(errs, field.Required(specPath.Child("selector"), ""))
	} else {
		errs = append(errs, validateLabelSelector(spec.Selector, specPath.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(specPath.Child("template", "metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	if spec.Selector != nil && len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
		errs = append(errs, field.Invalid(specPath.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
	}
	errs = append(errs, validatePodTemplateSpec(&spec.Template, specPath.Child("template"))...)
	errs = append(errs, validateTemplateRestart(&spec.Template.Spec, "DaemonSet", specPath.Child("template", "spec"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	errs = append(errs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, specPath.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		errs = append(errs, nonNegative(int64(*spec.RevisionHistoryLimit), specPath.Child("revisionHistoryLimit"))...)
	}
	return errs
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "")}
		}
		p := fldPath.Child("rollingUpdate")
		maxUnavailable, maxSurge := intOrZero(s.RollingUpdate.MaxUnavailable), intOrZero(s.RollingUpdate.MaxSurge)
		errs := validatePositiveIntOrPercent(maxUnavailable, p.Child("maxUnavailable"))
		errs = append(errs, validatePositiveIntOrPercent(maxSurge, p.Child("maxSurge"))...)
		errs = append(errs, notMoreThan100Percent(maxUnavailable, p.Child("maxUnavailable"))...)
		errs = append(errs, notMoreThan100Percent(maxSurge, p.Child("maxSurge"))...)
		hasUnavailable, hasSurge := intOrPercentValue(maxUnavailable) != 0, intOrPercentValue(maxSurge) != 0
		switch {
		case hasUnavailable && hasSurge:
			errs = append(errs, field.Invalid(p.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
		case !hasUnavailable && !hasSurge:
			errs = append(errs, field.Required(p.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
		return errs
	default:
		return field.ErrorList{field.NotSupported(fldPath, s, []string{string(appsv1.RollingUpdateDaemonSetStrategyType), string(appsv1.OnDeleteDaemonSetStrategyType)})}
	}
	return nil
}

// validateStatefulSet is ValidateStatefulSetSpec. Like Kubernetes, it checks
// the template's labels and annotations but not its pod spec (whose volume
// mounts may refer to volumeClaimTemplates).
func validateStatefulSet(s *appsv1.StatefulSet) field.ErrorList {
	spec := &s.Spec
	var errs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(specPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(specPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			"must be 'OrderedReady' or 'Parallel'"))
	}
	us := specPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(us, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(us.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate, "only allowed for updateStrategy 'RollingUpdate'"))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			p := us.Child("rollingUpdate")
			if ru.Partition != nil {
				errs = append(errs, nonNegative(int64(*ru.Partition), p.Child("partition"))...)
			}
			if ru.MaxUnavailable != nil {
				mp := p.Child("maxUnavailable")
				errs = append(errs, validatePositiveIntOrPercent(*ru.MaxUnavailable, mp)...)
				if intOrPercentValue(*ru.MaxUnavailable) == 0 {
					errs = append(errs, field.Invalid(mp, *ru.MaxUnavailable, "cannot be 0"))
				}
				errs = append(errs, notMoreThan100Percent(*ru.MaxUnavailable, mp)...)
			}
		}
	default:
		errs = append(errs, field.Invalid(us, spec.UpdateStrategy, "must be 'RollingUpdate' or 'OnDelete'"))
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		rp := specPath.Child("persistentVolumeClaimRetentionPolicy")
		for name, v := range map[string]appsv1.PersistentVolumeClaimRetentionPolicyType{"whenDeleted": p.WhenDeleted, "whenScaled": p.WhenScaled} {
			if v != appsv1.RetainPersistentVolumeClaimRetentionPolicyType && v != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
				errs = append(errs, field.NotSupported(rp.Child(name), v, []string{"Retain", "Delete"}))
			}
		}
	}
	errs = append(errs, nonNegative(replicas(spec.Replicas), specPath.Child("replicas"))...)
	errs = append(errs, nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		errs = append(errs, nonNegative(int64(spec.Ordinals.Start), specPath.Child("ordinals.start"))...)
	}
	selector, serrs := validateWorkloadSelector(spec.Selector, "statefulset", specPath.Child("selector"))
	errs = append(errs, serrs...)
	if selector != nil {
		t := &spec.Template
		tp := specPath.Child("template")
		if !selector.Empty() && !selector.Matches(labels.Set(t.Labels)) {
			errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
		}
		errs = append(errs, validateLabels(t.Labels, tp.Child("labels"))...)
		errs = append(errs, validateAnnotations(t.Annotations, tp.Child("annotations"))...)
		errs = append(errs, validatePodSpecificAnnotations(t.Annotations, tp.Child("annotations"))...)
	}
	return append(errs, validateTemplateRestart(&spec.Template.Spec, "StatefulSet", specPath.Child("template", "spec"))...)
}

// validateStatefulSetUpdate: only replicas, ordinals, template,
// updateStrategy, persistentVolumeClaimRetentionPolicy and minReadySeconds
// may change.
func validateStatefulSetUpdate(s, old *appsv1.StatefulSet) field.ErrorList {
	c := s.Spec.DeepCopy()
	c.Replicas = old.Spec.Replicas
	c.Template = old.Spec.Template
	c.UpdateStrategy = old.Spec.UpdateStrategy
	c.MinReadySeconds = old.Spec.MinReadySeconds
	c.Ordinals = old.Spec.Ordinals
	c.PersistentVolumeClaimRetentionPolicy = old.Spec.PersistentVolumeClaimRetentionPolicy
	if !apiequality.Semantic.DeepEqual(*c, old.Spec) {
		return field.ErrorList{field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden")}
	}
	return nil
}

// immutableSelector: apps/v1 selectors may not change.
func immutableSelector(sel, old *metav1.LabelSelector) field.ErrorList {
	return immutable(sel, old, specPath.Child("selector"))
}

// validateReplicationController is ValidateReplicationControllerSpec.
func validateReplicationController(rc *corev1.ReplicationController) field.ErrorList {
	spec := &rc.Spec
	errs := nonNegative(int64(spec.MinReadySeconds), specPath.Child("minReadySeconds"))
	if labels.Set(spec.Selector).AsSelector().Empty() {
		errs = append(errs, field.Required(specPath.Child("selector"), ""))
	}
	errs = append(errs, nonNegative(replicas(spec.Replicas), specPath.Child("replicas"))...)
	tp := specPath.Child("template")
	if spec.Template == nil {
		return append(errs, field.Required(tp, ""))
	}
	if sel := labels.Set(spec.Selector).AsSelector(); !sel.Empty() && !sel.Matches(labels.Set(spec.Template.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), spec.Template.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, validatePodTemplateSpec(spec.Template, tp)...)
	return append(errs, validateTemplateRestart(&spec.Template.Spec, "ReplicationController", tp.Child("spec"))...)
}

// validateControllerRevision is Kubernetes' ValidateControllerRevision:
// the data is mandatory (it is the revision) and the revision number is
// not negative.
func validateControllerRevision(r *appsv1.ControllerRevision) field.ErrorList {
	var errs field.ErrorList
	if r.Data.Raw == nil && r.Data.Object == nil {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	if r.Revision < 0 {
		errs = append(errs, field.Invalid(field.NewPath("revision"), r.Revision, isNegativeErrorMsg))
	}
	return errs
}
