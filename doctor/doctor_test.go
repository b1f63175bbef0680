package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/sfdx"
)

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
	target := Target{
		Salesforce: Salesforce{LoginURL: srv.URL, Grant: "password", ClientID: "id", ClientSecret: "secret",
			Username: "u@example.com", Password: "p", APIVersion: "62.0"},
		Billing:        Billing{URL: "http://127.0.0.1:1", Token: "t", WebhookSecret: "whsec_dGVzdA=="},
		APIBudgetShare: 0.9,
	}
	var buf bytes.Buffer
	failed := Print(&buf, Run(context.Background(), target, slog.New(slog.DiscardHandler)), false)
	out := buf.String()
	t.Logf("doctor output:\n%s", out)
	if failed == 0 {
		t.Fatal("doctor succeeded against an org without billsync's metadata")
	}
	for _, want := range []string{
		"ok   Salesforce login: org 00D000000000001AAA, user 005000000000001AAA",
		// The setup objects are not readable here: the check says so and how to decide it by hand.
		"FAIL Salesforce integration permission: cannot read the permission set assignments of 005000000000001AAA",
		"needs View Setup and Configuration for this check",
		"`sf org assign permset --name BillsyncIntegration --on-behalf-of 005000000000001AAA`",
		"FAIL Salesforce object BillingBalance__c: BillingBalance__c.Amount__c missing: deploy sfdx/ with `sf project deploy start`",
		"BillingBalance__c.Code__c not updateable by the integration user",
		"FAIL Salesforce object BillingAccount__c: BillingAccount__c missing: deploy sfdx/ with `sf project deploy start`",
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

// The built-in mapping names only fields of the SFDX source, so a missing
// field of it is always fixed by deploying sfdx/; only a mapping file's
// own fields get the "create it" fix.
func TestDoctorBuiltInMappingIsInTheSource(t *testing.T) {
	md, err := sfdx.Schema()
	if err != nil {
		t.Fatal(err)
	}
	fields := 0
	for _, o := range doctorNeeds(md, mapping.Default()) {
		for name, n := range o.fields {
			fields++
			if n.mappedOnly {
				t.Errorf("%s.%s: in the built-in mapping but not in sfdx/", o.name, name)
			}
		}
	}
	if fields == 0 {
		t.Fatal("doctorNeeds returned no fields")
	}
}
