package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

// completeConfig is a configuration Validate accepts, for the contract.
func completeConfig(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Data = t.TempDir()
	cfg.Salesforce.ClientID, cfg.Salesforce.ClientSecret = "id", "secret"
	cfg.Salesforce.Username, cfg.Salesforce.Password = "u", "p"
	cfg.Billing.URL, cfg.Billing.Token, cfg.Billing.WebhookSecret = "http://127.0.0.1:1", "t", "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"
	cfg.AdminTokens = map[string]string{"ops": "admin-secret"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// billing.platform defaults to the contract, is read from the file and
// the environment, and a platform this build cannot open is refused by
// name, before anything starts; Stripe is opened and checks its own
// settings.
func TestConfigBillingPlatform(t *testing.T) {
	if got := DefaultConfig().Billing.Platform; got != billsync.PlatformContract {
		t.Errorf("default %q", got)
	}
	path := filepath.Join(t.TempDir(), "billsync.yaml")
	if err := os.WriteFile(path, []byte("billing:\n  platform: m3ter\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("BILLSYNC_BILLING_PLATFORM", "")
	cfg, err := LoadConfig(path)
	if err != nil || cfg.Billing.Platform != billsync.PlatformM3ter {
		t.Fatalf("file: %q, %v", cfg.Billing.Platform, err)
	}
	t.Setenv("BILLSYNC_BILLING_PLATFORM", "stripe")
	if cfg, err = LoadConfig(path); err != nil || cfg.Billing.Platform != billsync.PlatformStripe {
		t.Fatalf("environment: %q, %v", cfg.Billing.Platform, err)
	}

	for platform, want := range map[string]string{
		"Stripe": `config: billing.platform "Stripe": want one of contract, stripe, m3ter, monetizenow`,
	} {
		cfg := completeConfig(t)
		cfg.Billing.Platform = platform
		if err := cfg.Validate(); err == nil || err.Error() != want {
			t.Errorf("%s: %v", platform, err)
		}
		if _, err := StartApp(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "billing.platform") {
			t.Errorf("%s: started: %v", platform, err)
		}
	}
	// Stripe is in this build: its own checks speak of its settings.
	cfg = completeConfig(t)
	cfg.Billing.Platform = billsync.PlatformStripe
	if _, err := StartApp(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "billing.token") {
		t.Errorf("stripe with a contract token started: %v", err)
	}
	// So is m3ter: a contract token is not an m3ter key pair.
	cfg = completeConfig(t)
	cfg.Billing.Platform = billsync.PlatformM3ter
	if _, err := StartApp(context.Background(), cfg, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "billing.token") {
		t.Errorf("m3ter with a contract token started: %v", err)
	}
	// Unset is the contract, as in a config written before the setting.
	cfg = completeConfig(t)
	cfg.Billing.Platform = ""
	if err := cfg.Validate(); err != nil {
		t.Errorf("unset: %v", err)
	}
	a, err := billsync.OpenBillingPlatform(cfg.Billing.Platform, billsync.BillingOptions{WebhookSecret: cfg.Billing.WebhookSecret})
	if err != nil || a.Billing.Capabilities().Versioning != billsync.VersionInteger {
		t.Errorf("unset opens %v, %v", a, err)
	}
}
