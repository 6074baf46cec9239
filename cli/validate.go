package cli

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/cairn-dev/cairn/check"
	"github.com/cairn-dev/cairn/manifest"
)

// exitError carries a process exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

// validateGCPercent is the garbage collector target of `cairn validate`
// when GOGC is not set.
const validateGCPercent = 400

// validateConfig is `cairn validate`'s flags.
type validateConfig struct {
	Policies []string
	Output   string
	Summary  bool
	Workers  int
	// CPUProfile, when set, is where a CPU profile of the run is written
	// (a hidden flag, for measuring the validator).
	CPUProfile string
}

// objectResult is one manifest's verdict.
type objectResult struct {
	File     string          `json:"file"`
	Line     int             `json:"line"`
	Object   string          `json:"object"`
	Valid    bool            `json:"valid"`
	Findings []check.Finding `json:"findings,omitempty"`
}

type validateSummary struct {
	Resources int `json:"resources"`
	Valid     int `json:"valid"`
	Invalid   int `json:"invalid"`
	Errors    int `json:"errors"`
	Warnings  int `json:"warnings"`
}

func newValidateCmd() *cobra.Command {
	cfg := validateConfig{}
	cmd := &cobra.Command{
		Use:   "validate [paths...]",
		Short: "Validate manifests offline as the API server would (schemas, Kubernetes validation, admission policies)",
		Long: `Validate YAML and JSON manifests (files, directories, or - for stdin) against
cairn's JSON Schemas, Kubernetes' built-in validation and the
ValidatingAdmissionPolicies found with --policies and among the manifests.

Exit code: 0 every manifest is valid, 1 some are invalid, 2 usage or I/O error.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runValidate(cmd, cfg, args)
		},
	}
	fs := cmd.Flags()
	fs.StringSliceVar(&cfg.Policies, "policies", nil, "files or directories with ValidatingAdmissionPolicy and Binding manifests")
	fs.StringVarP(&cfg.Output, "output", "o", "text", "text, json, junit or tap")
	fs.BoolVar(&cfg.Summary, "summary", false, "print a summary line (text output)")
	fs.IntVarP(&cfg.Workers, "workers", "n", runtime.NumCPU(), "manifests validated in parallel")
	fs.StringVar(&cfg.CPUProfile, "cpuprofile", "", "write a CPU profile of the run to this file")
	_ = fs.MarkHidden("cpuprofile")
	return cmd
}

func runValidate(cmd *cobra.Command, cfg validateConfig, paths []string) error {
	switch cfg.Output {
	case "text", "json", "junit", "tap":
	default:
		return &exitError{code: 2, err: fmt.Errorf("--output must be text, json, junit or tap, not %q", cfg.Output)}
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	for _, p := range append(append([]string(nil), paths...), cfg.Policies...) {
		if p == "-" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			return &exitError{code: 2, err: err}
		}
	}
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			return &exitError{code: 2, err: err}
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return &exitError{code: 2, err: err}
		}
		defer pprof.StopCPUProfile()
	}
	// A short-lived command whose live heap only grows while it loads, and
	// which then allocates several times that heap in short-lived garbage
	// while checking: collecting a quarter as often as Go's default (the
	// server collects half as often) raised the peak memory by about a
	// tenth and saved a tenth to a quarter of the time on 10,000
	// manifests (docs/benchmarks.md). GOGC, when set, wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(validateGCPercent)
	}
	objs, loadErrs := manifest.Load(paths, manifest.Options{})
	var loadFindings []check.Finding
	for _, err := range loadErrs {
		var me *manifest.Error
		var pe *fs.PathError
		switch {
		case errors.As(err, &pe):
			return &exitError{code: 2, err: err}
		case errors.As(err, &me):
			loadFindings = append(loadFindings, check.Finding{File: me.File, Line: me.Line, Message: me.Msg, Severity: check.Error})
		default:
			return &exitError{code: 2, err: err}
		}
	}
	policyObjs := append([]*manifest.Object(nil), objs...)
	if len(cfg.Policies) > 0 {
		extra, errs := manifest.Load(cfg.Policies, manifest.Options{})
		if len(errs) > 0 {
			return &exitError{code: 2, err: fmt.Errorf("--policies: %w", errors.Join(errs...))}
		}
		policyObjs = append(policyObjs, extra...)
	}
	checker, policyFindings := check.New(policyObjs, objs)

	results := make([]objectResult, len(objs))
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	// An interrupt stops the workers between objects; the check of one
	// object runs to its end (its policies are bounded by their cost
	// budgets), so that no verdict depends on when the interrupt came, and
	// the policy engine need not watch for it during every expression.
	checkCtx := context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	var next atomic.Int64
	for w := 0; w < cfg.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(objs) {
					return
				}
				o := objs[i]
				f := checker.Check(checkCtx, o)
				results[i] = objectResult{File: o.File, Line: o.Line, Object: o.Ref(), Findings: f, Valid: !hasError(f)}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return &exitError{code: 2, err: err}
	}
	// Load and policy problems are results too, so no output format hides them.
	for _, f := range append(loadFindings, policyFindings...) {
		results = append(results, objectResult{File: f.File, Line: f.Line, Object: f.Object, Findings: []check.Finding{f}})
	}

	sum := validateSummary{}
	for _, r := range results {
		if r.Object != "" || r.Valid {
			sum.Resources++
		}
		if r.Valid {
			sum.Valid++
		} else {
			sum.Invalid++
		}
		for _, f := range r.Findings {
			if f.Severity == check.Warning {
				sum.Warnings++
			} else {
				sum.Errors++
			}
		}
	}
	out := cmd.OutOrStdout()
	var err error
	switch cfg.Output {
	case "json":
		err = writeValidateJSON(out, results, sum)
	case "junit":
		err = writeJUnit(out, results, sum)
	case "tap":
		err = writeTAP(out, results)
	default:
		for _, r := range results {
			for _, f := range r.Findings {
				fmt.Fprintln(out, f.String())
			}
		}
		if cfg.Summary {
			fmt.Fprintf(out, "Summary: %d resources found - Valid: %d, Invalid: %d, Errors: %d, Warnings: %d\n",
				sum.Resources, sum.Valid, sum.Invalid, sum.Errors, sum.Warnings)
		}
	}
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if sum.Invalid > 0 {
		return &exitError{code: 1}
	}
	return nil
}

func hasError(fs []check.Finding) bool {
	for _, f := range fs {
		if f.Severity != check.Warning {
			return true
		}
	}
	return false
}

func writeValidateJSON(w io.Writer, results []objectResult, sum validateSummary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Resources []objectResult  `json:"resources"`
		Summary   validateSummary `json:"summary"`
	}{results, sum})
}

func writeTAP(w io.Writer, results []objectResult) error {
	fmt.Fprintf(w, "TAP version 13\n1..%d\n", len(results))
	for i, r := range results {
		status := "ok"
		if !r.Valid {
			status = "not ok"
		}
		fmt.Fprintf(w, "%s %d - %s:%d %s\n", status, i+1, r.File, r.Line, r.Object)
		for _, f := range r.Findings {
			fmt.Fprintf(w, "  # %s\n", f.String())
		}
	}
	return nil
}

func writeJUnit(w io.Writer, results []objectResult, sum validateSummary) error {
	type failure struct {
		Message string `xml:"message,attr"`
		Text    string `xml:",chardata"`
	}
	type testcase struct {
		Name      string   `xml:"name,attr"`
		ClassName string   `xml:"classname,attr"`
		Failure   *failure `xml:"failure,omitempty"`
	}
	type suite struct {
		XMLName  xml.Name   `xml:"testsuite"`
		Name     string     `xml:"name,attr"`
		Tests    int        `xml:"tests,attr"`
		Failures int        `xml:"failures,attr"`
		Cases    []testcase `xml:"testcase"`
	}
	s := suite{Name: "cairn validate", Tests: len(results), Failures: sum.Invalid}
	for _, r := range results {
		tc := testcase{Name: r.Object, ClassName: fmt.Sprintf("%s:%d", r.File, r.Line)}
		if !r.Valid {
			var text string
			for _, f := range r.Findings {
				text += f.String() + "\n"
			}
			tc.Failure = &failure{Message: fmt.Sprintf("%d problems", len(r.Findings)), Text: text}
		}
		s.Cases = append(s.Cases, tc)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(s); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
