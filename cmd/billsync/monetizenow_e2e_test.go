package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	mnemu "github.com/billsync/billsync/emulate/monetizenow"
	"github.com/billsync/billsync/sandbox"
)

// mnHarness is the sandbox with the MonetizeNow emulator as the billing
// side: a source of quotes only.
type mnHarness struct {
	*harness
	mn *mnemu.Emulator
}

func startMonetizeNowHarness(t *testing.T, seed bool) *mnHarness {
	t.Helper()
	h := startHarness(t, sandbox.Options{Billing: billsync.PlatformMonetizeNow, Seed: seed})
	return &mnHarness{harness: h, mn: h.sb.MonetizeNow}
}

func (h *mnHarness) quiesce() {
	h.t.Helper()
	quiet := func() (bool, string) {
		st, err := h.app().store.Stats(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return h.mn.Pending() == 0 && st.Pending == 0 && st.Running == 0,
			fmt.Sprintf("webhooks pending %d, queue %+v", h.mn.Pending(), st)
	}
	h.eventually("quiet", quiet)
	h.eventually("quiet again", quiet)
}

// api calls the MonetizeNow emulator's API as a user of MonetizeNow does.
func (h *mnHarness) api(method, path string, in any) {
	h.t.Helper()
	var body bytes.Buffer
	if in != nil {
		_ = json.NewEncoder(&body).Encode(in)
	}
	req, _ := http.NewRequest(method, h.sb.BillingURL+path, &body)
	req.Header.Set("x-api-key", sandbox.MonetizeNowKey)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode/100 != 2 {
		h.t.Fatalf("%s %s: %d", method, path, res.StatusCode)
	}
}

// account is a MonetizeNow account for a demo Salesforce Account.
func (h *mnHarness) account(name string) string {
	h.t.Helper()
	a, err := h.mn.CreateAccount(mnemu.Account{AccountName: name + " " + fmt.Sprint(time.Now().UnixNano()), CustomID: h.sb.Demo.Accounts[name]})
	if err != nil {
		h.t.Fatal(err)
	}
	return a.ID
}

func (h *mnHarness) stage(oppID string) string {
	o, _ := h.sb.SF.Record("Opportunity", oppID)
	return o.Str("StageName")
}

type mnLine struct{ id, sku, typ, qty, price, amend string }

func mnOffering(name, role string, lines ...mnLine) mnemu.QuoteOffering {
	o := mnemu.QuoteOffering{OfferingName: name, Role: role}
	for _, l := range lines {
		o.Items = append(o.Items, mnemu.QuoteItem{ID: l.id, SKU: l.sku, ProductName: l.sku, ProductType: l.typ,
			Quantity: json.Number(l.qty), UnitPrice: json.Number(l.price), AmendmentStatus: l.amend})
	}
	return o
}

// A MonetizeNow quote with two offerings syncs by the quote rules into a
// Quote, its lines, an Opportunity and its products; its stage follows
// MonetizeNow's transitions; an amendment's REFERENCE offering is left
// out and its unchanged item stays off the Opportunity; nothing is
// written back to MonetizeNow.
func TestMonetizeNowQuoteSync(t *testing.T) {
	t.Parallel()
	h := startMonetizeNowHarness(t, false)
	demo := h.sb.Demo
	rita := demo.SalesReps[0]
	acme := h.account("Acme Corporation")

	q, err := h.mn.CreateQuote(mnemu.Quote{AccountID: acme, Description: "Acme expansion", Currency: "EUR",
		ContractStartDate: "2027-01-01", ContractEndDate: "2027-12-31",
		QuoteOfferings: []mnemu.QuoteOffering{
			mnOffering("Platform", "", mnLine{"mn-a1", "PLAT-SUB", "ADVANCE", "10", "920.00", ""}, mnLine{"mn-a2", "SUPPORT", "ARREARS", "1", "230.00", ""}),
			mnOffering("Usage", "", mnLine{"mn-a3", "API-USAGE", "USAGE", "0", "0.03", ""}),
		}})
	if err != nil {
		t.Fatal(err)
	}
	rec := h.sfQuote(q.ID, func(r billsync.SObject) (bool, string) {
		n := len(h.children("QuoteLineItem", "QuoteId", r.ID()))
		return n == 3, fmt.Sprintf("%d lines", n)
	})
	std := demo.StandardPricebookID
	for what, c := range map[string][2]string{
		"Name": {rec.Str("Name"), "Acme expansion (" + q.ID + ")"}, "OwnerId": {rec.Str("OwnerId")[:15], rita[:15]},
		"Pricebook2Id": {rec.Str("Pricebook2Id")[:15], std[:15]}, "CurrencyIsoCode": {rec.Str("CurrencyIsoCode"), "EUR"},
	} {
		if c[0] != c[1] {
			t.Errorf("Quote.%s = %q, want %q", what, c[0], c[1])
		}
	}
	lines := h.children("QuoteLineItem", "QuoteId", rec.ID())
	if l := lines["mn-a1"]; l.Str("PricebookEntryId")[:15] != demo.Entries[std+"/PLAT-SUB/EUR"][:15] || l.Str("BillingOfferingName__c") != "Platform" {
		t.Errorf("line mn-a1 %v", l)
	}
	if l := lines["mn-a3"]; l.Str("BillingOfferingName__c") != "Usage" {
		t.Errorf("line mn-a3 %v", l)
	}
	oppID := rec.Str("OpportunityId")
	if h.stage(oppID) != "Prospecting" {
		t.Errorf("auto-created Opportunity at stage %q", h.stage(oppID))
	}
	h.eventually("Opportunity products", func() (bool, string) {
		got := keySet(h.children("OpportunityLineItem", "OpportunityId", oppID))
		return got == "mn-a1,mn-a2,mn-a3", got
	})

	// MonetizeNow's stage transitions move the Opportunity's stage:
	// REVIEW is pending approval, a processed quote is accepted.
	h.api("POST", "/api/quotes/"+q.ID+"/review", nil)
	h.eventually("stage after review", func() (bool, string) {
		return h.stage(oppID) == "Proposal/Price Quote", h.stage(oppID)
	})
	h.api("POST", "/api/quotes/"+q.ID+"/send", nil)
	h.api("POST", "/api/quotes/"+q.ID+"/accept", map[string]string{"mode": "PROCESS_AUTOMATICALLY"})
	h.eventually("stage after acceptance", func() (bool, string) {
		return h.stage(oppID) == "Closed Won", h.stage(oppID)
	})

	// An amendment: its REFERENCE offering (the contract as processed) is
	// left out; ADDED and UPDATED items reach the Opportunity, NO_CHANGE
	// does not; it keeps the original quote's owner.
	am, err := h.mn.CreateQuote(mnemu.Quote{AccountID: acme, Description: "Acme amendment", Type: "AMENDMENT", OriginalQuoteID: q.ID,
		Currency: "EUR", ContractStartDate: "2027-04-01", ContractEndDate: "2027-12-31",
		QuoteOfferings: []mnemu.QuoteOffering{
			mnOffering("Platform", "", mnLine{"mn-m1", "PLAT-SUB", "ADVANCE", "10", "920.00", "NO_CHANGE"},
				mnLine{"mn-m2", "SUPPORT", "ARREARS", "3", "230.00", "UPDATED"}),
			mnOffering("Onboarding", "", mnLine{"mn-m3", "ONBOARD", "ONETIME", "1", "1850.00", "ADDED"}),
			mnOffering("Platform (as contracted)", "REFERENCE", mnLine{"mn-r1", "PLAT-SUB", "ADVANCE", "10", "920.00", ""},
				mnLine{"mn-r2", "SUPPORT", "ARREARS", "1", "230.00", ""}),
		}})
	if err != nil {
		t.Fatal(err)
	}
	amRec := h.sfQuote(am.ID, func(r billsync.SObject) (bool, string) {
		ls := keySet(h.children("QuoteLineItem", "QuoteId", r.ID()))
		return ls == "mn-m1,mn-m2,mn-m3", ls
	})
	if amRec.Str("OwnerId")[:15] != rec.Str("OwnerId")[:15] {
		t.Errorf("amendment owner %s, want the original's %s", amRec.Str("OwnerId"), rec.Str("OwnerId"))
	}
	amOpp := amRec.Str("OpportunityId")
	h.eventually("amendment products", func() (bool, string) {
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", amOpp))
		return ps == "mn-m2,mn-m3", ps
	})

	// An edit of the draft amendment in MonetizeNow (an offering's items
	// replaced) reaches Salesforce.
	if _, err := h.mn.UpdateQuote(am.ID, func(q *mnemu.Quote) {
		q.QuoteOfferings[0].Items[1].Quantity = "5"
		q.Description = "Acme amendment v2"
	}); err != nil {
		t.Fatal(err)
	}
	h.sfQuote(am.ID, func(r billsync.SObject) (bool, string) {
		l := h.children("QuoteLineItem", "QuoteId", r.ID())["mn-m2"]
		return strings.HasPrefix(r.Str("Name"), "Acme amendment v2") && quantityIs(l, "5"), fmt.Sprint(r.Str("Name"), l)
	})
	h.quiesce()

	// billsync wrote nothing to MonetizeNow: the Opportunity it created
	// is kept in its sync state, its write-back refused as unsupported.
	if got := h.mn.Quote(q.ID); got.Opportunity != nil || got.LastModifiedBy != "usr_emulator0000000" {
		t.Errorf("the MonetizeNow quote changed: %+v", got.Opportunity)
	}
	h.quoteLog(q.ID, func(e billsync.LogEntry) bool { return e.Reason == billsync.ReasonUnsupported })
}

// MonetizeNow's webhooks carry no signature billsync can check: one posted
// without the URL's token is not found, and a forged one with it causes
// at most a re-read — Salesforce gets MonetizeNow's own quote, not the
// body's.
func TestMonetizeNowForgedWebhookIsOnlyARead(t *testing.T) {
	t.Parallel()
	h := startMonetizeNowHarness(t, false)
	acme := h.account("Acme Corporation")
	q, err := h.mn.CreateQuote(mnemu.Quote{AccountID: acme, Description: "Genuine", Currency: "USD",
		QuoteOfferings: []mnemu.QuoteOffering{mnOffering("Platform", "", mnLine{"mn-f1", "PLAT-SUB", "ADVANCE", "1", "1000", ""})}})
	if err != nil {
		t.Fatal(err)
	}
	h.sfQuote(q.ID, nil)
	h.quiesce()
	token := readTrimmed(filepath.Join(h.sb.AppConfig("").Data, "..", "monetizenow-webhook-token"))
	if token == "" {
		t.Fatal("no webhook token in the sandbox's data directory")
	}
	forged := fmt.Sprintf(`{"eventId":"forged-1","userId":"usr_x","sentTime":"2026-12-01T00:00:00Z","eventType":"quote.updated",
	 "data":{"id":%q,"description":"Forged","status":"PROCESSED","quoteOfferings":[]}}`, q.ID)
	post := func(path string) int {
		res, err := http.Post(h.sb.AppURL()+path, "application/json", bytes.NewBufferString(forged))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := post("/webhooks/monetizenow/not-the-token"); st != http.StatusNotFound {
		t.Errorf("without the token: %d", st)
	}
	if st := post("/webhooks/monetizenow/" + token); st/100 != 2 {
		t.Fatalf("with the token: %d", st)
	}
	h.quiesce()
	rec := h.sfQuote(q.ID, nil)
	if !strings.HasPrefix(rec.Str("Name"), "Genuine") || rec.Str("Status") != "Draft" {
		t.Errorf("Salesforce took the forged body: %q %q", rec.Str("Name"), rec.Str("Status"))
	}
	if n := len(h.children("QuoteLineItem", "QuoteId", rec.ID())); n != 1 {
		t.Errorf("lines after the forged webhook: %d", n)
	}
}

// A quote changed while MonetizeNow's webhooks do not arrive is found by
// the poll (billing.pollInterval) and reaches Salesforce.
func TestMonetizeNowPollFindsWhatWebhooksMissed(t *testing.T) {
	t.Parallel()
	h := startMonetizeNowHarness(t, false)
	acme := h.account("Acme Corporation")
	h.mn.PauseDelivery(true)
	t.Cleanup(func() { h.mn.PauseDelivery(false) })
	q, err := h.mn.CreateQuote(mnemu.Quote{AccountID: acme, Description: "Missed", Currency: "USD",
		QuoteOfferings: []mnemu.QuoteOffering{mnOffering("Platform", "", mnLine{"mn-p1", "PLAT-SUB", "ADVANCE", "2", "1000", ""})}})
	if err != nil {
		t.Fatal(err)
	}
	h.sfQuote(q.ID, nil)
	if h.mn.Pending() == 0 {
		t.Error("the webhooks were delivered after all: the poll was not what found the quote")
	}
}

// billsync sandbox --billing monetizenow seeds quotes that sync, each
// with its lines, the amendment without its REFERENCE offering.
func TestMonetizeNowSandboxSeed(t *testing.T) {
	t.Parallel()
	h := startMonetizeNowHarness(t, true)
	want := map[string]string{"Acme platform expansion": "seed-q1-api,seed-q1-plat,seed-q1-support", "Globex onboarding": "seed-q2-onboard,seed-q2-plat",
		"Acme: more support seats": "seed-q3-api,seed-q3-plat,seed-q3-support", "Globex renewal 2028": "seed-q4-plat"}
	h.eventually("the seeded quotes in Salesforce", func() (bool, string) {
		got := map[string]string{}
		for _, r := range h.sb.SF.Records("Quote") {
			name, _, _ := strings.Cut(r.Str("Name"), " (")
			got[name] = keySet(h.children("QuoteLineItem", "QuoteId", r.ID()))
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprint(got)
	})
	for _, a := range h.sb.SF.Records("BillingAccount__c") {
		t.Errorf("an account synced with MonetizeNow, which is a source of quotes only: %v", a)
	}
	byName := map[string]billsync.SObject{}
	ids := map[string]string{}
	for _, r := range h.sb.SF.Records("Quote") {
		name, _, _ := strings.Cut(r.Str("Name"), " (")
		byName[name] = r
		ids[name] = r.Str("BillingQuoteId__c")
	}
	sam := h.sb.Demo.SalesReps[1]
	// The quote linked to Sam's Opportunity (opportunity.customId) is in
	// it and takes its owner.
	q1 := byName["Acme platform expansion"]
	opp, _ := h.sb.SF.Record("Opportunity", q1.Str("OpportunityId"))
	if opp.Str("Name") != "Acme platform expansion" || q1.Str("OwnerId")[:15] != sam[:15] {
		t.Errorf("linked quote %v in Opportunity %v", q1, opp)
	}
	// In review: the stage of a quote pending approval.
	if st := h.stage(byName["Globex onboarding"].Str("OpportunityId")); st != "Proposal/Price Quote" {
		t.Errorf("Globex onboarding's Opportunity at %q", st)
	}
	// The manual renewal carries the renewal placeholder product.
	renewalOpp := byName["Globex renewal 2028"].Str("OpportunityId")
	h.eventually("the renewal placeholder", func() (bool, string) {
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", renewalOpp))
		return ps == "code:RENEWAL-PLACEHOLDER,seed-q4-plat", ps
	})
	// The amendment's NO_CHANGE line stays off its Opportunity until a
	// sales user sets ALWAYS on it; NEVER keeps an eligible one off.
	am := byName["Acme: more support seats"]
	amOpp := am.Str("OpportunityId")
	h.eventually("amendment products", func() (bool, string) {
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", amOpp))
		return ps == "seed-q3-api,seed-q3-support", ps
	})
	lines := h.children("QuoteLineItem", "QuoteId", am.ID())
	h.salesUpdate("QuoteLineItem", billsync.SObject{"Id": lines["seed-q3-plat"].ID(), "OverrideOpportunitySync__c": "ALWAYS"})
	h.salesUpdate("QuoteLineItem", billsync.SObject{"Id": lines["seed-q3-api"].ID(), "OverrideOpportunitySync__c": "NEVER"})
	if _, err := h.mn.UpdateQuote(ids["Acme: more support seats"], func(q *mnemu.Quote) { q.Description = "Acme: more support seats v2" }); err != nil {
		t.Fatal(err)
	}
	h.eventually("ALWAYS and NEVER", func() (bool, string) {
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", amOpp))
		return ps == "seed-q3-plat,seed-q3-support", ps
	})
}

func quantityIs(r billsync.SObject, want string) bool {
	got, err := billsync.ParseNumber(fmt.Sprint(r["Quantity"]))
	return err == nil && got.Equal(billsync.MustMoney(want))
}

// billing.platform monetizenow: billing.url defaults to MonetizeNow's API,
// billing.token is the API key, and billing.webhookSecret is the webhook
// URL's token, long enough not to be guessed.
func TestMonetizeNowConfig(t *testing.T) {
	cfg := completeConfig(t)
	cfg.Billing.Platform, cfg.Billing.URL, cfg.Billing.WebhookSecret = billsync.PlatformMonetizeNow, "", ""
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "billing.webhookSecret") || !strings.Contains(err.Error(), "/webhooks/monetizenow/") {
		t.Errorf("without a token: %v", err)
	}
	cfg.Billing.WebhookSecret = "short"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("a short token: %v", err)
	}
	cfg.Billing.WebhookSecret = "0123456789abcdef0123"
	if err := cfg.Validate(); err != nil {
		t.Errorf("complete: %v", err)
	}
	if cfg.Billing.WebhookPath() != "/webhooks/monetizenow" || cfg.Billing.WebhookToken() != "0123456789abcdef0123" {
		t.Errorf("webhook path %q token %q", cfg.Billing.WebhookPath(), cfg.Billing.WebhookToken())
	}
}

// With billing.platform monetizenow the doctor checks MonetizeNow: the API
// key reaches its quotes, and the webhook URL has its token.
func TestDoctorMonetizeNow(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true, Billing: billsync.PlatformMonetizeNow})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	out, err := runDoctorCmd(t, "--config", writeDoctorConfig(t, cfg))
	t.Logf("doctor output:\n%s", out)
	if err != nil || strings.Contains(out, "FAIL") || !strings.Contains(out, "ok   MonetizeNow API key") || !strings.Contains(out, "ok   MonetizeNow webhook URL token") {
		t.Fatalf("doctor on the MonetizeNow sandbox: %v", err)
	}
}
