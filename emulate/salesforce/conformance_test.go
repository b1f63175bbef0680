package salesforce

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// requireTool skips when a tool is missing, unless BILLSYNC_CI=1 demands it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatalf("%s is not on PATH and BILLSYNC_CI=1", name)
		}
		t.Skipf("%s is not on PATH; install Node.js 20+ to run this test", name)
	}
	return p
}

// serveOnLoopback runs the emulator on a real 127.0.0.1 port, as an
// external client needs.
func serveOnLoopback(t *testing.T, opts Options) (*Emulator, string) {
	t.Helper()
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	e.SetBaseURL(base)
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = e.Close()
	})
	return e, base
}

// TestConformance replays the 21 real-org cases of
// ../shared/conformance/salesforce against the emulator.
func TestConformance(t *testing.T) {
	node := requireTool(t, "node")
	script := filepath.Join(filepath.Dir(moduleRoot(t)), "shared", "conformance", "salesforce", "replay.mjs")
	if _, err := os.Stat(script); err != nil {
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatalf("conformance script missing: %v", err)
		}
		t.Skipf("conformance script %s not found", script)
	}
	_, base := serveOnLoopback(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = append(os.Environ(), "SF_URL="+base, "SF_USER="+SalesUsername, "SF_PASS="+SalesPassword)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("conformance replay failed: %v", err)
	}
	if !strings.Contains(string(out), "21 passed, 0 failed") {
		t.Fatalf("expected all 21 cases to pass")
	}
}
