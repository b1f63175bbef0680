package config

import (
	"strings"
	"testing"
	"time"
)

// The alert settings come from BILLSYNC_ALERTS_* over the defaults, the
// webhook URL also from a file, and a bad value is refused by its key
// without the URL (a secret) in the message.
func TestAlertsConfig(t *testing.T) {
	cfg := DefaultConfig()
	if a := cfg.Alerts; a.Interval != 15*time.Second || a.BudgetShare != 0.8 || a.WebhookURL != "" {
		t.Fatalf("defaults %+v", a)
	}
	env := map[string]string{
		"BILLSYNC_ALERTS_INTERVAL":        "2s",
		"BILLSYNC_ALERTS_STREAM_DOWN_FOR": "5s",
		"BILLSYNC_ALERTS_PENDING_AGE":     "1m",
		"BILLSYNC_ALERTS_BUDGET_SHARE":    "0.5",
	}
	ApplyEnv(&cfg, func(k string) string { return env[k] })
	path := writeFile(t, t.TempDir(), "hook", "https://hooks.example.com/services/s3cr3t\n")
	if err := ReadSecrets(&cfg, func(k string) string {
		return map[string]string{"BILLSYNC_ALERTS_WEBHOOK_URL_FILE": path}[k]
	}); err != nil {
		t.Fatal(err)
	}
	a := cfg.Alerts
	if a.Interval != 2*time.Second || a.StreamDownFor != 5*time.Second || a.PendingAge != time.Minute ||
		a.BudgetShare != 0.5 || a.WebhookURL != "https://hooks.example.com/services/s3cr3t" {
		t.Fatalf("from the environment: %+v", a)
	}
	for _, bad := range []struct {
		set  func(*AlertsConfig)
		want string
	}{
		{func(a *AlertsConfig) { a.WebhookURL = "hooks.example.com/s3cr3t" }, "alerts.webhookUrl"},
		{func(a *AlertsConfig) { a.Interval = 0 }, "alerts.interval"},
		{func(a *AlertsConfig) { a.BudgetShare = 1.5 }, "alerts.budgetShare"},
		{func(a *AlertsConfig) { a.StreamDownFor = -time.Second }, "alerts.streamDownFor"},
	} {
		c := a
		bad.set(&c)
		err := c.validate()
		if err == nil || !strings.Contains(err.Error(), bad.want) || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("want an error naming %s, got %v", bad.want, err)
		}
	}
}
