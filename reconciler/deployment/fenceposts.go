package deployment

import (
	appsv1 "k8s.io/api/apps/v1"
	intstrutil "k8s.io/apimachinery/pkg/util/intstr"
)

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func rsReplicas(rs *appsv1.ReplicaSet) int32 {
	if rs == nil || rs.Spec.Replicas == nil {
		return 0
	}
	return *rs.Spec.Replicas
}

func isRollingUpdate(d *appsv1.Deployment) bool {
	return d.Spec.Strategy.Type == appsv1.RollingUpdateDeploymentStrategyType || d.Spec.Strategy.Type == ""
}

// rollingParams returns the deployment's maxSurge and maxUnavailable,
// taking the API defaults (25%) for fields a client left unset.
func rollingParams(d *appsv1.Deployment) (surge, unavailable *intstrutil.IntOrString) {
	def := intstrutil.FromString("25%")
	surge, unavailable = &def, &def
	if ru := d.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			surge = ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			unavailable = ru.MaxUnavailable
		}
	}
	return surge, unavailable
}

// ResolveFenceposts resolves maxSurge (rounded up) and maxUnavailable
// (rounded down) against desired replicas. When both come to zero,
// maxUnavailable becomes 1: validation forbids both being zero
// explicitly, so a zero here comes from rounding down, and a rollout that
// could neither surge nor take a pod away would never progress.
func ResolveFenceposts(maxSurge, maxUnavailable *intstrutil.IntOrString, desired int32) (int32, int32, error) {
	surge, err := intstrutil.GetScaledValueFromIntOrPercent(intstrutil.ValueOrDefault(maxSurge, intstrutil.FromInt32(0)), int(desired), true)
	if err != nil {
		return 0, 0, err
	}
	unavailable, err := intstrutil.GetScaledValueFromIntOrPercent(intstrutil.ValueOrDefault(maxUnavailable, intstrutil.FromInt32(0)), int(desired), false)
	if err != nil {
		return 0, 0, err
	}
	if surge == 0 && unavailable == 0 {
		return 0, 1, nil
	}
	return int32(surge), int32(unavailable), nil
}

// MaxSurge is how many pods a rolling update may run above the desired
// count; 0 for Recreate.
func MaxSurge(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) {
		return 0
	}
	s, u := rollingParams(d)
	surge, _, _ := ResolveFenceposts(s, u, replicasOf(d))
	return surge
}

// MaxUnavailable is how many of the desired pods a rolling update may
// lack, at most the desired count; 0 for Recreate.
func MaxUnavailable(d *appsv1.Deployment) int32 {
	if !isRollingUpdate(d) || replicasOf(d) == 0 {
		return 0
	}
	s, u := rollingParams(d)
	_, unavailable, _ := ResolveFenceposts(s, u, replicasOf(d))
	return min(unavailable, replicasOf(d))
}

// newRSNewReplicas is how many replicas the new ReplicaSet may have now,
// as Kubernetes' NewRSNewReplicas: for a rolling update, up to the surge
// limit over all ReplicaSets' spec replicas, never past the desired count.
func newRSNewReplicas(d *appsv1.Deployment, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet) (int32, error) {
	if !isRollingUpdate(d) {
		return replicasOf(d), nil
	}
	s, _ := rollingParams(d)
	surge, err := intstrutil.GetScaledValueFromIntOrPercent(s, int(replicasOf(d)), true)
	if err != nil {
		return 0, err
	}
	current := specReplicas(all)
	maxTotal := replicasOf(d) + int32(surge)
	if current >= maxTotal {
		return rsReplicas(newRS), nil
	}
	up := min(maxTotal-current, replicasOf(d)-rsReplicas(newRS))
	return rsReplicas(newRS) + up, nil
}
