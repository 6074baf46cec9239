package builtin

import (
	"context"
	"fmt"
	"math/big"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/cairn-dev/cairn/defaults"
	"github.com/cairn-dev/cairn/policies"
)

// limitRangerAnnotation records the defaults LimitRanger applied to a pod.
const limitRangerAnnotation = "kubernetes.io/limit-ranger"

var (
	podKind   = schema.GroupKind{Kind: "Pod"}
	pvcKind   = schema.GroupKind{Kind: "PersistentVolumeClaim"}
	pvcsGroup = schema.GroupResource{Resource: "persistentvolumeclaims"}
)

// LimitRanger is Kubernetes' LimitRanger plugin. Kubernetes runs it twice:
// its Admit sets defaults and its Validate enforces the constraints. Here
// Admit does both, in Kubernetes' order — first the defaults of every
// LimitRange in the namespace, then the checks of every LimitRange against
// the defaulted object — so wiring it as a Mutating plugin is enough:
//
//   - Pod CREATE (and the pods/resize subresource): each container and init
//     container gets the Container-type defaultRequest for missing requests
//     and default for missing limits, recorded in the annotation
//     kubernetes.io/limit-ranger ("LimitRanger plugin set: memory request
//     for container web; memory limit for container web"). Then min, max
//     and maxLimitRequestRatio are enforced per Container and, on the sums
//     Kubernetes computes (sidecars added, init containers as a maximum,
//     pod-level resources overriding), per Pod.
//   - PersistentVolumeClaim CREATE and UPDATE: min and max on requests.
//   - Pod UPDATE without a subresource is not affected (containers are
//     immutable), nor are objects being deleted.
//
// Violations are 403 Forbidden with Kubernetes' messages, joined as
// Kubernetes' aggregate errors are ("[a, b]" for more than one).
//
// LimitRange items are read as the API server stores them: the
// Container-type defaulting (default from max, defaultRequest from default
// or min) is applied to a copy first, which changes nothing for a stored
// LimitRange and gives an undefaulted one (from git) the same meaning.
func LimitRanger(l LimitRangeLister) policies.Mutating { return &limitRanger{lister: l} }

type limitRanger struct{ lister LimitRangeLister }

func (*limitRanger) Name() string { return "LimitRanger" }

func (p *limitRanger) Admit(ctx context.Context, a *policies.Attributes) error {
	if a.Operation != policies.Create && a.Operation != policies.Update {
		return nil
	}
	gk := a.Kind.GroupKind()
	switch {
	case gk == podKind && a.Subresource == "resize" && a.Operation == policies.Update:
	case a.Subresource != "":
		return nil
	case gk == podKind && a.Operation == policies.Update:
		return nil
	case gk != podKind && gk != pvcKind:
		return nil
	}
	if a.OldObject != nil {
		if m, err := meta.Accessor(a.OldObject); err != nil {
			return forbidden(a, err)
		} else if m.GetDeletionTimestamp() != nil {
			return nil
		}
	}

	items, err := p.lister.LimitRanges(ctx, a.Namespace)
	if err != nil {
		return forbidden(a, fmt.Errorf("unable to %s %v at this time because there was an error enforcing limit ranges", a.Operation, a.Resource))
	}
	if len(items) == 0 {
		return nil
	}
	ranges := make([]*corev1.LimitRange, 0, len(items))
	for _, lr := range items {
		if lr == nil {
			continue
		}
		lr = lr.DeepCopy()
		defaults.LimitRange(lr) // as the API server stores it
		ranges = append(ranges, lr)
	}

	switch a.Resource.Resource {
	case "pods":
		pod, ok := typed[corev1.Pod](a.Object)
		if !ok {
			return unexpectedType(a, a.Object)
		}
		for _, lr := range ranges {
			mergePodResourceRequirements(pod, defaultContainerResourceRequirements(lr))
		}
		if err := writeBack(a.Object, pod); err != nil {
			return err
		}
		oldPod, _ := typed[corev1.Pod](a.OldObject)
		for _, lr := range ranges {
			if err := podValidateLimits(lr, pod, oldPod); err != nil {
				return forbidden(a, err)
			}
		}
	case pvcsGroup.Resource:
		pvc, ok := typed[corev1.PersistentVolumeClaim](a.Object)
		if !ok {
			return unexpectedType(a, a.Object)
		}
		oldPVC, _ := typed[corev1.PersistentVolumeClaim](a.OldObject)
		for _, lr := range ranges {
			if err := pvcValidateLimits(lr, pvc, oldPVC); err != nil {
				return forbidden(a, err)
			}
		}
	}
	return nil
}

// defaultContainerResourceRequirements collects the Container-type
// defaults of a LimitRange; a later item wins.
func defaultContainerResourceRequirements(lr *corev1.LimitRange) corev1.ResourceRequirements {
	req := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypeContainer {
			continue
		}
		for k, v := range item.DefaultRequest {
			req.Requests[k] = v.DeepCopy()
		}
		for k, v := range item.Default {
			req.Limits[k] = v.DeepCopy()
		}
	}
	return req
}

func mergePodResourceRequirements(pod *corev1.Pod, defaults corev1.ResourceRequirements) {
	var notes []string
	for i := range pod.Spec.Containers {
		notes = mergeContainerResources(&pod.Spec.Containers[i], defaults, "container", notes)
	}
	for i := range pod.Spec.InitContainers {
		notes = mergeContainerResources(&pod.Spec.InitContainers[i], defaults, "init container", notes)
	}
	if len(notes) == 0 {
		return
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[limitRangerAnnotation] = "LimitRanger plugin set: " + strings.Join(notes, "; ")
}

func mergeContainerResources(c *corev1.Container, defaults corev1.ResourceRequirements, prefix string, notes []string) []string {
	if c.Resources.Limits == nil {
		c.Resources.Limits = corev1.ResourceList{}
	}
	if c.Resources.Requests == nil {
		c.Resources.Requests = corev1.ResourceList{}
	}
	var setLimits, setRequests []string
	for k, v := range defaults.Limits {
		if _, ok := c.Resources.Limits[k]; !ok {
			c.Resources.Limits[k] = v.DeepCopy()
			setLimits = append(setLimits, string(k))
		}
	}
	for k, v := range defaults.Requests {
		if _, ok := c.Resources.Requests[k]; !ok {
			c.Resources.Requests[k] = v.DeepCopy()
			setRequests = append(setRequests, string(k))
		}
	}
	if len(setRequests) > 0 {
		sort.Strings(setRequests)
		notes = append(notes, fmt.Sprintf("%s request for %s %s", strings.Join(setRequests, ", "), prefix, c.Name))
	}
	if len(setLimits) > 0 {
		sort.Strings(setLimits)
		notes = append(notes, fmt.Sprintf("%s limit for %s %s", strings.Join(setLimits, ", "), prefix, c.Name))
	}
	return notes
}

// podValidateLimits enforces one LimitRange on a pod. On update (resize)
// a value the stored pod already holds is not checked again.
func podValidateLimits(lr *corev1.LimitRange, pod, oldPod *corev1.Pod) error {
	var errs []error
	var oldContainers, oldInit []corev1.Container
	if oldPod != nil {
		oldContainers, oldInit = oldPod.Spec.Containers, oldPod.Spec.InitContainers
	}
	for _, item := range lr.Spec.Limits {
		switch item.Type {
		case corev1.LimitTypeContainer:
			errs = append(errs, validateContainerLimits(item, pod.Spec.Containers, oldContainers)...)
			errs = append(errs, validateContainerLimits(item, pod.Spec.InitContainers, oldInit)...)
		case corev1.LimitTypePod:
			requests, limits := podRequests(pod), podLimits(pod)
			var oldRequests, oldLimits corev1.ResourceList
			if oldPod != nil {
				oldRequests, oldLimits = podRequests(oldPod), podLimits(oldPod)
			}
			unchanged := func(name corev1.ResourceName) bool {
				return oldPod != nil && sameQuantity(name, requests, oldRequests) && sameQuantity(name, limits, oldLimits)
			}
			errs = append(errs, checkItem(item, requests, limits, unchanged)...)
		}
	}
	return utilerrors.NewAggregate(errs)
}

func validateContainerLimits(item corev1.LimitRangeItem, containers, old []corev1.Container) []error {
	var errs []error
	for i := range containers {
		c := &containers[i]
		var oc *corev1.Container
		for j := range old {
			if old[j].Name == c.Name {
				oc = &old[j]
				break
			}
		}
		unchanged := func(name corev1.ResourceName) bool {
			return oc != nil && sameQuantity(name, c.Resources.Requests, oc.Resources.Requests) &&
				sameQuantity(name, c.Resources.Limits, oc.Resources.Limits)
		}
		errs = append(errs, checkItem(item, c.Resources.Requests, c.Resources.Limits, unchanged)...)
	}
	return errs
}

// checkItem applies an item's min, max and maxLimitRequestRatio, in that
// order and by resource name, to one set of requests and limits.
func checkItem(item corev1.LimitRangeItem, requests, limits corev1.ResourceList, skip func(corev1.ResourceName) bool) []error {
	var errs []error
	t := string(item.Type)
	for _, k := range sortedNames(item.Min) {
		if !skip(k) {
			errs = appendErr(errs, minConstraint(t, k, item.Min[k], requests, limits))
		}
	}
	for _, k := range sortedNames(item.Max) {
		if !skip(k) {
			errs = appendErr(errs, maxConstraint(t, k, item.Max[k], requests, limits))
		}
	}
	for _, k := range sortedNames(item.MaxLimitRequestRatio) {
		if !skip(k) {
			errs = appendErr(errs, ratioConstraint(t, k, item.MaxLimitRequestRatio[k], requests, limits))
		}
	}
	return errs
}

// pvcValidateLimits enforces PersistentVolumeClaim-type min and max on a
// claim's requests; on update an unchanged request is not checked again.
func pvcValidateLimits(lr *corev1.LimitRange, pvc, oldPVC *corev1.PersistentVolumeClaim) error {
	var errs []error
	requests := pvc.Spec.Resources.Requests
	var oldRequests corev1.ResourceList
	if oldPVC != nil {
		oldRequests = oldPVC.Spec.Resources.Requests
	}
	unchanged := func(name corev1.ResourceName) bool {
		q, ok := requests[name]
		oq, ook := oldRequests[name]
		return ok && ook && q.Cmp(oq) == 0
	}
	for _, item := range lr.Spec.Limits {
		if item.Type != corev1.LimitTypePersistentVolumeClaim {
			continue
		}
		t := string(item.Type)
		for _, k := range sortedNames(item.Min) {
			if !unchanged(k) {
				errs = appendErr(errs, minConstraint(t, k, item.Min[k], requests, corev1.ResourceList{}))
			}
		}
		for _, k := range sortedNames(item.Max) {
			if !unchanged(k) {
				errs = appendErr(errs, maxRequestConstraint(t, k, item.Max[k], requests))
			}
		}
	}
	return utilerrors.NewAggregate(errs)
}

func appendErr(errs []error, err error) []error {
	if err != nil {
		return append(errs, err)
	}
	return errs
}

func sortedNames(l corev1.ResourceList) []corev1.ResourceName {
	names := make([]corev1.ResourceName, 0, len(l))
	for k := range l {
		names = append(names, k)
	}
	sort.Slice(names, func(i, j int) bool { return names[i] < names[j] })
	return names
}

func sameQuantity(name corev1.ResourceName, a, b corev1.ResourceList) bool {
	qa, inA := a[name]
	qb, inB := b[name]
	if inA != inB {
		return false
	}
	return !inA || qa.Cmp(qb) == 0
}

func minConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqOK := requests[name]
	lim, limOK := limits[name]
	if !reqOK {
		return fmt.Errorf("minimum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	}
	if enforced.Cmp(req) > 0 {
		return fmt.Errorf("minimum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	if limOK && enforced.Cmp(lim) > 0 {
		return fmt.Errorf("minimum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	}
	return nil
}

func maxRequestConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests corev1.ResourceList) error {
	req, ok := requests[name]
	if !ok {
		return fmt.Errorf("maximum %s usage per %s is %s.  No request is specified", name, limitType, enforced.String())
	}
	if req.Cmp(enforced) > 0 {
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func maxConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqOK := requests[name]
	lim, limOK := limits[name]
	if !limOK {
		return fmt.Errorf("maximum %s usage per %s is %s.  No limit is specified", name, limitType, enforced.String())
	}
	if lim.Cmp(enforced) > 0 {
		return fmt.Errorf("maximum %s usage per %s is %s, but limit is %s", name, limitType, enforced.String(), lim.String())
	}
	if reqOK && req.Cmp(enforced) > 0 {
		return fmt.Errorf("maximum %s usage per %s is %s, but request is %s", name, limitType, enforced.String(), req.String())
	}
	return nil
}

func ratioConstraint(limitType string, name corev1.ResourceName, enforced resource.Quantity, requests, limits corev1.ResourceList) error {
	req, reqOK := requests[name]
	lim, limOK := limits[name]
	if !reqOK || req.Sign() == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no request is specified or request is 0", name, limitType, enforced.String())
	}
	if !limOK || lim.Sign() == 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but no limit is specified or limit is 0", name, limitType, enforced.String())
	}
	l, r := magnitude(lim), magnitude(req)
	ratio := new(big.Rat).Quo(l, r)
	if ratio.Cmp(rat(enforced)) > 0 {
		return fmt.Errorf("%s max limit to request ratio per %s is %s, but provided ratio is %s", name, limitType, enforced.String(), ratio.FloatString(6))
	}
	return nil
}

// rat is a quantity's exact value.
func rat(q resource.Quantity) *big.Rat {
	d := q.AsDec()
	r := new(big.Rat).SetInt(d.UnscaledBig())
	scale := int64(d.Scale())
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(absInt(scale)), nil)
	if scale > 0 {
		return r.Quo(r, new(big.Rat).SetInt(pow))
	}
	return r.Mul(r, new(big.Rat).SetInt(pow))
}

func magnitude(q resource.Quantity) *big.Rat { return new(big.Rat).Abs(rat(q)) }

func absInt(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}

// podRequests sums a pod's requests as Kubernetes does: containers and
// sidecars (restartable init containers) add up, other init containers
// count as the maximum of each with the sidecars started before it, and
// pod-level cpu and memory requests override the sums.
func podRequests(pod *corev1.Pod) corev1.ResourceList {
	return podTotals(pod, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Requests })
}

// podLimits is podRequests for limits.
func podLimits(pod *corev1.Pod) corev1.ResourceList {
	return podTotals(pod, func(r corev1.ResourceRequirements) corev1.ResourceList { return r.Limits })
}

func podTotals(pod *corev1.Pod, pick func(corev1.ResourceRequirements) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for _, c := range pod.Spec.Containers {
		addResourceList(total, pick(c.Resources))
	}
	sidecars, initMax := corev1.ResourceList{}, corev1.ResourceList{}
	for _, c := range pod.Spec.InitContainers {
		own := pick(c.Resources)
		var effective corev1.ResourceList
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addResourceList(total, own)
			addResourceList(sidecars, own)
			effective = sidecars
		} else {
			effective = corev1.ResourceList{}
			addResourceList(effective, own)
			addResourceList(effective, sidecars)
		}
		maxResourceList(initMax, effective)
	}
	maxResourceList(total, initMax)
	if pod.Spec.Resources != nil {
		for name, q := range pick(*pod.Spec.Resources) {
			if name == corev1.ResourceCPU || name == corev1.ResourceMemory {
				total[name] = q.DeepCopy()
			}
		}
	}
	return total
}

func addResourceList(list, add corev1.ResourceList) {
	for name, q := range add {
		if v, ok := list[name]; ok {
			v.Add(q)
			list[name] = v
		} else {
			list[name] = q.DeepCopy()
		}
	}
}

func maxResourceList(list, other corev1.ResourceList) {
	for name, q := range other {
		if v, ok := list[name]; !ok || q.Cmp(v) > 0 {
			list[name] = q.DeepCopy()
		}
	}
}
