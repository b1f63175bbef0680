//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/sandbox"
)

// billsyncBinary is cmd/billsync, built once by TestMain: the chaos test
// runs and kills the real binary, as a supervisor would.
var billsyncBinary string

// buildFlags are go build's flags for it; race_test.go adds -race when
// this test runs with it, so that the child is checked too.
var buildFlags []string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "billsync-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	billsyncBinary = filepath.Join(dir, "billsync")
	// go test puts its own go first in PATH, so this is the same toolchain.
	args := append(append([]string{"build", "-o", billsyncBinary}, buildFlags...), "github.com/billsync/billsync/cmd/billsync")
	build := exec.Command("go", args...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "chaos: building billsync (go %v): %v\n", args, err)
		return 1
	}
	return m.Run()
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("BILLSYNC_TEST_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// harness is the emulators, with no billsync in this process (the test
// runs it as a child), and a sales user's client.
type harness struct {
	sb    *sandbox.Sandbox
	sales *rest.Client // an ordinary sales user: their edits publish events
}

// startHarness starts the emulators; billing is the billing platform
// ("" is the contract).
func startHarness(t *testing.T, billing string) *harness {
	t.Helper()
	stream := os.Getenv("BILLSYNC_CHAOS_STREAM")
	switch stream {
	case "", sandbox.StreamCometD, sandbox.StreamPubSub:
	default:
		t.Fatalf("BILLSYNC_CHAOS_STREAM=%q: want cometd or pubsub", stream)
	}
	if !validChangeSource() {
		t.Fatalf("BILLSYNC_CHAOS_CHANGE_SOURCE=%q: want trigger or cdc", os.Getenv("BILLSYNC_CHAOS_CHANGE_SOURCE"))
	}
	sb, err := sandbox.Start(context.Background(), sandbox.Options{NoApp: true, Data: t.TempDir(), Billing: billing, Stream: stream, ChangeSource: changeSource(),
		Addr: "127.0.0.1:0", SalesforceAddr: "127.0.0.1:0", BillingAddr: "127.0.0.1:0"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	sales, err := rest.New(rest.Config{LoginURL: sb.SFURL, Grant: "password", ClientID: sfemu.DefaultClientID,
		ClientSecret: sfemu.DefaultClientSecret, Username: sfemu.SalesUsername, Password: sfemu.SalesPassword})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{sb: sb, sales: sales}
}
