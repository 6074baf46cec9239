package validation

import (
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/validate/content"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	v1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

type metav1Object = metav1.Object

// nameFunc validates an object name; prefix is true for generateName.
type nameFunc func(name string, prefix bool) []string

var (
	subdomain   nameFunc = nameIsDNSSubdomain
	dnsLabel    nameFunc = nameIsDNSLabel
	pathSegment nameFunc = func(name string, prefix bool) []string {
		if prefix {
			return content.IsPathSegmentPrefix(name)
		}
		return content.IsPathSegmentName(name)
	}
)

const fieldImmutableErrorMsg = apimachineryvalidation.FieldImmutableErrorMsg

var metadataPath = field.NewPath("metadata")

// metaErrors validates metadata on create (old == nil) and its update rules
// otherwise. kubeFinalizers adds the core group's check that unqualified
// finalizer names are standard ones.
func metaErrors(obj, old metav1.Object, nameFn nameFunc, kubeFinalizers bool) field.ErrorList {
	fldPath := metadataPath
	var errs field.ErrorList

	if gn := obj.GetGenerateName(); gn != "" {
		for _, msg := range nameFn(gn, true) {
			errs = append(errs, field.Invalid(fldPath.Child("generateName"), gn, msg))
		}
	}
	// The server generates the name from generateName before storing.
	if name := obj.GetName(); name == "" {
		if obj.GetGenerateName() == "" {
			errs = append(errs, field.Required(fldPath.Child("name"), "name or generateName is required"))
		}
	} else {
		for _, msg := range nameFn(name, false) {
			errs = append(errs, field.Invalid(fldPath.Child("name"), name, msg))
		}
	}
	errs = append(errs, apimachineryvalidation.ValidateNonnegativeField(obj.GetGeneration(), fldPath.Child("generation"))...)
	errs = append(errs, validateLabels(obj.GetLabels(), fldPath.Child("labels"))...)
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(obj.GetAnnotations(), fldPath.Child("annotations"))...)
	errs = append(errs, apimachineryvalidation.ValidateOwnerReferences(obj.GetOwnerReferences(), fldPath.Child("ownerReferences"))...)
	errs = append(errs, apimachineryvalidation.ValidateFinalizers(obj.GetFinalizers(), fldPath.Child("finalizers"))...)
	if kubeFinalizers {
		for i, f := range obj.GetFinalizers() {
			errs = append(errs, validateKubeFinalizerName(f, fldPath.Child("finalizers").Index(i))...)
		}
	}
	errs = append(errs, v1validation.ValidateManagedFields(obj.GetManagedFields(), fldPath.Child("managedFields"))...)

	if old != nil {
		errs = append(errs, metaUpdateErrors(obj, old)...)
	}
	return errs
}

// metaUpdateErrors are the rules of ValidateObjectMetaAccessorUpdate. An empty
// uid or creationTimestamp counts as unchanged: kube-apiserver copies them
// from the stored object before validating (rest.BeforeUpdate).
func metaUpdateErrors(obj, old metav1.Object) field.ErrorList {
	fldPath := metadataPath
	var errs field.ErrorList
	if old.GetDeletionTimestamp() != nil {
		extra := sets.New(obj.GetFinalizers()...).Difference(sets.New(old.GetFinalizers()...))
		if len(extra) != 0 {
			errs = append(errs, field.Forbidden(fldPath.Child("finalizers"),
				fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %#v", sets.List(extra))))
		}
	}
	if obj.GetGeneration() < old.GetGeneration() {
		errs = append(errs, field.Invalid(fldPath.Child("generation"), obj.GetGeneration(), "must not be decremented"))
	}
	errs = append(errs, immutable(obj.GetName(), old.GetName(), fldPath.Child("name"))...)
	errs = append(errs, immutable(obj.GetNamespace(), old.GetNamespace(), fldPath.Child("namespace"))...)
	if obj.GetUID() != "" {
		errs = append(errs, immutable(obj.GetUID(), old.GetUID(), fldPath.Child("uid"))...)
	}
	if ts := obj.GetCreationTimestamp(); !ts.IsZero() {
		errs = append(errs, immutable(ts, old.GetCreationTimestamp(), fldPath.Child("creationTimestamp"))...)
	}
	return errs
}

func immutable(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

// standardFinalizers are the unqualified finalizer names the core group
// accepts (helper.IsStandardFinalizerName).
var standardFinalizers = sets.New("kubernetes", metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents)

func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers.Has(name) {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// Small shared checks.

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range isDNS1123Label(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range isDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range isQualifiedName(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func validateName(fn nameFunc, value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range fn(value, false) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

func nonNegative(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

func validateLabelSelector(sel *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	return v1validation.ValidateLabelSelector(sel, v1validation.LabelSelectorValidationOptions{}, fldPath)
}

func validateAnnotations(annotations map[string]string, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateAnnotations(annotations, fldPath)
}

func joinMsgs(msgs []string) string {
	return strings.Join(msgs, ";")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
