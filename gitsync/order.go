package gitsync

// applyRank orders a revision's objects so that what others depend on
// exists first: namespaces, then admission policies and RBAC, limit
// ranges, service accounts, configuration, storage, services, and
// workloads last. Pruning runs in the reverse order.
func applyRank(group, kind string) int {
	switch kind {
	case "Namespace":
		return 0
	case "StorageClass", "PriorityClass":
		return 1
	case "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding":
		return 2
	case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		return 3
	case "LimitRange", "ResourceQuota":
		return 4
	case "ServiceAccount":
		return 5
	case "ConfigMap", "Secret":
		return 6
	case "PersistentVolume":
		return 7
	case "PersistentVolumeClaim":
		return 8
	case "Service":
		return 9
	case "Endpoints", "EndpointSlice":
		return 10
	case "DaemonSet", "Deployment", "StatefulSet", "ReplicaSet", "ReplicationController", "Job", "CronJob":
		return 12
	case "Pod":
		return 13
	case "GitRepository":
		return 14
	}
	return 11
}
