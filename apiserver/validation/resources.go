package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	isNegativeErrorMsg    = "must be greater than or equal to 0"
	isNotIntegerErrorMsg  = "must be an integer"
	isNotPositiveErrorMsg = "must be greater than zero"
)

// Resource-name helpers of k8s.io/kubernetes/pkg/apis/core/helper.

var (
	standardContainerResources = sets.New("cpu", "memory", "ephemeral-storage")
	standardResources          = sets.New("cpu", "memory", "ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.ephemeral-storage",
		"limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"pods", "services", "replicationcontrollers", "resourcequotas", "secrets",
		"persistentvolumeclaims", "configmaps", "storage", "requests.storage",
		"services.nodeports", "services.loadbalancers")
	integerResources = sets.New("pods", "services", "replicationcontrollers", "resourcequotas",
		"secrets", "configmaps", "persistentvolumeclaims", "services.nodeports", "services.loadbalancers")
	standardLimitRangeTypes = sets.New(string(corev1.LimitTypePod), string(corev1.LimitTypeContainer),
		string(corev1.LimitTypePersistentVolumeClaim))
)

func isHugePageResourceName(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

func isExtendedResourceName(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	return len(isQualifiedName(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePageResourceName(name)
}

func isIntegerResourceName(name corev1.ResourceName) bool {
	return integerResources.Has(string(name)) || isExtendedResourceName(name)
}

func isStandardResourceName(name corev1.ResourceName) bool {
	return standardResources.Has(string(name)) || isHugePageResourceName(name) ||
		strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix+corev1.ResourceHugePagesPrefix)
}

func isStandardContainerResourceName(name corev1.ResourceName) bool {
	return standardContainerResources.Has(string(name)) || isHugePageResourceName(name)
}

// validateResourceName is validateResourceName of core validation.
func validateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := validateQualifiedNameValue(string(name), name, fldPath)
	if len(errs) != 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") && !isStandardResourceName(name) {
		return append(errs, field.Invalid(fldPath, name, "must be a standard resource type or fully qualified"))
	}
	return errs
}

func validateQualifiedNameValue(s string, value any, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range isQualifiedName(s) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// validateContainerResourceName is validateContainerResourceName of core
// validation.
func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := validateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") {
		if !isStandardContainerResourceName(name) {
			return append(errs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && !isExtendedResourceName(name) {
		return append(errs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

func validateNonnegativeQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() < 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), isNegativeErrorMsg)}
	}
	return nil
}

func validatePositiveQuantity(q resource.Quantity, fldPath *field.Path) field.ErrorList {
	if q.Sign() <= 0 {
		return field.ErrorList{field.Invalid(fldPath, q.String(), isNotPositiveErrorMsg)}
	}
	return nil
}

// validateResourceQuantityValue is ValidateResourceQuantityValue.
func validateResourceQuantityValue(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	errs := validateNonnegativeQuantity(q, fldPath)
	if isIntegerResourceName(name) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fldPath, q, isNotIntegerErrorMsg))
	}
	return errs
}

// validateResourceRequirements is ValidateContainerResourceRequirements:
// names and quantities valid, requests no greater than limits, and equal for
// resources that cannot be overcommitted.
func validateResourceRequirements(r *corev1.ResourceRequirements, podClaims sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limPath, reqPath := fldPath.Child("limits"), fldPath.Child("requests")
	limCPUOrMemory, reqCPUOrMemory, limHugePages, reqHugePages := false, false, false, false
	for _, name := range sortedResourceNames(r.Limits) {
		q := r.Limits[name]
		p := limPath.Key(string(name))
		errs = append(errs, validateContainerResourceName(name, p)...)
		errs = append(errs, validateResourceQuantityValue(name, q, p)...)
		if isHugePageResourceName(name) {
			limHugePages = true
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			limCPUOrMemory = true
		}
	}
	for _, name := range sortedResourceNames(r.Requests) {
		q := r.Requests[name]
		p := reqPath.Key(string(name))
		errs = append(errs, validateContainerResourceName(name, p)...)
		errs = append(errs, validateResourceQuantityValue(name, q, p)...)
		if limit, ok := r.Limits[name]; ok {
			if q.Cmp(limit) != 0 && !isOvercommitAllowed(name) {
				errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
			} else if q.Cmp(limit) > 0 {
				errs = append(errs, field.Invalid(reqPath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
			}
		} else if !isOvercommitAllowed(name) {
			errs = append(errs, field.Required(limPath, "Limit must be set for non overcommitable resources"))
		}
		if isHugePageResourceName(name) {
			reqHugePages = true
		}
		if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
			reqCPUOrMemory = true
		}
	}
	if !limCPUOrMemory && !reqCPUOrMemory && (limHugePages || reqHugePages) {
		errs = append(errs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	errs = append(errs, validateResourceClaimNames(r.Claims, podClaims, fldPath.Child("claims"))...)
	return errs
}

func validateResourceClaimNames(claims []corev1.ResourceClaim, podClaims sets.Set[string], fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := sets.New[string]()
	for i, c := range claims {
		if c.Name == "" {
			errs = append(errs, field.Required(fldPath.Index(i), ""))
			continue
		}
		key := c.Name
		if c.Request != "" {
			errs = append(errs, validateDNS1123Label(c.Request, fldPath.Index(i).Child("request"))...)
			key += "/" + c.Request
		}
		if seen.Has(key) {
			errs = append(errs, field.Duplicate(fldPath.Index(i), key))
		}
		seen.Insert(key)
		if !podClaims.Has(c.Name) {
			e := field.NotFound(fldPath.Index(i), c.Name)
			e.Detail = "must be one of the names in pod.spec.resourceClaims"
			if len(podClaims) == 0 {
				e.Detail += " which is empty"
			} else {
				e.Detail += ": " + strings.Join(sets.List(podClaims), ", ")
			}
			errs = append(errs, e)
		}
	}
	return errs
}

// sortedResourceNames makes error order deterministic.
func sortedResourceNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		names = append(names, k)
	}
	slices.Sort(names)
	return names
}
