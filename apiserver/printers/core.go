package printers

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Printers of the simple core kinds: Namespace, ConfigMap, Secret,
// ServiceAccount, LimitRange and ComponentStatus.
func init() {
	register("", "Namespace", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "The status of the namespace"),
		ageColumn(),
	}, func(ns *corev1.Namespace, now time.Time) []any {
		return []any{ns.Name, string(ns.Status.Phase), age(now, ns.CreationTimestamp)}
	}))

	register("", "ConfigMap", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
		ageColumn(),
	}, func(cm *corev1.ConfigMap, now time.Time) []any {
		return []any{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), age(now, cm.CreationTimestamp)}
	}))

	secret := corev1.Secret{}.SwaggerDoc()
	register("", "Secret", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Type", "string", secret["type"]),
		column("Data", "string", secret["data"]),
		ageColumn(),
	}, func(s *corev1.Secret, now time.Time) []any {
		return []any{s.Name, string(s.Type), int64(secretKeys(s)), age(now, s.CreationTimestamp)}
	}))

	register("", "ServiceAccount", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
		ageColumn(),
	}, func(sa *corev1.ServiceAccount, now time.Time) []any {
		return []any{sa.Name, int64(len(sa.Secrets)), age(now, sa.CreationTimestamp)}
	}))

	register("", "LimitRange", createdAtPrinter[corev1.LimitRange]())

	register("", "ComponentStatus", typed([]metav1.TableColumnDefinition{
		nameColumn(),
		column("Status", "string", "Status of the component conditions"),
		column("Message", "string", "Message of the component conditions"),
		column("Error", "string", "Error of the component conditions"),
	}, componentStatusCells))
}

// secretKeys counts the keys of data and of stringData (which the API
// server merges into data).
func secretKeys(s *corev1.Secret) int {
	n := len(s.Data)
	for k := range s.StringData {
		if _, dup := s.Data[k]; !dup {
			n++
		}
	}
	return n
}

func componentStatusCells(cs *corev1.ComponentStatus, _ time.Time) []any {
	status, message, errorText := "Unknown", "", ""
	for _, c := range cs.Conditions {
		if c.Type != corev1.ComponentHealthy {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			status = "Healthy"
		} else {
			status = "Unhealthy"
		}
		message, errorText = c.Message, c.Error
		break
	}
	return []any{cs.Name, status, message, errorText}
}
