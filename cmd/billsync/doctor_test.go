package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/sandbox"
	"github.com/billsync/billsync/sfdx"
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
  url: %q
  token: %q
  webhookSecret: %q
adminTokens:
  admin: admin-token
`, cfg.Addr, cfg.Data, cfg.Salesforce.LoginURL, cfg.Salesforce.Grant, cfg.Salesforce.ClientID, cfg.Salesforce.ClientSecret,
		cfg.Salesforce.Username, cfg.Salesforce.Password, cfg.Salesforce.APIVersion, cfg.Billing.URL, cfg.Billing.Token, cfg.Billing.WebhookSecret)
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
		OK     bool          `json:"ok"`
		Checks []doctorCheck `json:"checks"`
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
		"check sfdx.username",
		"sfdx.password",
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
		"FAIL config: config: missing sfdx.clientId",
		"billing.token",
		"FAIL Salesforce login: ",
		"FAIL billing tenant: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
}

// An org without part of the metadata: each missing object and field is
// named with the fix, and a read-only field is reported as such.
func TestDoctorMissingMetadata(t *testing.T) {
	md, err := sfdx.Schema()
	if err != nil {
		t.Fatal(err)
	}
	var balance *objectNeed
	for _, o := range doctorNeeds(md, mapping.Default()) {
		if o.name == "BillingBalance__c" {
			balance = o
		}
	}
	if balance == nil {
		t.Fatal("doctorNeeds lacks BillingBalance__c")
	}
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Sforce-Limit-Info", "api-usage=95/100")
		switch {
		case r.URL.Path == "/services/oauth2/token":
			json.NewEncoder(w).Encode(map[string]any{"access_token": "tok", "token_type": "Bearer", "instance_url": srv.URL,
				"id": srv.URL + "/id/00D000000000001AAA/005000000000001AAA"})
		case strings.HasSuffix(r.URL.Path, "/sobjects/BillingBalance__c/describe"):
			var fields []map[string]any
			for _, f := range balance.order {
				if f == "Amount__c" {
					continue
				}
				fields = append(fields, map[string]any{"name": f, "type": "string", "createable": true, "updateable": f != "Code__c"})
			}
			json.NewEncoder(w).Encode(map[string]any{"name": "BillingBalance__c", "custom": true, "fields": fields})
		default:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode([]map[string]any{{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}})
		}
	}))
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.Salesforce = SalesforceConfig{LoginURL: srv.URL, Grant: "password", ClientID: "id", ClientSecret: "secret",
		Username: "u@example.com", Password: "p", APIVersion: "62.0"}
	out, err := runDoctorCmd(t, "--config", writeDoctorConfig(t, cfg))
	t.Logf("doctor output:\n%s", out)
	if err == nil {
		t.Fatal("doctor succeeded against an org without billsync's metadata")
	}
	for _, want := range []string{
		"ok   Salesforce login: org 00D000000000001AAA, user 005000000000001AAA",
		"FAIL Salesforce object BillingBalance__c: BillingBalance__c.Amount__c missing: deploy salesforce/ with `sf project deploy start`",
		"BillingBalance__c.Code__c not updateable by the integration user",
		"FAIL Salesforce object BillingAccount__c: BillingAccount__c missing: deploy salesforce/ with `sf project deploy start`",
		"FAIL Salesforce platform event BillingObjectChange__e: BillingObjectChange__e missing",
		"FAIL Salesforce object Quote: Quote missing: enable it in Setup",
		"FAIL Salesforce API budget: 95 of 100 daily API requests used (95.0 %), above 90 %",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "BillingBalance__c.Name missing") {
		t.Error("a present field reported missing")
	}
}
