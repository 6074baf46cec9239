// Package cli holds cairn's commands: each turns its flags into a Config
// struct and runs the component it names.
package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs the cairn command line and returns the exit code.
func Main(args []string) int {
	root := NewRoot()
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil {
				fmt.Fprintln(os.Stderr, "error:", ee.err)
			}
			return ee.code
		}
		fmt.Fprintln(os.Stderr, "error:", err)
		return 2
	}
	return 0
}

// NewRoot builds the command tree.
func NewRoot() *cobra.Command {
	var logLevel string
	root := &cobra.Command{
		Use:           "cairn",
		Short:         "cairn: a GitOps cluster appliance",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(strings.ToUpper(logLevel))); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: lvl})))
			return nil
		},
	}
	root.PersistentFlags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	root.AddCommand(newServerCmd(), newUpCmd(), newValidateCmd(), newVersionCmd(), newSimCmd(), newGetCmd(), newDescribeCmd(), newEventsCmd(), newComponentStatusesCmd(), newStatusCmd())
	root.AddCommand(newLogsCmd(), newAgentCmd())
	return root
}
