package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// Each sync outcome is one line a person can read: INFO for what synced
// or was skipped, WARN for a failure, DEBUG for a change folded into a
// later one; direction, object, ids, operation, outcome, reason, latency.
func TestLogOutcome(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	entries := []billsync.LogEntry{
		{Direction: billsync.ToSalesforce, Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "a00X", Operation: "create",
			Outcome: billsync.OutcomeSuccess, Latency: 120 * time.Millisecond},
		{Direction: billsync.ToBilling, Object: billsync.ObjectBalance, BillingID: "bal_1", Operation: "update",
			Outcome: billsync.OutcomeFailed, Reason: billsync.ReasonRemoteError, ErrorCode: "UNABLE_TO_LOCK_ROW", Message: "retrying"},
		{Direction: billsync.ToSalesforce, Object: billsync.ObjectAccount, BillingID: "acc_1", Outcome: billsync.OutcomeSkipped, Reason: billsync.ReasonCoalesced},
	}
	for _, e := range entries {
		logOutcome(context.Background(), log, e)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d lines: %s", len(lines), buf.String())
	}
	want := []map[string]any{
		{"level": "INFO", "msg": "sync", "direction": "billing_to_salesforce", "object": "account", "billing_id": "acc_1", "salesforce_id": "a00X", "op": "create", "outcome": "success"},
		{"level": "WARN", "outcome": "failed", "reason": billsync.ReasonRemoteError, "error": "UNABLE_TO_LOCK_ROW", "message": "retrying"},
		{"level": "DEBUG", "reason": billsync.ReasonCoalesced},
	}
	for i, l := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatal(err)
		}
		for k, v := range want[i] {
			if got[k] != v {
				t.Errorf("line %d: %s = %v, want %v (%s)", i, k, got[k], v, l)
			}
		}
		if _, ok := got["latency"]; !ok {
			t.Errorf("line %d has no latency: %s", i, l)
		}
	}
}
