package defaults

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
)

// Built-in priority classes the Priority admission plugin resolves without a
// PriorityClass object (scheduling.k8s.io SystemPriorityClasses).
var systemPriorityClasses = map[string]int32{
	"system-node-critical":    2000001000,
	"system-cluster-critical": 2000000000,
}

// Pod sets the defaults of a Pod: those of its PodSpec, the Pod-only ones of
// SetDefaults_Pod and the priority the Priority admission plugin resolves.
func Pod(pod *corev1.Pod) {
	spec := &pod.Spec
	// Requests default to limits, only on Pods (not on templates).
	for i := range spec.Containers {
		requestsFromLimits(&spec.Containers[i].Resources)
	}
	for i := range spec.InitContainers {
		requestsFromLimits(&spec.InitContainers[i].Resources)
	}
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = ptrTo(corev1.DefaultEnableServiceLinks)
	}
	if spec.HostNetwork {
		hostNetworkPorts(spec.Containers)
		hostNetworkPorts(spec.InitContainers)
	}
	PodSpec(spec)
	priority(spec)
}

// priority mirrors the Priority admission plugin for the cases that need no
// PriorityClass lookup: no class (no global default class exists in cairn)
// and the two built-in system classes.
func priority(spec *corev1.PodSpec) {
	value, known := int32(0), spec.PriorityClassName == ""
	if v, ok := systemPriorityClasses[spec.PriorityClassName]; ok {
		value, known = v, true
	}
	if !known {
		return
	}
	if spec.Priority == nil {
		spec.Priority = ptrTo(value)
	}
	if spec.PreemptionPolicy == nil {
		spec.PreemptionPolicy = ptrTo(corev1.PreemptLowerPriority)
	}
}

func requestsFromLimits(r *corev1.ResourceRequirements) {
	if r.Limits == nil {
		return
	}
	if r.Requests == nil {
		r.Requests = make(corev1.ResourceList)
	}
	for name, limit := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = limit.DeepCopy()
		}
	}
}

func hostNetworkPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			p := &containers[i].Ports[j]
			if p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

// PodTemplateSpec sets the defaults of a pod template: those of its PodSpec
// only (Kubernetes keeps the Pod-only defaults off templates).
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	PodSpec(&t.Spec)
}

// PodSpec sets SetDefaults_PodSpec and the defaults of everything nested in a
// PodSpec: volumes, containers, probes, lifecycle handlers, resources.
func PodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptrTo(int64(corev1.DefaultTerminationGracePeriodSeconds))
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	for i := range spec.Volumes {
		volume(&spec.Volumes[i])
	}
	for i := range spec.InitContainers {
		container(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		container(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		container((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon))
	}
	resourceList(spec.Overhead)
	if spec.Resources != nil {
		resourceList(spec.Resources.Limits)
		resourceList(spec.Resources.Requests)
	}
}

func container(c *corev1.Container) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = pullPolicy(c.Image)
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		if c.Ports[i].Protocol == "" {
			c.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
	for i := range c.Env {
		if vf := c.Env[i].ValueFrom; vf != nil && vf.FieldRef != nil {
			objectFieldSelector(vf.FieldRef)
		}
	}
	resourceList(c.Resources.Limits)
	resourceList(c.Resources.Requests)
	probe(c.LivenessProbe)
	probe(c.ReadinessProbe)
	probe(c.StartupProbe)
	if c.Lifecycle != nil {
		lifecycleHandler(c.Lifecycle.PostStart)
		lifecycleHandler(c.Lifecycle.PreStop)
	}
}

// pullPolicy is Always for ":latest" and untagged images, IfNotPresent
// otherwise (including digests and names Kubernetes cannot parse).
func pullPolicy(image string) corev1.PullPolicy {
	if imageTag(image) == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func probe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = 1
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = 10
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = 1
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = 3
	}
	httpGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptrTo("")
	}
}

func lifecycleHandler(h *corev1.LifecycleHandler) {
	if h != nil {
		httpGet(h.HTTPGet)
	}
}

func httpGet(a *corev1.HTTPGetAction) {
	if a == nil {
		return
	}
	if a.Path == "" {
		a.Path = "/"
	}
	if a.Scheme == "" {
		a.Scheme = corev1.URISchemeHTTP
	}
}

func objectFieldSelector(s *corev1.ObjectFieldSelector) {
	if s.APIVersion == "" {
		s.APIVersion = "v1"
	}
}

func volume(v *corev1.Volume) {
	src := &v.VolumeSource
	if allPointersNil(src) {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if src.Image != nil && src.Image.PullPolicy == "" {
		src.Image.PullPolicy = pullPolicy(src.Image.Reference)
	}
	if src.HostPath != nil {
		hostPath(src.HostPath)
	}
	if s := src.Secret; s != nil && s.DefaultMode == nil {
		s.DefaultMode = ptrTo(corev1.SecretVolumeSourceDefaultMode)
	}
	if s := src.ConfigMap; s != nil && s.DefaultMode == nil {
		s.DefaultMode = ptrTo(corev1.ConfigMapVolumeSourceDefaultMode)
	}
	if s := src.DownwardAPI; s != nil {
		if s.DefaultMode == nil {
			s.DefaultMode = ptrTo(corev1.DownwardAPIVolumeSourceDefaultMode)
		}
		downwardAPIFiles(s.Items)
	}
	if s := src.Projected; s != nil {
		if s.DefaultMode == nil {
			s.DefaultMode = ptrTo(corev1.ProjectedVolumeSourceDefaultMode)
		}
		for i := range s.Sources {
			p := &s.Sources[i]
			if p.DownwardAPI != nil {
				downwardAPIFiles(p.DownwardAPI.Items)
			}
			if p.ServiceAccountToken != nil && p.ServiceAccountToken.ExpirationSeconds == nil {
				p.ServiceAccountToken.ExpirationSeconds = ptrTo(int64(3600))
			}
		}
	}
	if s := src.ISCSI; s != nil && s.ISCSIInterface == "" {
		s.ISCSIInterface = "default"
	}
	if s := src.RBD; s != nil {
		rbd(&s.RBDPool, &s.RadosUser, &s.Keyring)
	}
	if s := src.AzureDisk; s != nil {
		azureDisk(s)
	}
	if s := src.ScaleIO; s != nil {
		scaleIO(&s.StorageMode, &s.FSType)
	}
	if s := src.Ephemeral; s != nil && s.VolumeClaimTemplate != nil {
		persistentVolumeClaimSpec(&s.VolumeClaimTemplate.Spec)
	}
}

func downwardAPIFiles(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil {
			objectFieldSelector(items[i].FieldRef)
		}
	}
}

func hostPath(h *corev1.HostPathVolumeSource) {
	if h.Type == nil {
		h.Type = ptrTo(corev1.HostPathUnset)
	}
}

func rbd(pool, user, keyring *string) {
	if *pool == "" {
		*pool = "rbd"
	}
	if *user == "" {
		*user = "admin"
	}
	if *keyring == "" {
		*keyring = "/etc/ceph/keyring"
	}
}

func azureDisk(a *corev1.AzureDiskVolumeSource) {
	if a.CachingMode == nil {
		a.CachingMode = ptrTo(corev1.AzureDataDiskCachingReadWrite)
	}
	if a.FSType == nil {
		a.FSType = ptrTo("ext4")
	}
	if a.ReadOnly == nil {
		a.ReadOnly = ptrTo(false)
	}
	if a.Kind == nil {
		a.Kind = ptrTo(corev1.AzureSharedBlobDisk)
	}
}

func scaleIO(storageMode, fsType *string) {
	if *storageMode == "" {
		*storageMode = "ThinProvisioned"
	}
	if *fsType == "" {
		*fsType = "xfs"
	}
}

// allPointersNil reports whether every pointer field of the struct *v is nil
// (k8s.io/utils/ptr.AllPtrFieldsNil).
func allPointersNil(v any) bool {
	rv := reflect.ValueOf(v).Elem()
	for i := 0; i < rv.NumField(); i++ {
		if f := rv.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			return false
		}
	}
	return true
}
