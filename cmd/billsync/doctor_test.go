package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/doctor"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/sandbox"
	"go.yaml.in/yaml/v4"
)

// writeDoctorConfig writes cfg's connection settings as a YAML config file.
func writeDoctorConfig(t *testing.T, cfg Config) string {
	t.Helper()
	y := fmt.Sprintf(`addr: %q
data: %q
salesforce:
  loginUrl: %q
  grant: %q
  clientId: %q
  clientSecret: %q
  username: %q
  password: %q
  apiVersion: %q
billing:
  platform: %q
  url: %q
  token: %q
  webhookSecret: %q
adminTokens:
  admin: admin-token
`, cfg.Addr, cfg.Data, cfg.Salesforce.LoginURL, cfg.Salesforce.Grant, cfg.Salesforce.ClientID, cfg.Salesforce.ClientSecret,
		cfg.Salesforce.Username, cfg.Salesforce.Password, cfg.Salesforce.APIVersion, cfg.Billing.Platform, cfg.Billing.URL, cfg.Billing.Token, cfg.Billing.WebhookSecret)
	path := filepath.Join(t.TempDir(), "billsync.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runDoctorCmd runs `billsync doctor args…` and returns its output and error.
func runDoctorCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	g := &globals{logLevel: "error", out: &out, err: &errw}
	cmd := newDoctorCmd(g)
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errw)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestDoctorSandbox(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true})
	path := writeDoctorConfig(t, sandboxConfig(h.sb.AppConfig("127.0.0.1:0")))

	out, err := runDoctorCmd(t, "--config", path)
	t.Logf("doctor output:\n%s", out)
	if err != nil {
		t.Fatalf("doctor failed on the sandbox: %v", err)
	}
	if strings.Contains(out, "FAIL") {
		t.Fatalf("a check failed on the sandbox")
	}
	for _, want := range []string{
		"ok   config",
		"ok   Salesforce login: org ",
		"ok   Salesforce integration permission: " + sfemu.IntegrationUsername + " holds the BillsyncIntegration custom permission through the permission set BillsyncIntegration",
		"ok   Salesforce object BillingAccount__c",
		"ok   Salesforce object BillingBalance__c",
		"ok   Salesforce object BillingBalanceTransaction__c",
		"ok   Salesforce object Quote",
		"ok   Salesforce object QuoteLineItem",
		"ok   Salesforce object OpportunityLineItem",
		"ok   Salesforce object Opportunity",
		"ok   Salesforce platform event BillingObjectChange__e",
		"ok   Salesforce API budget: ",
		"ok   billing tenant: " + sandbox.Tenant,
		"ok   billing list accounts",
		"ok   billing webhook secret",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// --json says the same.
	out, err = runDoctorCmd(t, "--config", path, "--json")
	if err != nil {
		t.Fatalf("doctor --json: %v", err)
	}
	var res struct {
		OK     bool           `json:"ok"`
		Checks []doctor.Check `json:"checks"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("doctor --json output: %v\n%s", err, out)
	}
	if !res.OK || len(res.Checks) < 10 {
		t.Fatalf("doctor --json: %+v", res)
	}
}

func TestDoctorBadCredentials(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	cfg.Salesforce.Password = "wrong-password"
	cfg.Billing.Token = "wrong-token"
	cfg.Billing.WebhookSecret = "not-a-secret"
	path := writeDoctorConfig(t, cfg)

	out, err := runDoctorCmd(t, "--config", path)
	t.Logf("doctor output:\n%s", out)
	if err == nil || !strings.Contains(err.Error(), "checks failed") {
		t.Fatalf("doctor with bad credentials: err %v, want checks failed", err)
	}
	for _, want := range []string{
		"ok   config",
		"FAIL Salesforce login: ",
		"invalid_grant",
		"check salesforce.username",
		"salesforce.password",
		"FAIL billing tenant: ",
		"401",
		"set billing.token (BILLSYNC_BILLING_TOKEN)",
		"FAIL billing webhook secret: ",
		`must start with "whsec_"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// Object checks need a login; they are not run (nor reported ok).
	if strings.Contains(out, "Salesforce object") {
		t.Errorf("object checks reported without a login")
	}
}

func TestDoctorMissingConfig(t *testing.T) {
	out, err := runDoctorCmd(t, "--salesforce-login-url", "http://127.0.0.1:1", "--billing-url", "http://127.0.0.1:1")
	t.Logf("doctor output:\n%s", out)
	if err == nil {
		t.Fatal("doctor with an empty config succeeded")
	}
	for _, want := range []string{
		"FAIL config: config: missing salesforce.clientId",
		"billing.token",
		"FAIL Salesforce login: ",
		"FAIL billing tenant: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// With billing.platform stripe the doctor checks Stripe: the key, reads
// of each object, a write permission probe and the signing secret; a
// wrong key fails naming the setting.
func TestDoctorStripe(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true, Billing: billsync.PlatformStripe})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	// As billsync stripe setup leaves it: the endpoint the sandbox registered.
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stripeEndpointPath(cfg.Data), []byte("http://"+h.sb.AppAddr+"/webhooks/stripe\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runDoctorCmd(t, "--config", writeDoctorConfig(t, cfg))
	t.Logf("doctor output:\n%s", out)
	if err != nil || strings.Contains(out, "FAIL") {
		t.Fatalf("doctor on the Stripe sandbox: %v", err)
	}
	for _, want := range []string{"ok   stripe API key: reaches Stripe account acct_", "ok   stripe read customers", "ok   stripe read quotes",
		"ok   stripe write customers", "ok   stripe webhook endpoint", "ok   stripe webhook secret"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	cfg.Billing.Token = "sk_test_wrong"
	out, err = runDoctorCmd(t, "--config", writeDoctorConfig(t, cfg))
	if err == nil || !strings.Contains(out, "FAIL stripe API key") {
		t.Errorf("a wrong key passed: %v\n%s", err, out)
	}
}

// billsync stripe setup registers the endpoint, stores the signing secret
// Stripe shows once (and the URL, for doctor); run again, it finds the
// endpoint in order and keeps the stored secret.
func TestStripeSetupCommand(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true, Billing: billsync.PlatformStripe})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	cfg.Billing.WebhookSecret = ""
	path := writeDoctorConfig(t, cfg)
	const url = "https://billsync.example.test/webhooks/stripe"
	out, err := runCmd(t, "stripe", "setup", "--config", path, "--url", url)
	if err != nil || !strings.Contains(out, "its signing secret is stored in "+stripeSecretPath(cfg.Data)) {
		t.Fatalf("setup: %v\n%s", err, out)
	}
	secret := readTrimmed(stripeSecretPath(cfg.Data))
	if !strings.HasPrefix(secret, "whsec_") || readTrimmed(stripeEndpointPath(cfg.Data)) != url {
		t.Fatalf("stored secret %q, url %q", secret, readTrimmed(stripeEndpointPath(cfg.Data)))
	}
	out, err = runCmd(t, "stripe", "setup", "--config", path, "--url", url)
	if err != nil || !strings.Contains(out, "the one already stored") || readTrimmed(stripeSecretPath(cfg.Data)) != secret {
		t.Fatalf("second setup: %v\n%s", err, out)
	}
	// serve reads the stored secret when billing.webhookSecret is empty.
	loaded := cfg
	withStoredWebhookSecret(&loaded)
	if loaded.Billing.WebhookSecret != secret {
		t.Errorf("serve would verify with %q", loaded.Billing.WebhookSecret)
	}
	if out, err := runCmd(t, "stripe", "setup", "--config", path, "--url", "not a url"); err == nil {
		t.Errorf("a bad --url was taken: %s", out)
	}
}

// With billing.platform m3ter the doctor checks m3ter: credentials, the
// organization, each object, the notifications setup made, the token.
func TestDoctorM3ter(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true, Billing: billsync.PlatformM3ter})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	path := writeDoctorConfig(t, cfg)
	y, _ := os.ReadFile(path)
	// billing.options are not in writeDoctorConfig's template.
	y = []byte(strings.Replace(string(y), "billing:\n", "billing:\n  options:\n    orgId: \""+cfg.Billing.Options["orgId"]+"\"\n    serviceUserId: \""+cfg.Billing.Options["serviceUserId"]+"\"\n", 1))
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := runDoctorCmd(t, "--config", path)
	t.Logf("doctor output:\n%s", out)
	if err != nil || strings.Contains(out, "FAIL") || !strings.Contains(out, "ok   m3ter webhook URL token") {
		t.Fatalf("doctor on the m3ter sandbox: %v", err)
	}
}

// Logged in as a user without the BillsyncIntegration permission set (a
// sales user: every object and field is there and writable), doctor fails,
// naming the user and the command that assigns the set; the trigger would
// otherwise take billsync's writes for a person's.
func TestDoctorIntegrationUserWithoutPermissionSet(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	cfg.Salesforce.Username, cfg.Salesforce.Password = sfemu.SalesUsername, sfemu.SalesPassword
	out, err := runDoctorCmd(t, "--config", writeDoctorConfig(t, cfg))
	t.Logf("doctor output:\n%s", out)
	if err == nil || !strings.Contains(err.Error(), "1 of ") {
		t.Fatalf("doctor as a user without the permission set: err %v, want exactly one failed check", err)
	}
	for _, want := range []string{
		"ok   Salesforce login: org ",
		"FAIL Salesforce integration permission: " + sfemu.SalesUsername + " is not assigned a permission set carrying the BillsyncIntegration custom permission",
		"assign the permission set BillsyncIntegration to " + sfemu.SalesUsername +
			": `sf org assign permset --name BillsyncIntegration --on-behalf-of " + sfemu.SalesUsername + "`",
		"ok   Salesforce object BillingAccount__c",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// A mapping file that maps an account field to a custom field the org
// does not have: doctor fails naming the field and the fix.
func TestDoctorMappedFieldMissing(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	m := mapping.Default()
	found := false
	for i := range m.Objects {
		if m.Objects[i].Type == billsync.ObjectAccount {
			m.Objects[i].Fields = append(m.Objects[i].Fields, mapping.Field{Billing: "customFields.region",
				Salesforce: "Region__c", Kind: mapping.KindString, Direction: mapping.TwoWay})
			found = true
		}
	}
	if !found {
		t.Fatal("the default mapping has no account object")
	}
	mappingPath := writeMapping(t, m)
	out, err := runDoctorCmd(t, "--config", writeDoctorConfig(t, cfg), "--mapping", mappingPath)
	t.Logf("doctor output:\n%s", out)
	if err == nil {
		t.Fatal("doctor passed with a mapped field the org lacks")
	}
	for _, want := range []string{
		"ok   mapping: " + mappingPath,
		"FAIL Salesforce object BillingAccount__c: BillingAccount__c.Region__c missing: the mapping file (mapping: or --mapping) maps it and the org has no such field: create it",
		"give the integration user read and edit access to it, or take it out of the mapping file",
		"ok   Salesforce object BillingBalance__c",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// A mapping file's quote part is checked too: a quote-line custom field
// the org lacks is named, with the mapping file's fix.
func TestDoctorQuoteLineMappedFieldMissing(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	m := mapping.Default()
	q := *m.Quote()
	q.Line = append(append([]mapping.QuoteField(nil), q.Line...), mapping.QuoteField{Field: mapping.Field{
		Billing: "customFields.discountCode", Salesforce: "DiscountCode__c", Kind: mapping.KindString, Direction: mapping.ToSalesforce}})
	m.Quotes = &q
	mappingPath := writeMapping(t, m)
	out, err := runDoctorCmd(t, "--config", writeDoctorConfig(t, cfg), "--mapping", mappingPath)
	t.Logf("doctor output:\n%s", out)
	if err == nil {
		t.Fatal("doctor passed with a mapped quote-line field the org lacks")
	}
	if want := "QuoteLineItem.DiscountCode__c missing: the mapping file (mapping: or --mapping) maps it"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q", want)
	}
}

// writeMapping writes m as a mapping file and checks that it loads.
func writeMapping(t *testing.T, m *mapping.Mapping) string {
	t.Helper()
	y, err := yaml.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mapping.yaml")
	if err := os.WriteFile(path, y, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := mapping.Load(path); err != nil {
		t.Fatalf("the test's mapping does not load: %v", err)
	}
	return path
}
