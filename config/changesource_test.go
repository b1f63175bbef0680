package config

import (
	"strings"
	"testing"
)

// salesforce.changeSource: the trigger's platform event by default, CDC on
// request (over either stream), and anything else named in the error.
func TestSalesforceChangeSource(t *testing.T) {
	valid := func() Config {
		cfg := DefaultConfig()
		cfg.Salesforce.ClientID, cfg.Salesforce.ClientSecret = "cid", "secret"
		cfg.Salesforce.Username, cfg.Salesforce.Password = "u", "p"
		cfg.Billing.URL, cfg.Billing.Token, cfg.Billing.WebhookSecret = "https://billing.example.com", "tok", "whsec_abc"
		cfg.AdminTokens = map[string]string{"ops": "admin-token"}
		return cfg
	}
	cfg := valid()
	if cfg.Salesforce.ChangeSource != ChangeSourceTrigger {
		t.Fatalf("default changeSource %q", cfg.Salesforce.ChangeSource)
	}
	env := map[string]string{"BILLSYNC_SALESFORCE_CHANGE_SOURCE": "cdc", "BILLSYNC_SALESFORCE_STREAM": "cometd"}
	ApplyEnv(&cfg, func(k string) string { return env[k] })
	if cfg.Salesforce.ChangeSource != ChangeSourceCDC {
		t.Fatalf("after the environment %q", cfg.Salesforce.ChangeSource)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// CDC over the Pub/Sub API (the default stream) as well as CometD.
	c := valid()
	c.Salesforce.ChangeSource = ChangeSourceCDC
	if c.Salesforce.Stream != StreamPubSub {
		t.Fatalf("default stream %q", c.Salesforce.Stream)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("cdc over pubsub: %v", err)
	}
	c = valid()
	c.Salesforce.ChangeSource = "apex"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "salesforce.changeSource") {
		t.Errorf("%+v: %v, want an error naming salesforce.changeSource", c.Salesforce, err)
	}
}
