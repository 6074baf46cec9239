package validation

import (
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const fileModeErrorMsg = "must be a number between 0 and 0777 (octal), both inclusive"

var supportedHostPathTypes = sets.New(corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket, corev1.HostPathCharDev, corev1.HostPathBlockDev)

// validateVolumes validates a PodSpec's volumes and returns the valid ones
// by name, for the volume mounts to refer to.
func validateVolumes(volumes []corev1.Volume, podMeta *metav1.ObjectMeta, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	names := sets.New[string]()
	created := sets.New[string]()
	if podMeta != nil && podMeta.Name != "" {
		for _, v := range volumes {
			if v.Ephemeral != nil {
				created.Insert(podMeta.Name + "-" + v.Name)
			}
		}
	}
	valid := map[string]corev1.VolumeSource{}
	for i := range volumes {
		v := &volumes[i]
		p := fldPath.Index(i)
		el := validateVolumeSource(&v.VolumeSource, p, v.Name, podMeta)
		if v.Name == "" {
			el = append(el, field.Required(p.Child("name"), ""))
		} else {
			el = append(el, validateDNS1123Label(v.Name, p.Child("name"))...)
		}
		if names.Has(v.Name) {
			el = append(el, field.Duplicate(p.Child("name"), v.Name))
		}
		if len(el) == 0 {
			names.Insert(v.Name)
			valid[v.Name] = v.VolumeSource
		} else {
			errs = append(errs, el...)
		}
		if v.PersistentVolumeClaim != nil && created.Has(v.PersistentVolumeClaim.ClaimName) {
			errs = append(errs, field.Invalid(p.Child("persistentVolumeClaim", "claimName"), v.PersistentVolumeClaim.ClaimName,
				"must not reference a PVC that gets created for an ephemeral volume"))
		}
	}
	return valid, errs
}

// validateVolumeSource requires exactly one source, checked in Kubernetes'
// order (the second and later get "may not specify more than 1 volume type").
func validateVolumeSource(src *corev1.VolumeSource, fldPath *field.Path, volName string, podMeta *metav1.ObjectMeta) field.ErrorList {
	var errs field.ErrorList
	n := 0
	one := func(name string, set bool, check func(*field.Path) field.ErrorList) {
		if !set {
			return
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(fldPath.Child(name), "may not specify more than 1 volume type"))
			return
		}
		n++
		if check != nil {
			errs = append(errs, check(fldPath.Child(name))...)
		}
	}
	one("emptyDir", src.EmptyDir != nil, func(p *field.Path) field.ErrorList {
		if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() < 0 {
			return field.ErrorList{field.Forbidden(p.Child("sizeLimit"), "SizeLimit field must be a valid resource quantity")}
		}
		return nil
	})
	one("hostPath", src.HostPath != nil, func(p *field.Path) field.ErrorList {
		if src.HostPath.Path == "" {
			return field.ErrorList{field.Required(p.Child("path"), "")}
		}
		errs := validatePathNoBacksteps(src.HostPath.Path, p.Child("path"))
		if t := src.HostPath.Type; t != nil && !supportedHostPathTypes.Has(*t) {
			errs = append(errs, field.NotSupported(p.Child("type"), t, sets.List(supportedHostPathTypes)))
		}
		return errs
	})
	one("gitRepo", src.GitRepo != nil, func(p *field.Path) field.ErrorList {
		var errs field.ErrorList
		if src.GitRepo.Repository == "" {
			errs = append(errs, field.Required(p.Child("repository"), ""))
		}
		return append(errs, validateLocalDescendingPath(src.GitRepo.Directory, p.Child("directory"))...)
	})
	one("gcePersistentDisk", src.GCEPersistentDisk != nil, func(*field.Path) field.ErrorList {
		// Kubernetes reports these under "persistentDisk".
		return requiredString(src.GCEPersistentDisk.PDName, fldPath.Child("persistentDisk", "pdName"))
	})
	one("awsElasticBlockStore", src.AWSElasticBlockStore != nil, func(p *field.Path) field.ErrorList {
		return requiredString(src.AWSElasticBlockStore.VolumeID, p.Child("volumeID"))
	})
	one("secret", src.Secret != nil, func(p *field.Path) field.ErrorList {
		errs := requiredString(src.Secret.SecretName, p.Child("secretName"))
		errs = append(errs, validateFileMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		return append(errs, validateKeyToPaths(src.Secret.Items, p.Child("items"))...)
	})
	one("nfs", src.NFS != nil, func(p *field.Path) field.ErrorList {
		errs := requiredString(src.NFS.Server, p.Child("server"))
		errs = append(errs, requiredString(src.NFS.Path, p.Child("path"))...)
		if !path.IsAbs(src.NFS.Path) {
			errs = append(errs, field.Invalid(p.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
		return errs
	})
	one("iscsi", src.ISCSI != nil, func(p *field.Path) field.ErrorList {
		errs := requiredString(src.ISCSI.TargetPortal, p.Child("targetPortal"))
		return append(errs, requiredString(src.ISCSI.IQN, p.Child("iqn"))...)
	})
	one("glusterfs", src.Glusterfs != nil, func(p *field.Path) field.ErrorList {
		errs := requiredString(src.Glusterfs.EndpointsName, p.Child("endpoints"))
		return append(errs, requiredString(src.Glusterfs.Path, p.Child("path"))...)
	})
	one("flocker", src.Flocker != nil, nil)
	one("persistentVolumeClaim", src.PersistentVolumeClaim != nil, func(p *field.Path) field.ErrorList {
		return requiredString(src.PersistentVolumeClaim.ClaimName, p.Child("claimName"))
	})
	one("rbd", src.RBD != nil, func(p *field.Path) field.ErrorList {
		var errs field.ErrorList
		if len(src.RBD.CephMonitors) == 0 {
			errs = append(errs, field.Required(p.Child("monitors"), ""))
		}
		return append(errs, requiredString(src.RBD.RBDImage, p.Child("image"))...)
	})
	one("cinder", src.Cinder != nil, func(p *field.Path) field.ErrorList {
		return requiredString(src.Cinder.VolumeID, p.Child("volumeID"))
	})
	one("cephFS", src.CephFS != nil, func(*field.Path) field.ErrorList {
		if len(src.CephFS.Monitors) == 0 {
			return field.ErrorList{field.Required(fldPath.Child("cephfs", "monitors"), "")}
		}
		return nil
	})
	one("quobyte", src.Quobyte != nil, nil)
	// "downwarAPI" is Kubernetes' own spelling of this path.
	one("downwarAPI", src.DownwardAPI != nil, func(*field.Path) field.ErrorList {
		p := fldPath.Child("downwardAPI")
		errs := validateFileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))
		for _, f := range src.DownwardAPI.Items {
			errs = append(errs, validateDownwardAPIVolumeFile(&f, p)...)
		}
		return errs
	})
	one("fc", src.FC != nil, nil)
	one("flexVolume", src.FlexVolume != nil, func(p *field.Path) field.ErrorList {
		return requiredString(src.FlexVolume.Driver, p.Child("driver"))
	})
	one("configMap", src.ConfigMap != nil, func(p *field.Path) field.ErrorList {
		errs := requiredString(src.ConfigMap.Name, p.Child("name"))
		errs = append(errs, validateFileMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		return append(errs, validateKeyToPaths(src.ConfigMap.Items, p.Child("items"))...)
	})
	one("azureFile", src.AzureFile != nil, func(p *field.Path) field.ErrorList {
		errs := requiredString(src.AzureFile.SecretName, p.Child("secretName"))
		return append(errs, requiredString(src.AzureFile.ShareName, p.Child("shareName"))...)
	})
	one("vsphereVolume", src.VsphereVolume != nil, nil)
	one("photonPersistentDisk", src.PhotonPersistentDisk != nil, nil)
	one("portworxVolume", src.PortworxVolume != nil, nil)
	one("azureDisk", src.AzureDisk != nil, func(p *field.Path) field.ErrorList {
		errs := requiredString(src.AzureDisk.DiskName, p.Child("diskName"))
		return append(errs, requiredString(src.AzureDisk.DataDiskURI, p.Child("diskURI"))...)
	})
	one("storageos", src.StorageOS != nil, nil)
	one("projected", src.Projected != nil, func(p *field.Path) field.ErrorList {
		return validateProjectedVolumeSource(src.Projected, p)
	})
	one("scaleIO", src.ScaleIO != nil, nil)
	one("csi", src.CSI != nil, func(p *field.Path) field.ErrorList {
		if src.CSI.Driver == "" {
			return field.ErrorList{field.Required(p.Child("driver"), "")}
		}
		return nil
	})
	one("ephemeral", src.Ephemeral != nil, func(p *field.Path) field.ErrorList {
		t := src.Ephemeral.VolumeClaimTemplate
		if t == nil {
			return field.ErrorList{field.Required(p.Child("volumeClaimTemplate"), "")}
		}
		errs := validatePersistentVolumeClaimSpec(&t.Spec, p.Child("volumeClaimTemplate", "spec"))
		if podMeta != nil && podMeta.Name != "" && volName != "" {
			pvcName := podMeta.Name + "-" + volName
			for _, msg := range subdomain(pvcName, false) {
				errs = append(errs, field.Invalid(fldPath.Child("name"), volName, "PVC name \""+pvcName+"\": "+msg))
			}
		}
		return errs
	})
	one("image", src.Image != nil, func(p *field.Path) field.ErrorList {
		var errs field.ErrorList
		if podMeta != nil && src.Image.Reference == "" {
			errs = append(errs, field.Required(p.Child("reference"), ""))
		}
		switch src.Image.PullPolicy {
		case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		case "":
			errs = append(errs, field.Required(p.Child("pullPolicy"), ""))
		default:
			errs = append(errs, field.NotSupported(p.Child("pullPolicy"), src.Image.PullPolicy, sets.List(supportedPullPolicies)))
		}
		return errs
	})
	if n == 0 {
		errs = append(errs, field.Required(fldPath, "must specify a volume type"))
	}
	return errs
}

func requiredString(s string, fldPath *field.Path) field.ErrorList {
	if s == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return nil
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, fileModeErrorMsg)}
	}
	return nil
}

func validateKeyToPaths(items []corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, kp := range items {
		p := fldPath.Index(i)
		errs = append(errs, requiredString(kp.Key, p.Child("key"))...)
		errs = append(errs, requiredString(kp.Path, p.Child("path"))...)
		errs = append(errs, validateLocalNonReservedPath(kp.Path, p.Child("path"))...)
		errs = append(errs, validateFileMode(kp.Mode, p.Child("mode"))...)
	}
	return errs
}

func validateDownwardAPIVolumeFile(f *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	errs := requiredString(f.Path, fldPath.Child("path"))
	errs = append(errs, validateLocalNonReservedPath(f.Path, fldPath.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		errs = append(errs, validateObjectFieldSelector(f.FieldRef, validVolumeFieldPaths, fldPath.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			errs = append(errs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		errs = append(errs, validateResourceFieldSelector(f.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		errs = append(errs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	return append(errs, validateFileMode(f.Mode, fldPath.Child("mode"))...)
}

func validateProjectedVolumeSource(pv *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	errs := validateFileMode(pv.DefaultMode, fldPath.Child("defaultMode"))
	paths := sets.New[string]()
	addPaths := func(items []corev1.KeyToPath, name string) {
		for _, kp := range items {
			if kp.Path == "" {
				continue
			}
			if paths.Has(kp.Path) {
				errs = append(errs, field.Invalid(fldPath, name, "conflicting duplicate paths"))
			}
			paths.Insert(kp.Path)
		}
	}
	for i, s := range pv.Sources {
		n := 0
		sp := fldPath.Child("sources").Index(i)
		if s.Secret != nil {
			n++
			p := sp.Child("secret")
			errs = append(errs, requiredString(s.Secret.Name, p.Child("name"))...)
			errs = append(errs, validateKeyToPaths(s.Secret.Items, p.Child("items"))...)
			addPaths(s.Secret.Items, s.Secret.Name)
		}
		if s.ConfigMap != nil {
			n++
			p := sp.Child("configMap")
			errs = append(errs, requiredString(s.ConfigMap.Name, p.Child("name"))...)
			errs = append(errs, validateKeyToPaths(s.ConfigMap.Items, p.Child("items"))...)
			addPaths(s.ConfigMap.Items, s.ConfigMap.Name)
		}
		if s.DownwardAPI != nil {
			n++
			p := sp.Child("downwardAPI")
			for _, f := range s.DownwardAPI.Items {
				errs = append(errs, validateDownwardAPIVolumeFile(&f, p)...)
				if f.Path != "" {
					if paths.Has(f.Path) {
						errs = append(errs, field.Invalid(fldPath, f.Path, "conflicting duplicate paths"))
					}
					paths.Insert(f.Path)
				}
			}
		}
		if t := s.ServiceAccountToken; t != nil {
			n++
			p := sp.Child("serviceAccountToken")
			exp := int64(3600)
			if t.ExpirationSeconds != nil {
				exp = *t.ExpirationSeconds
			}
			if exp < 10*60 {
				errs = append(errs, field.Invalid(p.Child("expirationSeconds"), exp, "may not specify a duration less than 10 minutes"))
			}
			if exp > 1<<32 {
				errs = append(errs, field.Invalid(p.Child("expirationSeconds"), exp, "may not specify a duration larger than 2^32 seconds"))
			}
			if t.Path == "" {
				errs = append(errs, field.Required(fldPath.Child("path"), ""))
			} else {
				errs = append(errs, validateLocalNonReservedPath(t.Path, fldPath.Child("path"))...)
			}
		}
		if s.ClusterTrustBundle != nil {
			n++
		}
		if s.PodCertificate != nil {
			n++
		}
		if n > 1 {
			errs = append(errs, field.Forbidden(sp, "may not specify more than 1 volume type per source"))
		}
	}
	return errs
}

// Path checks of core validation.

func validateLocalDescendingPath(targetPath string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if path.IsAbs(targetPath) {
		errs = append(errs, field.Invalid(fldPath, targetPath, "must be a relative path"))
	}
	return append(errs, validatePathNoBacksteps(targetPath, fldPath)...)
}

func validatePathNoBacksteps(targetPath string, fldPath *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(targetPath), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fldPath, targetPath, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalNonReservedPath(targetPath string, fldPath *field.Path) field.ErrorList {
	errs := validateLocalDescendingPath(targetPath, fldPath)
	if strings.HasPrefix(targetPath, "..") && !strings.HasPrefix(targetPath, "../") {
		errs = append(errs, field.Invalid(fldPath, targetPath, "must not start with '..'"))
	}
	return errs
}
