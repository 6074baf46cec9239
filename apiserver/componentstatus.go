package apiserver

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cairn-dev/cairn/apiserver/storage"
)

// componentLeases: the control-plane components whose health is read from
// their leader-election Lease in kube-system.
var componentLeases = []string{"controller-manager", "scheduler"}

// componentStatuses computes the read-only componentstatuses: etcd members
// from etcd itself, the controller manager and scheduler from their Leases.
func (s *Server) componentStatuses(ctx context.Context) ([]runtime.Object, error) {
	var out []runtime.Object
	cs := func(name string, healthy bool, msg, errText string) *corev1.ComponentStatus {
		st := corev1.ConditionTrue
		if !healthy {
			st = corev1.ConditionFalse
		}
		return &corev1.ComponentStatus{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ComponentStatus"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Conditions: []corev1.ComponentCondition{{Type: corev1.ComponentHealthy, Status: st, Message: msg, Error: errText}},
		}
	}
	members, err := storage.MemberHealth(ctx, s.client)
	if err != nil {
		out = append(out, cs("etcd-0", false, "", err.Error()))
	}
	for i, m := range members {
		name := "etcd-" + strconv.Itoa(i)
		if m.Healthy {
			out = append(out, cs(name, true, `{"health":"true"}`, ""))
		} else {
			out = append(out, cs(name, false, "", fmt.Sprintf("%s: %s", m.Name, m.Error)))
		}
	}
	leases := s.stores[s.reg.lookup("coordination.k8s.io", "v1", "leases")]
	for _, c := range componentLeases {
		obj, err := leases.Get(ctx, "/registry/leases/kube-system/kube-"+c, "0")
		if err != nil {
			out = append(out, cs(c, false, "", "no leader lease kube-system/kube-"+c+": the component is not running"))
			continue
		}
		l := obj.(*coordinationv1.Lease)
		healthy, msg := leaseFresh(l, time.Now())
		if healthy {
			out = append(out, cs(c, true, msg, ""))
		} else {
			out = append(out, cs(c, false, "", msg))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, _ := meta.Accessor(out[i])
		b, _ := meta.Accessor(out[j])
		return a.GetName() < b.GetName()
	})
	return out, nil
}

func leaseFresh(l *coordinationv1.Lease, now time.Time) (bool, string) {
	holder := ""
	if l.Spec.HolderIdentity != nil {
		holder = *l.Spec.HolderIdentity
	}
	if l.Spec.RenewTime == nil {
		return false, "lease never renewed"
	}
	dur := 15 * time.Second
	if l.Spec.LeaseDurationSeconds != nil {
		dur = time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second
	}
	age := now.Sub(l.Spec.RenewTime.Time)
	if age > 2*dur {
		return false, fmt.Sprintf("leader %s last renewed its lease %s ago", holder, age.Round(time.Second))
	}
	return true, "ok (leader " + holder + ")"
}

const componentStatusWarning = "v1 ComponentStatus is deprecated in v1.19+"

func (s *Server) getComputed(q *request) {
	q.warn(componentStatusWarning)
	all, err := s.componentStatuses(q.ctx)
	if err != nil {
		s.fail(q, err)
		return
	}
	for _, o := range all {
		if m, _ := meta.Accessor(o); m.GetName() == q.info.Name {
			s.respond(q, http.StatusOK, o)
			return
		}
	}
	writeStatus(q.w, apierrors.NewNotFound(q.res.GR(), q.info.Name))
}

func (s *Server) listComputed(q *request) {
	q.warn(componentStatusWarning)
	all, err := s.componentStatuses(q.ctx)
	if err != nil {
		s.fail(q, err)
		return
	}
	list := &corev1.ComponentStatusList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ComponentStatusList"}}
	for _, o := range all {
		list.Items = append(list.Items, *o.(*corev1.ComponentStatus))
	}
	s.respond(q, http.StatusOK, list)
}
