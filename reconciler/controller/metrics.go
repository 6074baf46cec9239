package controller

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Register registers a controller's collector so that a controller built
// again (the controller manager builds its controllers afresh for every
// leadership term) keeps feeding the one already registered instead of
// failing on a duplicate: it registers c with reg and returns it, or returns the collector
// of the same description already registered. A nil reg registers
// nowhere. Any other registration error is a programming error and
// panics, as MustRegister does.
func Register[T prometheus.Collector](reg prometheus.Registerer, c T) T {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(T); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}
