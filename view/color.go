package view

import "strings"

const (
	ansiReset  = "\x1b[0m"
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
)

// paint colours a cell by the state it names, so trouble stands out in a
// long listing: red for failure, yellow for waiting or disabled, green
// for healthy. Anything else is left alone.
func paint(cell string, header bool) string {
	if header {
		return ansiBold + cell + ansiReset
	}
	code := ""
	switch {
	case cell == "":
	case strings.Contains(cell, "NotReady"), strings.Contains(cell, "Unhealthy"), strings.Contains(cell, "BackOff"),
		cell == "Failed", cell == "Error", cell == "Warning", cell == "Unknown", cell == "False", strings.HasPrefix(cell, "Err"), strings.HasPrefix(cell, "OOM"):
		code = ansiRed
	case strings.Contains(cell, "SchedulingDisabled"), cell == "Pending", cell == "ContainerCreating", cell == "Terminating":
		code = ansiYellow
	case cell == "Running", cell == "Ready", cell == "Healthy", cell == "Succeeded", cell == "Completed", cell == "True", cell == "Active", cell == "Bound":
		code = ansiGreen
	}
	if code == "" {
		return cell
	}
	return code + cell + ansiReset
}
