package framework

import (
	"errors"
	"strings"
)

// Code is the outcome of one plugin on one pod (and node).
type Code int

// The codes, in kube-scheduler's order.
const (
	// Success: the plugin passes the pod (a nil *Status means Success).
	Success Code = iota
	// Error: something went wrong; the pod is retried after a backoff.
	Error
	// Unschedulable: the node does not fit now, but preempting pods or a
	// change in the cluster could make it fit.
	Unschedulable
	// UnschedulableAndUnresolvable: the node does not fit and removing
	// pods would not change that.
	UnschedulableAndUnresolvable
	// Skip: from PreFilter or PreScore, the plugin has nothing to do for
	// this pod and its Filter or Score is not run.
	Skip
)

var codeNames = [...]string{"Success", "Error", "Unschedulable", "UnschedulableAndUnresolvable", "Skip"}

// String is the code's name.
func (c Code) String() string {
	if c >= 0 && int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "Unknown"
}

// Status is the result of one plugin on one node.
type Status struct {
	code    Code
	reasons []string
	plugin  string
	err     error
}

// NewStatus returns a status with the given code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an error as an Error status; nil gives nil.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, err: err}
}

// Code is the status' code; a nil status is Success.
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports whether the status is Success; nil is success.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports whether the status is Skip.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected reports whether the node (or pod) was rejected:
// Unschedulable or UnschedulableAndUnresolvable.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons are the status' messages; an error's text comes first.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	if s.err != nil {
		return append([]string{s.err.Error()}, s.reasons...)
	}
	return s.reasons
}

// Message joins the reasons with ", ".
func (s *Status) Message() string { return strings.Join(s.Reasons(), ", ") }

// Plugin is the name of the plugin that returned the status.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin returns the status marked as coming from a plugin. The
// status is copied unless it already names that plugin, so shared status
// values are never modified.
func (s *Status) WithPlugin(plugin string) *Status {
	if s == nil || s.plugin == plugin {
		return s
	}
	c := *s
	c.plugin = plugin
	return &c
}

// AsError returns the status as an error: nil for Success and Skip.
func (s *Status) AsError() error {
	if s.IsSuccess() || s.IsSkip() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// String renders the status for logs: plugin, code and message.
func (s *Status) String() string {
	if s == nil {
		return "Success"
	}
	msg := s.code.String()
	if s.plugin != "" {
		msg = s.plugin + ": " + msg
	}
	if m := s.Message(); m != "" {
		msg += ": " + m
	}
	return msg
}

// rejection returns a status for a plugin to share between calls: it is
// never modified.
func rejection(plugin string, code Code, reason string) *Status {
	return &Status{code: code, reasons: []string{reason}, plugin: plugin}
}
