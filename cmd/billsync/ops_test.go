package main

import (
	"os"
	"path/filepath"
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
