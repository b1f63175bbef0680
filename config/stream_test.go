package config

import (
	"strings"
	"testing"
)

// salesforce.stream: the Pub/Sub API by default, CometD on request, the
// environment over the defaults, and an unknown transport or a missing
// Pub/Sub address named in the error.
func TestSalesforceStream(t *testing.T) {
	valid := func() Config {
		cfg := DefaultConfig()
		cfg.Salesforce.ClientID, cfg.Salesforce.ClientSecret = "cid", "secret"
		cfg.Salesforce.Username, cfg.Salesforce.Password = "u", "p"
		cfg.Billing.URL, cfg.Billing.Token, cfg.Billing.WebhookSecret = "https://billing.example.com", "tok", "whsec_abc"
		cfg.AdminTokens = map[string]string{"ops": "admin-token"}
		return cfg
	}
	cfg := valid()
	if cfg.Salesforce.Stream != StreamPubSub || cfg.Salesforce.PubSubAddr != DefaultPubSubAddr || cfg.Salesforce.PubSubInsecure {
		t.Fatalf("defaults %+v", cfg.Salesforce)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	env := map[string]string{"BILLSYNC_SALESFORCE_STREAM": "cometd", "BILLSYNC_SALESFORCE_PUBSUB_ADDR": "api.pubsub.salesforce.com:443",
		"BILLSYNC_SALESFORCE_PUBSUB_INSECURE": "true"}
	ApplyEnv(&cfg, func(k string) string { return env[k] })
	if cfg.Salesforce.Stream != StreamCometD || cfg.Salesforce.PubSubAddr != "api.pubsub.salesforce.com:443" || !cfg.Salesforce.PubSubInsecure {
		t.Fatalf("after the environment %+v", cfg.Salesforce)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Salesforce.Stream = "grpc" }, "salesforce.stream"},
		{func(c *Config) { c.Salesforce.Stream = "" }, "salesforce.stream"},
		{func(c *Config) { c.Salesforce.PubSubAddr = "" }, "salesforce.pubsubAddr"},
	} {
		c := valid()
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", c.Salesforce, err, tc.want)
		}
	}
}
