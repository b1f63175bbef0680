package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Read tokens sit next to admin tokens in the config file and the
// environment; a config written before them keeps its tokens as admin.
func TestConfigReadTokens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "billsync.yaml")
	yaml := `adminTokens:
  ops: admin-secret
readTokens:
  grafana: read-secret
`
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BILLSYNC_READ_TOKENS", "oncall=oncall-secret, ci=ci-secret")
	t.Setenv("BILLSYNC_ADMIN_TOKENS", "")
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"ops": "admin-secret"}, cfg.AdminTokens); diff != "" {
		t.Errorf("admin tokens (-want +got):\n%s", diff)
	}
	want := map[string]string{"grafana": "read-secret", "oncall": "oncall-secret", "ci": "ci-secret"}
	if diff := cmp.Diff(want, cfg.ReadTokens); diff != "" {
		t.Errorf("read tokens (-want +got):\n%s", diff)
	}
	if got := byToken(cfg.ReadTokens); got["read-secret"] != "grafana" || len(got) != 3 {
		t.Errorf("by token: %v", got)
	}

	// A config of before read tokens: its tokens are admin tokens.
	old := DefaultConfig()
	applyEnv(&old, func(k string) string {
		if k == "BILLSYNC_ADMIN_TOKENS" {
			return "ops=admin-secret"
		}
		return ""
	})
	if old.AdminTokens["ops"] != "admin-secret" || len(old.ReadTokens) != 0 {
		t.Errorf("old config: admin %v, read %v", old.AdminTokens, old.ReadTokens)
	}
}

// The command's log lines cut a record id or name of kilobytes; the sync
// log, which does not go through slog, keeps it whole.
func TestLogLinesCutLongValues(t *testing.T) {
	for _, format := range []string{"text", "json"} {
		var buf bytes.Buffer
		g := &globals{logLevel: "info", logFormat: format, err: &buf}
		long := strings.Repeat("n", 5000)
		g.logger().Warn("record refused", "record", "acc_"+long, "name", long, "object", "account")
		line := buf.String()
		if strings.Contains(line, strings.Repeat("n", 300)) || !strings.Contains(line, "more bytes") {
			t.Errorf("%s: a 5000-byte value was not cut: %d bytes logged", format, len(line))
		}
		if !strings.Contains(line, "account") || len(line) > 1000 {
			t.Errorf("%s: line %q", format, line)
		}
	}
}
