package main

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync/sandbox"
)

// `billsync sandbox` says what it is doing at each step of its start-up,
// so a first start does not look hung, and ends with where the console is
// and the token to log in with.
func TestSandboxCommandPrintsStartupPhases(t *testing.T) {
	var out, errb lockedBuffer
	root := newRootCmd(&out, &errb)
	data := t.TempDir()
	root.SetArgs([]string{"sandbox", "--log-level", "error", "--data", data,
		"--addr", "127.0.0.1:0", "--salesforce-addr", "127.0.0.1:0", "--billing-addr", "127.0.0.1:0"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "billsync sandbox is running") {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("sandbox ended: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner after 60 s\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	got := out.String()
	t.Logf("stdout:\n%s", got)
	last := -1
	for _, want := range []string{
		"starting the Salesforce emulator at 127.0.0.1:0 (state in " + data + ")",
		"starting the contract billing emulator at 127.0.0.1:0",
		"Salesforce emulator up at http://127.0.0.1:",
		"opening the store in " + data,
		"billsync listening at http://127.0.0.1:",
		"seeding the sample accounts and quotes",
		"console at http://127.0.0.1:",
		"/console/ — log in with token " + sandbox.AdminToken,
		"billsync sandbox is running",
	} {
		i := strings.Index(got, want)
		if i < 0 {
			t.Errorf("output lacks %q", want)
			continue
		}
		if i < last {
			t.Errorf("%q printed out of order", want)
		}
		last = i
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("sandbox after interrupt: %v", err)
	}
	done <- nil
}

// The bench logs at warn unless --log-level (or BILLSYNC_LOG_LEVEL) says
// otherwise.
func TestBenchDefaultLogLevel(t *testing.T) {
	t.Setenv("BILLSYNC_LOG_LEVEL", "")
	for _, tc := range []struct {
		args      []string
		info, dbg bool
	}{
		{nil, false, false},
		{[]string{"--log-level", "info"}, true, false},
		{[]string{"--log-level", "debug"}, true, true},
	} {
		var out, errb lockedBuffer
		g := &globals{out: &out, err: &errb, logLevel: "info"}
		root := &cobra.Command{Use: "billsync"}
		root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "")
		bench := newBenchCmd(g)
		root.AddCommand(bench)
		if err := bench.ParseFlags(tc.args); err != nil {
			t.Fatal(err)
		}
		log := benchLogger(bench, g)
		ctx := context.Background()
		if log.Enabled(ctx, slog.LevelInfo) != tc.info || log.Enabled(ctx, slog.LevelDebug) != tc.dbg || !log.Enabled(ctx, slog.LevelWarn) {
			t.Errorf("%v: info %v debug %v, want %v %v", tc.args, log.Enabled(ctx, slog.LevelInfo), log.Enabled(ctx, slog.LevelDebug), tc.info, tc.dbg)
		}
	}
}
