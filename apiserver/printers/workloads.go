package printers

import (
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Printers of the replicated workloads: ReplicationController, Deployment,
// ReplicaSet, StatefulSet, DaemonSet and ControllerRevision. The column descriptions come from
// the same API documentation Kubernetes quotes.
func init() {
	rcSpec := corev1.ReplicationControllerSpec{}.SwaggerDoc()
	rcStatus := corev1.ReplicationControllerStatus{}.SwaggerDoc()
	register("", "ReplicationController", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", rcSpec["replicas"]),
		column("Current", "integer", rcStatus["replicas"]),
		column("Ready", "integer", rcStatus["readyReplicas"]),
		ageColumn(),
		containerNamesColumn,
		containerImagesColumn,
		wideColumn("Selector", "string", rcSpec["selector"]),
	}, replicationControllerCells))

	deploySpec := extensionsv1beta1.DeploymentSpec{}.SwaggerDoc()
	deployStatus := extensionsv1beta1.DeploymentStatus{}.SwaggerDoc()
	register("apps", "Deployment", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		column("Up-to-date", "string", deployStatus["updatedReplicas"]),
		column("Available", "string", deployStatus["availableReplicas"]),
		ageColumn(),
		containerNamesColumn,
		containerImagesColumn,
		wideColumn("Selector", "string", deploySpec["selector"]),
	}, deploymentCells))

	rsSpec := extensionsv1beta1.ReplicaSetSpec{}.SwaggerDoc()
	rsStatus := extensionsv1beta1.ReplicaSetStatus{}.SwaggerDoc()
	register("apps", "ReplicaSet", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", rsSpec["replicas"]),
		column("Current", "integer", rsStatus["replicas"]),
		column("Ready", "integer", rsStatus["readyReplicas"]),
		ageColumn(),
		containerNamesColumn,
		containerImagesColumn,
		wideColumn("Selector", "string", rsSpec["selector"]),
	}, replicaSetCells))

	register("apps", "StatefulSet", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Ready", "string", "Number of the pod with ready state"),
		ageColumn(),
		containerNamesColumn,
		containerImagesColumn,
	}, statefulSetCells))

	dsSpec := extensionsv1beta1.DaemonSetSpec{}.SwaggerDoc()
	dsStatus := extensionsv1beta1.DaemonSetStatus{}.SwaggerDoc()
	register("apps", "DaemonSet", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Desired", "integer", dsStatus["desiredNumberScheduled"]),
		column("Current", "integer", dsStatus["currentNumberScheduled"]),
		column("Ready", "integer", dsStatus["numberReady"]),
		column("Up-to-date", "integer", dsStatus["updatedNumberScheduled"]),
		column("Available", "integer", dsStatus["numberAvailable"]),
		column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn(),
		containerNamesColumn,
		containerImagesColumn,
		wideColumn("Selector", "string", dsSpec["selector"]),
	}, daemonSetCells))

	register("apps", "ControllerRevision", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Controller", "string", "Controller of the object"),
		column("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
		ageColumn(),
	}, controllerRevisionCells))
}

// controllerRevisionCells name the controller as kubectl does:
// kind.group/name, lower case.
func controllerRevisionCells(r *appsv1.ControllerRevision, now time.Time) []any {
	controller := "<none>"
	if ref := metav1.GetControllerOf(r); ref != nil {
		gv, _ := schema.ParseGroupVersion(ref.APIVersion)
		controller = strings.ToLower(gv.WithKind(ref.Kind).GroupKind().String()) + "/" + ref.Name
	}
	return []any{r.Name, controller, r.Revision, age(now, r.CreationTimestamp)}
}

// replicas is spec.replicas with the API default of 1 for nil.
func replicas(r *int32) int64 {
	if r == nil {
		return 1
	}
	return int64(*r)
}

func replicationControllerCells(rc *corev1.ReplicationController, now time.Time) []any {
	var containers []corev1.Container
	if rc.Spec.Template != nil {
		containers = rc.Spec.Template.Spec.Containers
	}
	names, images := containerCells(containers)
	return []any{
		rc.Name,
		replicas(rc.Spec.Replicas),
		int64(rc.Status.Replicas),
		int64(rc.Status.ReadyReplicas),
		age(now, rc.CreationTimestamp),
		names,
		images,
		labels.FormatLabels(rc.Spec.Selector),
	}
}

func deploymentCells(d *appsv1.Deployment, now time.Time) []any {
	selector := "<invalid>"
	if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		selector = s.String()
	}
	names, images := containerCells(d.Spec.Template.Spec.Containers)
	return []any{
		d.Name,
		fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
		int64(d.Status.UpdatedReplicas),
		int64(d.Status.AvailableReplicas),
		age(now, d.CreationTimestamp),
		names,
		images,
		selector,
	}
}

func replicaSetCells(rs *appsv1.ReplicaSet, now time.Time) []any {
	names, images := containerCells(rs.Spec.Template.Spec.Containers)
	return []any{
		rs.Name,
		replicas(rs.Spec.Replicas),
		int64(rs.Status.Replicas),
		int64(rs.Status.ReadyReplicas),
		age(now, rs.CreationTimestamp),
		names,
		images,
		metav1.FormatLabelSelector(rs.Spec.Selector),
	}
}

func statefulSetCells(ss *appsv1.StatefulSet, now time.Time) []any {
	names, images := containerCells(ss.Spec.Template.Spec.Containers)
	return []any{
		ss.Name,
		fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, replicas(ss.Spec.Replicas)),
		age(now, ss.CreationTimestamp),
		names,
		images,
	}
}

func daemonSetCells(ds *appsv1.DaemonSet, now time.Time) []any {
	names, images := containerCells(ds.Spec.Template.Spec.Containers)
	return []any{
		ds.Name,
		int64(ds.Status.DesiredNumberScheduled),
		int64(ds.Status.CurrentNumberScheduled),
		int64(ds.Status.NumberReady),
		int64(ds.Status.UpdatedNumberScheduled),
		int64(ds.Status.NumberAvailable),
		labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
		age(now, ds.CreationTimestamp),
		names,
		images,
		metav1.FormatLabelSelector(ds.Spec.Selector),
	}
}
