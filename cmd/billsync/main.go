// Command billsync keeps a billing platform and a Salesforce org in
// two-way sync. Run `billsync --help` for the subcommands.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync/internal/logtrim"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "billsync:", err)
		os.Exit(1)
	}
}

// globals are the flags every subcommand has.
type globals struct {
	logLevel  string
	logFormat string
	out, err  io.Writer
}

func (g *globals) logger() *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(g.logLevel)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(g.err, opts)
	if strings.EqualFold(g.logFormat, "json") {
		h = slog.NewJSONHandler(g.err, opts)
	}
	// A record id or name of kilobytes is cut in log lines; the sync
	// log keeps it whole.
	return slog.New(logtrim.New(h, logtrim.DefaultMax))
}

func newRootCmd(out, errw io.Writer) *cobra.Command {
	g := &globals{out: out, err: errw}
	root := &cobra.Command{
		Use:           "billsync",
		Short:         "Two-way sync between a billing platform and Salesforce",
		Long:          "billsync keeps a billing platform and a Salesforce org in two-way sync: accounts, balances and balance transactions both ways, quotes into Salesforce.",
		Version:       buildVersion(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(out)
	root.SetErr(errw)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", envOr("BILLSYNC_LOG_LEVEL", "info"), "log level: debug, info, warn, error (env BILLSYNC_LOG_LEVEL)")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", envOr("BILLSYNC_LOG_FORMAT", "text"), "log format: text or json (env BILLSYNC_LOG_FORMAT)")
	root.AddCommand(
		newServeCmd(g),
		newSandboxCmd(g),
		newEmulateCmd(g),
		newSettingsCmd(g),
		newLogsCmd(g),
		newDeadLettersCmd(g),
		newConflictsCmd(g),
		newHeldCmd(g),
		newResyncCmd(g),
		newBenchCmd(g),
		newDoctorCmd(g),
		newBackupCmd(g),
		newRestoreCmd(g),
		newStripeCmd(g),
		newM3terCmd(g),
		newVersionCmd(g),
	)
	return root
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
