package builtin

import (
	"context"
	"fmt"
	"sort"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/cairn-dev/cairn/policies"
)

const (
	nodeUserPrefix = "system:node:"
	nodesGroup     = "system:nodes"
)

var (
	nodeResource    = schema.GroupResource{Resource: "nodes"}
	svcacctResource = schema.GroupResource{Resource: "serviceaccounts"}
	leaseResource   = schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	csiNodeResource = schema.GroupResource{Group: "storage.k8s.io", Resource: "csinodes"}
)

// PodGetter reads one Pod; it returns a NotFound *apierrors.StatusError
// when the pod does not exist.
type PodGetter interface {
	GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error)
}

// NodeGetter reads one Node; it returns a NotFound *apierrors.StatusError
// when the node does not exist.
type NodeGetter interface {
	GetNode(ctx context.Context, name string) (*corev1.Node, error)
}

// NodeRestrictionOption gives NodeRestriction a way to look objects up.
type NodeRestrictionOption func(*nodeRestriction)

// WithPods lets NodeRestriction look pods up, as Kubernetes does for pod
// evictions and pod-bound service account tokens.
func WithPods(p PodGetter) NodeRestrictionOption { return func(n *nodeRestriction) { n.pods = p } }

// WithNodes lets NodeRestriction look nodes up, as Kubernetes does to
// check the node UID in a mirror pod's owner reference.
func WithNodes(g NodeGetter) NodeRestrictionOption { return func(n *nodeRestriction) { n.nodes = g } }

// NodeRestriction is Kubernetes' NodeRestriction plugin. It restricts only
// users named system:node:<name> in the group system:nodes:
//
//   - nodes, nodes/status: only its own Node; on create no configSource and
//     no labels outside the kubelet's set; on update no new configSource, no
//     taint changes and no label changes outside the kubelet's set. The
//     kubelet's set is kubernetes.io/hostname, kubernetes.io/os,
//     kubernetes.io/arch, beta.kubernetes.io/{os,arch,instance-type},
//     topology.kubernetes.io/{zone,region},
//     failure-domain.beta.kubernetes.io/{zone,region}, and any key under
//     (*.)kubelet.kubernetes.io/ or (*.)node.kubernetes.io/; other
//     kubernetes.io and k8s.io keys and node-restriction.kubernetes.io keys
//     are forbidden. Other labels are allowed.
//   - pods: create only mirror pods (annotation kubernetes.io/config.mirror)
//     bound to itself, owned by its Node, referencing no service account,
//     secret, configmap, cluster trust bundle or claim; delete only pods
//     bound to itself (read from OldObject, the stored pod); no other
//     operation.
//   - pods/status: update only pods bound to itself, without changing labels
//     or resource claim statuses. pods/eviction: only pods bound to itself.
//     Any other pod subresource is forbidden.
//   - persistentvolumeclaims: only status updates, changing nothing but
//     status capacity, conditions and allocated resources.
//   - serviceaccounts/token: only tokens bound to a pod (with a uid)
//     scheduled on itself.
//   - leases: only in kube-node-lease, only the one named after itself.
//   - csinodes: only its own.
//
// Everything else, events included, is left to authorization.
//
// Pod evictions and token requests name a pod the request does not carry:
// with WithPods it is looked up and checked as Kubernetes does; without,
// an eviction is checked against OldObject when that is the pod, and
// otherwise the lookup-dependent checks are skipped. Without WithNodes the
// mirror pod owner's UID is not compared with the Node's.
func NodeRestriction(opts ...NodeRestrictionOption) policies.Validating {
	n := &nodeRestriction{}
	for _, o := range opts {
		o(n)
	}
	return n
}

type nodeRestriction struct {
	pods  PodGetter
	nodes NodeGetter
}

func (*nodeRestriction) Name() string { return "NodeRestriction" }

// nodeIdentity is Kubernetes' default node identifier.
func nodeIdentity(u policies.UserInfo) (string, bool) {
	if !strings.HasPrefix(u.Name, nodeUserPrefix) {
		return "", false
	}
	for _, g := range u.Groups {
		if g == nodesGroup {
			return strings.TrimPrefix(u.Name, nodeUserPrefix), true
		}
	}
	return "", false
}

func (n *nodeRestriction) Validate(ctx context.Context, a *policies.Attributes) (policies.Result, error) {
	switch a.Operation {
	case policies.Create, policies.Update, policies.Delete:
	default:
		return policies.Result{}, nil
	}
	nodeName, isNode := nodeIdentity(a.User)
	if !isNode {
		return policies.Result{}, nil
	}
	return policies.Result{}, n.admit(ctx, nodeName, a)
}

func (n *nodeRestriction) admit(ctx context.Context, nodeName string, a *policies.Attributes) error {
	if nodeName == "" {
		return forbidden(a, fmt.Errorf("could not determine node from user %q", a.User.Name))
	}
	switch a.Resource.GroupResource() {
	case podResource:
		switch a.Subresource {
		case "":
			return n.admitPod(ctx, nodeName, a)
		case "status":
			return admitPodStatus(nodeName, a)
		case "eviction":
			return n.admitPodEviction(ctx, nodeName, a)
		default:
			return forbidden(a, fmt.Errorf("unexpected pod subresource %q, only 'status' and 'eviction' are allowed", a.Subresource))
		}
	case nodeResource:
		return admitNode(nodeName, a)
	case pvcsGroup:
		if a.Subresource != "status" {
			return forbidden(a, fmt.Errorf("may only update PVC status"))
		}
		return admitPVCStatus(nodeName, a)
	case svcacctResource:
		return n.admitServiceAccount(ctx, nodeName, a)
	case leaseResource:
		return admitLease(nodeName, a)
	case csiNodeResource:
		return admitCSINode(nodeName, a)
	}
	return nil
}

func (n *nodeRestriction) admitPod(ctx context.Context, nodeName string, a *policies.Attributes) error {
	switch a.Operation {
	case policies.Create:
		return n.admitPodCreate(ctx, nodeName, a)
	case policies.Delete:
		existing, ok := typed[corev1.Pod](a.OldObject)
		if !ok {
			if a.OldObject != nil {
				return unexpectedType(a, a.OldObject)
			}
			return apierrors.NewNotFound(podResource, a.Name)
		}
		if existing.Spec.NodeName != nodeName {
			return forbidden(a, fmt.Errorf("node %q can only delete pods with spec.nodeName set to itself", nodeName))
		}
		return nil
	default:
		return forbidden(a, fmt.Errorf("unexpected operation %q, node %q can only create and delete mirror pods", a.Operation, nodeName))
	}
}

func (n *nodeRestriction) admitPodCreate(ctx context.Context, nodeName string, a *policies.Attributes) error {
	pod, ok := typed[corev1.Pod](a.Object)
	if !ok {
		return unexpectedType(a, a.Object)
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; !mirror {
		return forbidden(a, fmt.Errorf("pod does not have %q annotation, node %q can only create mirror pods", corev1.MirrorPodAnnotationKey, nodeName))
	}
	if pod.Spec.NodeName != nodeName {
		return forbidden(a, fmt.Errorf("node %q can only create pods with spec.nodeName set to itself", nodeName))
	}
	switch len(pod.OwnerReferences) {
	case 0:
		return forbidden(a, fmt.Errorf("node %q can only create pods with an owner reference set to itself", nodeName))
	case 1:
	default:
		return forbidden(a, fmt.Errorf("node %q can only create pods with a single owner reference set to itself", nodeName))
	}
	owner := pod.OwnerReferences[0]
	if owner.APIVersion != "v1" || owner.Kind != "Node" || owner.Name != nodeName {
		return forbidden(a, fmt.Errorf("node %q can only create pods with an owner reference set to itself", nodeName))
	}
	if owner.Controller == nil || !*owner.Controller {
		return forbidden(a, fmt.Errorf("node %q can only create pods with a controller owner reference set to itself", nodeName))
	}
	if owner.BlockOwnerDeletion != nil && *owner.BlockOwnerDeletion {
		return forbidden(a, fmt.Errorf("node %q must not set blockOwnerDeletion on an owner reference", nodeName))
	}
	if n.nodes != nil {
		node, err := n.nodes.GetNode(ctx, nodeName)
		if apierrors.IsNotFound(err) {
			return err
		}
		if err != nil {
			return forbidden(a, fmt.Errorf("error looking up node %s to verify uid: %v", nodeName, err))
		}
		if owner.UID != node.UID {
			return forbidden(a, fmt.Errorf("node %s UID mismatch: expected %s got %s", nodeName, owner.UID, node.UID))
		}
	}
	if pod.Spec.ServiceAccountName != "" {
		return forbidden(a, fmt.Errorf("node %q can not create pods that reference a service account", nodeName))
	}
	secrets, configMaps := podReferences(pod)
	if secrets {
		return forbidden(a, fmt.Errorf("node %q can not create pods that reference secrets", nodeName))
	}
	if configMaps {
		return forbidden(a, fmt.Errorf("node %q can not create pods that reference configmaps", nodeName))
	}
	for _, v := range pod.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ClusterTrustBundle != nil {
					return forbidden(a, fmt.Errorf("node %q can not create pods that reference clustertrustbundles", nodeName))
				}
			}
		}
	}
	for _, v := range pod.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			return forbidden(a, fmt.Errorf("node %q can not create pods that reference persistentvolumeclaims", nodeName))
		}
	}
	return nil
}

// podReferences reports whether a pod names any secret or configmap, as
// Kubernetes' VisitPodSecretNames and VisitPodConfigmapNames see them.
func podReferences(pod *corev1.Pod) (secrets, configMaps bool) {
	if len(pod.Spec.ImagePullSecrets) > 0 {
		secrets = true
	}
	visitContainer := func(c *corev1.Container) {
		for _, e := range c.EnvFrom {
			if e.SecretRef != nil {
				secrets = true
			}
			if e.ConfigMapRef != nil {
				configMaps = true
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom == nil {
				continue
			}
			if e.ValueFrom.SecretKeyRef != nil {
				secrets = true
			}
			if e.ValueFrom.ConfigMapKeyRef != nil {
				configMaps = true
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		visitContainer(&pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		visitContainer(&pod.Spec.Containers[i])
	}
	for i := range pod.Spec.EphemeralContainers {
		visitContainer((*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	for _, v := range pod.Spec.Volumes {
		s := v.VolumeSource
		switch {
		case s.Secret != nil, s.AzureFile != nil:
			secrets = true
		case s.CephFS != nil && s.CephFS.SecretRef != nil,
			s.Cinder != nil && s.Cinder.SecretRef != nil,
			s.FlexVolume != nil && s.FlexVolume.SecretRef != nil,
			s.ISCSI != nil && s.ISCSI.SecretRef != nil,
			s.RBD != nil && s.RBD.SecretRef != nil,
			s.ScaleIO != nil && s.ScaleIO.SecretRef != nil,
			s.StorageOS != nil && s.StorageOS.SecretRef != nil,
			s.CSI != nil && s.CSI.NodePublishSecretRef != nil:
			secrets = true
		case s.ConfigMap != nil:
			configMaps = true
		case s.Projected != nil:
			for _, p := range s.Projected.Sources {
				if p.Secret != nil {
					secrets = true
				}
				if p.ConfigMap != nil {
					configMaps = true
				}
			}
		}
	}
	return secrets, configMaps
}

func admitPodStatus(nodeName string, a *policies.Attributes) error {
	if a.Operation != policies.Update {
		return forbidden(a, fmt.Errorf("unexpected operation %q", a.Operation))
	}
	oldPod, ok := typed[corev1.Pod](a.OldObject)
	if !ok {
		return unexpectedType(a, a.OldObject)
	}
	if oldPod.Spec.NodeName != nodeName {
		return forbidden(a, fmt.Errorf("node %q can only update pod status for pods with spec.nodeName set to itself", nodeName))
	}
	newPod, ok := typed[corev1.Pod](a.Object)
	if !ok {
		return unexpectedType(a, a.Object)
	}
	if !labelsEqual(oldPod.Labels, newPod.Labels) {
		return forbidden(a, fmt.Errorf("node %q cannot update labels through pod status", nodeName))
	}
	if !claimStatusesEqual(oldPod.Status.ResourceClaimStatuses, newPod.Status.ResourceClaimStatuses) {
		return forbidden(a, fmt.Errorf("node %q cannot update resource claim statues", nodeName))
	}
	return nil
}

func labelsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

func claimStatusesEqual(a, b []corev1.PodResourceClaimStatus) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name {
			return false
		}
		x, y := a[i].ResourceClaimName, b[i].ResourceClaimName
		if (x == nil) != (y == nil) || (x != nil && *x != *y) {
			return false
		}
	}
	return true
}

func (n *nodeRestriction) admitPodEviction(ctx context.Context, nodeName string, a *policies.Attributes) error {
	if a.Operation != policies.Create {
		return forbidden(a, fmt.Errorf("unexpected operation %s", a.Operation))
	}
	podName := a.Name
	if podName == "" {
		eviction, ok := typed[policyv1.Eviction](a.Object)
		if !ok {
			return unexpectedType(a, a.Object)
		}
		if eviction.Name == "" {
			return forbidden(a, fmt.Errorf("could not determine pod from request data"))
		}
		podName = eviction.Name
	}
	var existing *corev1.Pod
	if n.pods != nil {
		p, err := n.pods.GetPod(ctx, a.Namespace, podName)
		if apierrors.IsNotFound(err) {
			return err
		}
		if err != nil {
			return forbidden(a, err)
		}
		existing = p
	} else if p, ok := typed[corev1.Pod](a.OldObject); ok && p.Name == podName {
		existing = p
	}
	if existing != nil && existing.Spec.NodeName != nodeName {
		return forbidden(a, fmt.Errorf("node %s can only evict pods with spec.nodeName set to itself", nodeName))
	}
	return nil
}

func admitPVCStatus(nodeName string, a *policies.Attributes) error {
	if a.Operation != policies.Update {
		return forbidden(a, fmt.Errorf("unexpected operation %q", a.Operation))
	}
	oldPVC, ok := typed[corev1.PersistentVolumeClaim](a.OldObject)
	if !ok {
		return unexpectedType(a, a.OldObject)
	}
	newPVC, ok := typed[corev1.PersistentVolumeClaim](a.Object)
	if !ok {
		return unexpectedType(a, a.Object)
	}
	oldPVC, newPVC = oldPVC.DeepCopy(), newPVC.DeepCopy()
	for _, p := range []*corev1.PersistentVolumeClaim{oldPVC, newPVC} {
		p.ResourceVersion = ""
		p.ManagedFields = nil
		p.Status.Capacity = nil
		p.Status.Conditions = nil
		p.Status.AllocatedResourceStatuses = nil
		p.Status.AllocatedResources = nil
	}
	if !equality.Semantic.DeepEqual(oldPVC, newPVC) {
		return forbidden(a, fmt.Errorf("node %q is not allowed to update fields other than status.capacity and status.conditions", nodeName))
	}
	return nil
}

func admitNode(nodeName string, a *policies.Attributes) error {
	requested := a.Name
	if requested == "" && a.Operation == policies.Create && a.Object != nil {
		if m, err := meta.Accessor(a.Object); err == nil {
			requested = m.GetName()
		}
	}
	if requested != nodeName {
		return forbidden(a, fmt.Errorf("node %q is not allowed to modify node %q", nodeName, requested))
	}
	switch a.Operation {
	case policies.Create:
		node, ok := typed[corev1.Node](a.Object)
		if !ok {
			return unexpectedType(a, a.Object)
		}
		if node.Spec.ConfigSource != nil {
			return forbidden(a, fmt.Errorf("node %q is not allowed to create pods with a non-nil configSource", nodeName))
		}
		if bad := forbiddenLabels(modifiedLabels(node.Labels, nil)); len(bad) > 0 {
			return forbidden(a, fmt.Errorf("node %q is not allowed to set the following labels: %s", nodeName, strings.Join(bad, ", ")))
		}
	case policies.Update:
		node, ok := typed[corev1.Node](a.Object)
		if !ok {
			return unexpectedType(a, a.Object)
		}
		oldNode, ok := typed[corev1.Node](a.OldObject)
		if !ok {
			return unexpectedType(a, a.Object)
		}
		if node.Spec.ConfigSource != nil && !equality.Semantic.DeepEqual(node.Spec.ConfigSource, oldNode.Spec.ConfigSource) {
			return forbidden(a, fmt.Errorf("node %q is not allowed to update configSource to a new non-nil configSource", nodeName))
		}
		if !equality.Semantic.DeepEqual(node.Spec.Taints, oldNode.Spec.Taints) {
			return forbidden(a, fmt.Errorf("node %q is not allowed to modify taints", nodeName))
		}
		if bad := forbiddenLabels(modifiedLabels(node.Labels, oldNode.Labels)); len(bad) > 0 {
			return forbidden(a, fmt.Errorf("is not allowed to modify labels: %s", strings.Join(bad, ", ")))
		}
	}
	return nil
}

// modifiedLabels returns the keys added, removed or changed between a and b.
func modifiedLabels(a, b map[string]string) []string {
	set := map[string]bool{}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			set[k] = true
		}
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || v != w {
			set[k] = true
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// kubeletLabels are the keys a kubelet may set on its own Node
// (k8s.io/kubelet/pkg/apis.IsKubeletLabel).
var kubeletLabels = map[string]bool{
	corev1.LabelHostname:                true,
	corev1.LabelTopologyZone:            true,
	corev1.LabelTopologyRegion:          true,
	corev1.LabelFailureDomainBetaZone:   true,
	corev1.LabelFailureDomainBetaRegion: true,
	corev1.LabelInstanceType:            true,
	corev1.LabelInstanceTypeStable:      true,
	corev1.LabelOSStable:                true,
	corev1.LabelArchStable:              true,
	"beta.kubernetes.io/os":             true,
	"beta.kubernetes.io/arch":           true,
}

var kubeletLabelNamespaces = []string{corev1.LabelNamespaceSuffixKubelet, corev1.LabelNamespaceSuffixNode}

func labelNamespace(key string) string {
	if ns, _, ok := strings.Cut(key, "/"); ok {
		return ns
	}
	return ""
}

func inNamespace(ns, domain string) bool { return ns == domain || strings.HasSuffix(ns, "."+domain) }

func isKubeletLabel(key string) bool {
	if kubeletLabels[key] {
		return true
	}
	ns := labelNamespace(key)
	for _, allowed := range kubeletLabelNamespaces {
		if inNamespace(ns, allowed) {
			return true
		}
	}
	return false
}

// forbiddenLabels returns, sorted, the keys a node may not add, remove or
// change on its own Node.
func forbiddenLabels(keys []string) []string {
	var bad []string
	for _, k := range keys {
		ns := labelNamespace(k)
		isKube := inNamespace(ns, "kubernetes.io") || inNamespace(ns, "k8s.io")
		if inNamespace(ns, corev1.LabelNamespaceNodeRestriction) || (isKube && !isKubeletLabel(k)) {
			bad = append(bad, k)
		}
	}
	return bad
}

func (n *nodeRestriction) admitServiceAccount(ctx context.Context, nodeName string, a *policies.Attributes) error {
	if a.Operation != policies.Create || a.Subresource != "token" {
		return nil
	}
	tr, ok := typed[authenticationv1.TokenRequest](a.Object)
	if !ok {
		return unexpectedType(a, a.Object)
	}
	ref := tr.Spec.BoundObjectRef
	if ref == nil || ref.APIVersion != "v1" || ref.Kind != "Pod" || ref.Name == "" {
		return forbidden(a, fmt.Errorf("node requested token not bound to a pod"))
	}
	if ref.UID == "" {
		return forbidden(a, fmt.Errorf("node requested token with a pod binding without a uid"))
	}
	if n.pods == nil {
		return nil
	}
	pod, err := n.pods.GetPod(ctx, a.Namespace, ref.Name)
	if apierrors.IsNotFound(err) {
		return err
	}
	if err != nil {
		return forbidden(a, err)
	}
	if ref.UID != pod.UID {
		return forbidden(a, fmt.Errorf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.NodeName != nodeName {
		return forbidden(a, fmt.Errorf("node requested token bound to a pod scheduled on a different node"))
	}
	return nil
}

func admitLease(nodeName string, a *policies.Attributes) error {
	if a.Namespace != corev1.NamespaceNodeLease {
		return forbidden(a, fmt.Errorf("can only access leases in the %q system namespace", corev1.NamespaceNodeLease))
	}
	name := a.Name
	if a.Operation == policies.Create {
		lease, ok := typed[coordinationv1.Lease](a.Object)
		if !ok {
			return unexpectedType(a, a.Object)
		}
		name = lease.Name
	}
	if name != nodeName {
		return forbidden(a, fmt.Errorf("can only access node lease with the same name as the requesting node"))
	}
	return nil
}

func admitCSINode(nodeName string, a *policies.Attributes) error {
	name := a.Name
	if a.Operation == policies.Create {
		m, err := meta.Accessor(a.Object)
		if err != nil || a.Object == nil {
			return forbidden(a, fmt.Errorf("unable to access the object name"))
		}
		name = m.GetName()
	}
	if name != nodeName {
		return forbidden(a, fmt.Errorf("can only access CSINode with the same name as the requesting node"))
	}
	return nil
}
