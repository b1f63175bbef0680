package stripe

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNodeStripe drives the emulator with the official npm client from
// interop/stripe, installed with `npm ci` from the committed lock file.
// It skips without node/npm unless BILLSYNC_CI=1, where it fails.
func TestNodeStripe(t *testing.T) {
	node := requireTool(t, "node")
	npm := requireTool(t, "npm")
	dir := filepath.Join(moduleRoot(t), "interop", "stripe")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "stripe", "package.json")); err != nil {
		cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			if os.Getenv("BILLSYNC_CI") != "1" {
				t.Skipf("npm ci failed (offline?): %v\n%s", err, out)
			}
			t.Fatalf("npm ci: %v\n%s", err, out)
		}
	}
	var mu sync.Mutex
	var last map[string]string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if strings.HasSuffix(r.URL.Path, "/last") {
			if last == nil {
				http.Error(w, "none yet", http.StatusNotFound)
				return
			}
			_ = json.NewEncoder(w).Encode(last)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if last == nil {
			last = map[string]string{"body": string(b), "signature": r.Header.Get("Stripe-Signature")}
		}
	}))
	defer hook.Close()
	_, c := serve(t, Options{}, nil)
	cmd := exec.CommandContext(ctx, node, "drive.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "STRIPE_URL="+c.base, "STRIPE_KEY="+testKey, "HOOK_URL="+hook.URL+"/hook")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("stripe npm interop: %v", err)
	}
}

func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatalf("%s is required when BILLSYNC_CI=1: %v", name, err)
		}
		t.Skipf("%s not found: %v", name, err)
	}
	return p
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
