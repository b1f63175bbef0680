package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/config"
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
	config.ApplyEnv(&old, func(k string) string {
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

// `deadletters retry|discard` take the ids named (all or none) or every
// one with --all, never all by default, and print what they took.
func TestDeadLettersCLI(t *testing.T) {
	st := newCLIStore()
	ctx := context.Background()
	for i := range 4 { // ids 1 to 4
		c := &billsync.Change{Partition: fmt.Sprintf("account:acc_%d", i), Object: billsync.ObjectAccount,
			RecordID: fmt.Sprintf("acc_%d", i), EventID: fmt.Sprintf("webhook:%d", i)}
		if _, err := st.Enqueue(ctx, c); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Claim(ctx, 1, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := st.Bury(ctx, c.ID, "STRING_TOO_LONG", "Name: data value too large"); err != nil {
			t.Fatal(err)
		}
	}
	url := startAdminAPI(t, st, nil, nil)
	run := func(args ...string) (string, error) {
		out, _, err := runCLI(t, newDeadLettersCmd, url, args...)
		return out, err
	}
	if _, err := run("retry"); err == nil || !strings.Contains(err.Error(), "--all") {
		t.Errorf("retry without ids: %v", err)
	}
	if _, err := run("discard", "1", "--all"); err == nil {
		t.Error("discard with ids and --all: no error")
	}
	if _, err := run("retry", "1", "99"); billsync.ErrorCode(err) != billsync.ENOTFOUND || !strings.Contains(err.Error(), "99") {
		t.Errorf("retry with an unknown id: %v", err)
	}
	if dls, _ := st.DeadLetters(ctx, 0); len(dls) != 4 {
		t.Fatalf("a refused retry moved something: %d dead letters", len(dls))
	}
	if out, err := run("retry", "2", "1"); err != nil || out != "retried 2 dead letters: [1 2]\n" {
		t.Errorf("retry 2 1: %q %v", out, err)
	}
	if out, err := run("discard", "3", "--json"); err != nil || !strings.Contains(out, `"discarded": [`) {
		t.Errorf("discard 3: %q %v", out, err)
	}
	if out, err := run("retry", "--all"); err != nil || out != "retried 1 dead letters: [4]\n" {
		t.Errorf("retry --all: %q %v", out, err)
	}
	if q, _ := st.Stats(ctx); q.Pending != 3 || q.DeadLetters != 0 {
		t.Errorf("queue %+v", q)
	}
}
