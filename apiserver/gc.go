package apiserver

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector target `cairn server` runs with when
// GOGC is not set. The control plane allocates heavily per request
// (decoding, validation, watch fan-out) over a live heap that is small
// next to an appliance's memory; collecting half as often as Go's default
// of 100 cut the CPU per scheduled pod by about a fifth in the scheduler
// benchmark (docs/benchmarks.md). GOGC, when set, wins.
const GCPercent = 200

// TuneGC applies GCPercent unless GOGC is set; every program that runs the
// control plane (the server command, its benchmarks) calls it, so that
// benchmarks measure what users run.
func TuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(GCPercent)
	}
}
