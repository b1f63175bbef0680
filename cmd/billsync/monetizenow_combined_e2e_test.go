package main

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	mnemu "github.com/billsync/billsync/emulate/monetizenow"
	"github.com/billsync/billsync/runner"
	"github.com/billsync/billsync/sandbox"
)

// combinedHarness is the sandbox with m3ter for accounts and balances and
// MonetizeNow beside it for quotes (billing.quotes), in one billsync.
type combinedHarness struct {
	*m3terHarness
	mn *mnemu.Emulator
}

func startCombinedHarness(t *testing.T) *combinedHarness {
	t.Helper()
	h := startHarness(t, sandbox.Options{Billing: billsync.PlatformM3ter, Quotes: billsync.PlatformMonetizeNow})
	c, err := h.sb.M3terConsole()
	if err != nil {
		t.Fatal(err)
	}
	if q := h.app().cfg.Billing.Quotes; q.Platform != billsync.PlatformMonetizeNow || q.Link() != "code" {
		t.Fatalf("billing.quotes in the sandbox: %+v", q)
	}
	return &combinedHarness{m3terHarness: &m3terHarness{harness: h, console: c}, mn: h.sb.MonetizeNow}
}

func (h *combinedHarness) quiesce() {
	h.t.Helper()
	quiet := func() (bool, string) {
		st, err := h.app().store.Stats(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return h.sb.M3ter.Pending() == 0 && h.mn.Pending() == 0 && st.Pending == 0 && st.Running == 0,
			fmt.Sprintf("webhooks pending m3ter %d, MonetizeNow %d, queue %+v", h.sb.M3ter.Pending(), h.mn.Pending(), st)
	}
	h.eventually("quiet", quiet)
	h.eventually("quiet again", quiet)
}

// m3ter keeps the account and its balance, both ways; MonetizeNow is the
// quote source beside it. A MonetizeNow account names its m3ter account
// by code (billing.quotes.accountLink code), so its quote reaches
// Salesforce on the Salesforce Account the m3ter account is linked to.
// A quote whose account names no m3ter account fails with a message
// naming the setting, and MonetizeNow's webhook route has a token of its
// own.
func TestMonetizeNowQuotesBesideM3ter(t *testing.T) {
	t.Parallel()
	h := startCombinedHarness(t)
	ctx := context.Background()
	acme := h.sb.Demo.Accounts["Acme Corporation"]

	// The m3ter account, linked to Salesforce's Acme, both ways.
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "ACME-Q", "name": "Acme Quotes Ltd",
		"emailAddress": "quotes@acme.example", "crmAccountId": acme})
	sfAcc := h.sfRecord("BillingAccount__c", acc.ID(), nil)
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfAcc.ID(), "Name": "Acme Quotes Worldwide"})
	got := h.m3ter(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) bool { return e.Str("name") == "Acme Quotes Worldwide" })
	got["name"] = "Acme Quotes International"
	if _, err := h.console.Update(ctx, billsync.ObjectAccount, got); err != nil {
		t.Fatal(err)
	}
	h.sfRecord("BillingAccount__c", acc.ID(), func(r billsync.SObject) bool { return r.Str("Name") == "Acme Quotes International" })

	// The MonetizeNow quote, two offerings, on the account whose customId
	// is the m3ter account's code.
	mnAcc, err := h.mn.CreateAccount(mnemu.Account{AccountName: "Acme (MonetizeNow)", CustomID: "ACME-Q", DefaultCurrency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := h.mn.CreateQuote(mnemu.Quote{AccountID: mnAcc.ID, Description: "Acme beside m3ter", Currency: "EUR",
		ContractStartDate: "2027-01-01", ContractEndDate: "2027-12-31",
		QuoteOfferings: []mnemu.QuoteOffering{
			mnOffering("Platform", "", mnLine{"cb-1", "PLAT-SUB", "ADVANCE", "10", "920.00", ""}, mnLine{"cb-2", "SUPPORT", "ARREARS", "1", "230.00", ""}),
			mnOffering("Usage", "", mnLine{"cb-3", "API-USAGE", "USAGE", "0", "0.03", ""}),
		}})
	if err != nil {
		t.Fatal(err)
	}
	rec := h.sfQuote(q.ID, func(r billsync.SObject) (bool, string) {
		n := len(h.children("QuoteLineItem", "QuoteId", r.ID()))
		return n == 3, fmt.Sprintf("%d lines", n)
	})
	opp, _ := h.sb.SF.Record("Opportunity", rec.Str("OpportunityId"))
	if a := opp.Str("AccountId"); len(a) < 15 || a[:15] != acme[:15] {
		t.Errorf("the quote's Opportunity is on Account %q, want Acme %s (through m3ter account ACME-Q)", a, acme)
	}
	if l := h.children("QuoteLineItem", "QuoteId", rec.ID())["cb-3"]; l.Str("BillingOfferingName__c") != "Usage" {
		t.Errorf("line cb-3 %v", l)
	}

	// A quote whose account names no m3ter account is not synced, and
	// says which setting links it.
	lost, err := h.mn.CreateAccount(mnemu.Account{AccountName: "Nobody", CustomID: "NO-SUCH-CODE"})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := h.mn.CreateQuote(mnemu.Quote{AccountID: lost.ID, Description: "Orphan", Currency: "EUR",
		ContractStartDate: "2027-01-01", ContractEndDate: "2027-12-31",
		QuoteOfferings: []mnemu.QuoteOffering{mnOffering("Platform", "", mnLine{"cb-9", "PLAT-SUB", "ADVANCE", "1", "920.00", ""})}})
	if err != nil {
		t.Fatal(err)
	}
	orphanLog := h.quoteLog(orphan.ID, func(e billsync.LogEntry) bool {
		return e.Outcome != billsync.OutcomeSuccess && strings.Contains(e.Message, "billing.quotes.accountLink") && strings.Contains(e.Message, "NO-SUCH-CODE")
	})
	if orphanLog.Outcome != billsync.OutcomeDead || orphanLog.Reason != billsync.ReasonValidation {
		t.Errorf("the orphan quote: %+v, want a dead letter (validation)", orphanLog)
	}

	// Each platform's webhook URL has its own token: m3ter's does not
	// open MonetizeNow's route.
	data := filepath.Join(h.sb.AppConfig("").Data, "..")
	m3terToken, mnToken := readTrimmed(filepath.Join(data, "m3ter-webhook-token")), readTrimmed(filepath.Join(data, "monetizenow-webhook-token"))
	if m3terToken == "" || mnToken == "" || m3terToken == mnToken {
		t.Fatalf("webhook tokens: m3ter %q, MonetizeNow %q", m3terToken, mnToken)
	}
	post := func(path string) int {
		body := fmt.Sprintf(`{"eventId":"forged-1","eventType":"quote.updated","sentTime":"2026-12-01T00:00:00Z","data":{"id":%q,"description":"Forged"}}`, q.ID)
		res, err := http.Post(h.sb.AppURL()+path, "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := post("/webhooks/monetizenow/" + m3terToken); st != http.StatusNotFound {
		t.Errorf("MonetizeNow's route with m3ter's token: %d", st)
	}
	if st := post("/webhooks/monetizenow/" + mnToken); st/100 != 2 {
		t.Errorf("MonetizeNow's route with its token: %d", st)
	}
	h.quiesce()
	if r := h.sfQuote(q.ID, nil); !strings.HasPrefix(r.Str("Name"), "Acme beside m3ter") {
		t.Errorf("Salesforce took the forged body: %q", r.Str("Name"))
	}
	n := 0
	for _, r := range h.sb.SF.Records("Quote") {
		if r.Str("BillingQuoteId__c") == q.ID {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d Salesforce Quotes for %s (webhook, poll and forged re-read), want 1", n, q.ID)
	}
}

// The doctor checks the quote source beside the billing platform, naming
// billing.quotes in what it finds wrong.
func TestDoctorQuoteSource(t *testing.T) {
	h := startHarness(t, sandbox.Options{NoApp: true, Quotes: billsync.PlatformMonetizeNow})
	cfg := sandboxConfig(h.sb.AppConfig("127.0.0.1:0"))
	write := func(key string) string {
		path := writeDoctorConfig(t, cfg)
		y, _ := os.ReadFile(path)
		q := cfg.Billing.Quotes
		y = []byte(strings.Replace(string(y), "billing:\n", fmt.Sprintf("billing:\n  quotes:\n    platform: monetizenow\n    url: %q\n    token: %q\n    webhookSecret: %q\n    accountLink: code\n",
			q.URL, key, q.WebhookSecret), 1))
		if err := os.WriteFile(path, y, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	out, err := runDoctorCmd(t, "--config", write(cfg.Billing.Quotes.Token))
	t.Logf("doctor output:\n%s", out)
	for _, want := range []string{"ok   billing webhook secret", "ok   MonetizeNow (quote source) API key", "ok   MonetizeNow (quote source) webhook URL token"} {
		if err != nil || strings.Contains(out, "FAIL") || !strings.Contains(out, want) {
			t.Fatalf("doctor on the contract with MonetizeNow quotes: %v, want %q", err, want)
		}
	}
	out, err = runDoctorCmd(t, "--config", write("not-the-key"))
	t.Logf("doctor output:\n%s", out)
	if err == nil || !strings.Contains(out, "FAIL MonetizeNow (quote source) API key") {
		t.Fatalf("doctor with a wrong MonetizeNow key: %v", err)
	}
}

// Beside billsync's billing contract too: the contract keeps accounts
// (both ways), MonetizeNow's quote reaches Salesforce on the Account the
// contract account of its code links, and a quote the contract itself
// sends is not synced (MonetizeNow is the one quote source).
func TestMonetizeNowQuotesBesideTheContract(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{Quotes: billsync.PlatformMonetizeNow})
	mn := h.sb.MonetizeNow
	globex := h.sb.Demo.Accounts["Globex"]

	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "GLX-Q", "name": "Globex Quotes", "currency": "USD", "crmAccountId": globex})
	sfAcc := h.sfRecord("BillingAccount__c", acc.ID(), nil)
	h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfAcc.ID(), "Name": "Globex Quotes GmbH"})
	h.billingRecord(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) bool { return e.Str("name") == "Globex Quotes GmbH" })

	mnAcc, err := mn.CreateAccount(mnemu.Account{AccountName: "Globex (MonetizeNow)", CustomID: "GLX-Q"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := mn.CreateQuote(mnemu.Quote{AccountID: mnAcc.ID, Description: "Globex beside the contract", Currency: "USD",
		ContractStartDate: "2027-01-01", ContractEndDate: "2027-12-31",
		QuoteOfferings: []mnemu.QuoteOffering{
			mnOffering("Platform", "", mnLine{"gc-1", "PLAT-SUB", "ADVANCE", "5", "1000.00", ""}),
			mnOffering("Services", "", mnLine{"gc-2", "ONBOARD", "ONETIME", "1", "1850.00", ""}),
		}})
	if err != nil {
		t.Fatal(err)
	}
	rec := h.sfQuote(q.ID, func(r billsync.SObject) (bool, string) {
		n := len(h.children("QuoteLineItem", "QuoteId", r.ID()))
		return n == 2, fmt.Sprintf("%d lines", n)
	})
	if opp, _ := h.sb.SF.Record("Opportunity", rec.Str("OpportunityId")); opp.Str("AccountId")[:15] != globex[:15] {
		t.Errorf("the quote's Opportunity is on Account %q, want Globex %s", opp.Str("AccountId"), globex)
	}

	// The overview's status names both connections (sampled as billsync
	// starts; waited for, as a busy machine may not have got there yet).
	var st billsync.Status
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if st, err = h.admin.Status(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st.Quotes != nil && !st.Quotes.CheckedAt.IsZero() || time.Now().After(deadline) {
			break
		}
	}
	if st.Billing.Platform != billsync.PlatformContract || st.Quotes == nil || st.Quotes.Platform != billsync.PlatformMonetizeNow || !st.Quotes.OK {
		t.Errorf("status: billing %+v, quotes %+v; want contract, and monetizenow answering", st.Billing, st.Quotes)
	}

	cq := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": acc.ID(), "description": "From the contract", "status": "DRAFT", "type": "NEW",
		"currency": "USD", "offerings": qOfferings(qline{"gc-x1", "PLAT-SUB", "SUBSCRIPTION", "1", "1000", ""})})
	h.quiesce()
	for _, r := range h.sb.SF.Records("Quote") {
		if r.Str("BillingQuoteId__c") == cq.ID() {
			t.Errorf("the contract's quote reached Salesforce beside MonetizeNow: %v", r)
		}
	}
	if n := len(h.logs(billsync.LogFilter{Object: billsync.ObjectQuote, Record: cq.ID()})); n != 0 {
		t.Errorf("the contract's quote was synced: %d sync-log entries", n)
	}
}

// Beside m3ter, MonetizeNow's quotes missed by its webhooks are found by
// the quote source's own poll, which keeps a checkpoint apart from m3ter's
// events poll.
func TestMonetizeNowPollBesideM3ter(t *testing.T) {
	t.Parallel()
	h := startCombinedHarness(t)
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "POLL-Q", "name": "Poll Quotes", "emailAddress": "poll@example.test",
		"crmAccountId": h.sb.Demo.Accounts["Initech"]})
	h.sfRecord("BillingAccount__c", acc.ID(), nil)
	mnAcc, err := h.mn.CreateAccount(mnemu.Account{AccountName: "Initech (MonetizeNow)", CustomID: "POLL-Q"})
	if err != nil {
		t.Fatal(err)
	}
	h.mn.PauseDelivery(true)
	t.Cleanup(func() { h.mn.PauseDelivery(false) })
	q, err := h.mn.CreateQuote(mnemu.Quote{AccountID: mnAcc.ID, Description: "Missed beside m3ter", Currency: "USD",
		QuoteOfferings: []mnemu.QuoteOffering{mnOffering("Platform", "", mnLine{"pb-1", "PLAT-SUB", "ADVANCE", "2", "1000", ""}),
			mnOffering("Support", "", mnLine{"pb-2", "SUPPORT", "ADVANCE", "1", "250", ""})}})
	if err != nil {
		t.Fatal(err)
	}
	h.sfQuote(q.ID, func(r billsync.SObject) (bool, string) {
		n := len(h.children("QuoteLineItem", "QuoteId", r.ID()))
		return n == 2, fmt.Sprintf("%d lines", n)
	})
	if h.mn.Pending() == 0 {
		t.Error("the webhooks were delivered after all: the poll was not what found the quote")
	}
	ctx := context.Background()
	mine, ok, err := h.app().store.Meta(ctx, metaQuotesPollCheckpoint)
	if err != nil || !ok || mine == "" {
		t.Fatalf("the quote source's poll checkpoint: %q %v %v", mine, ok, err)
	}
	if theirs, _, _ := h.app().store.Meta(ctx, runner.MetaPollCheckpoint); theirs == mine {
		t.Errorf("the quote source's poll shares m3ter's checkpoint %q", theirs)
	}
}

// syncBuffer is a log sink tests read while billsync writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The quote source's API key and webhook URL token appear nowhere in
// billsync's debug log: not in its calls to MonetizeNow, its webhook
// lines, a refused URL, or a quote that fails.
func TestQuoteSourceSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	logs := &syncBuffer{}
	h := startHarness(t, sandbox.Options{Billing: billsync.PlatformM3ter, Quotes: billsync.PlatformMonetizeNow,
		StartApp: func(ctx context.Context, ac sandbox.AppConfig, _ *slog.Logger) (sandbox.App, error) {
			return startSandboxApp(ctx, ac, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
		}})
	q := h.app().cfg.Billing.Quotes
	if q.Token == "" || len(q.WebhookSecret) < 16 {
		t.Fatalf("billing.quotes in the sandbox: %+v", q)
	}
	mn := h.sb.MonetizeNow
	lost, err := mn.CreateAccount(mnemu.Account{AccountName: "Nobody", CustomID: "NO-CODE"})
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := mn.CreateQuote(mnemu.Quote{AccountID: lost.ID, Description: "Orphan", Currency: "USD",
		QuoteOfferings: []mnemu.QuoteOffering{mnOffering("Platform", "", mnLine{"sl-1", "PLAT-SUB", "ADVANCE", "1", "1", ""})}})
	if err != nil {
		t.Fatal(err)
	}
	h.quoteLog(orphan.ID, func(e billsync.LogEntry) bool { return e.Outcome == billsync.OutcomeDead })
	for _, path := range []string{"/webhooks/monetizenow/" + q.WebhookSecret + "x", "/webhooks/monetizenow/" + q.WebhookSecret} {
		res, err := http.Post(h.sb.AppURL()+path, "application/json", bytes.NewBufferString(`{"eventId":"e1","eventType":"quote.updated","data":{"id":"`+orphan.ID+`"}}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	h.eventually("the webhooks logged", func() (bool, string) {
		out := logs.String()
		return strings.Contains(out, "webhook accepted") && strings.Contains(out, "/webhooks/monetizenow/"), "not yet"
	})
	out := logs.String()
	for name, secret := range map[string]string{"billing.quotes.token": q.Token, "billing.quotes.webhookSecret": q.WebhookSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("%s appears in billsync's log", name)
		}
	}
}
