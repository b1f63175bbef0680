package salesforce

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestJSForce drives the emulator with jsforce from interop/jsforce,
// installed with `npm ci` from the committed package-lock.json. The
// node_modules directory is kept between runs as a cache.
func TestJSForce(t *testing.T) {
	node := requireTool(t, "node")
	npm := requireTool(t, "npm")
	dir := filepath.Join(moduleRoot(t), "interop", "jsforce")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jsforce", "package.json")); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			if os.Getenv("BILLSYNC_CI") != "1" {
				t.Skipf("npm ci failed (offline?): %v\n%s", err, out)
			}
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	_, base := serveOnLoopback(t, Options{})
	cmd := exec.CommandContext(ctx, node, "crud.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "SF_URL="+base, "SF_USER="+SalesUsername, "SF_PASS="+SalesPassword)
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("jsforce interop: %v", err)
	}
}
