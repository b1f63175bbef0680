package monetizenowapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	emu "github.com/billsync/billsync/emulate/monetizenow"
)

const (
	testKey  = "mn-test-key"
	sfAcct   = "001000000000001AAA"
	sfOppty  = "006000000000001AAA"
	notSFRef = "6b48c3f6-852e-4cd7-b4f4-a35ad60ad483"
)

type fixture struct {
	emu    *emu.Emulator
	srv    *httptest.Server
	client *Client
	fail   atomic.Int32 // answer this many requests 503 first
	calls  atomic.Int32
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	// Each reading of the emulator's clock is a millisecond later, so
	// every change has its own modifyDate.
	var tick atomic.Int64
	base := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	clock := func() time.Time { return base.Add(time.Duration(tick.Add(1)) * time.Millisecond) }
	e, err := emu.New(emu.Options{APIKey: testKey, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{emu: e}
	h := e.Handler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.calls.Add(1)
		if f.fail.Add(-1) >= 0 {
			ct, b := emu.FaultFormat(503, "", "")
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(503)
			_, _ = w.Write(b)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { f.srv.Close(); e.Close() })
	c, err := NewClient(billsync.BillingOptions{URL: f.srv.URL, Token: testKey})
	if err != nil {
		t.Fatal(err)
	}
	c.sleep = func(context.Context, time.Duration) error { return nil }
	f.client = c
	return f
}

// amendment is an AMENDMENT quote with two offerings, a REFERENCE one,
// and items in every change state.
func (f *fixture) amendment(t *testing.T) (*emu.Quote, *emu.Account) {
	t.Helper()
	acc, err := f.emu.CreateAccount(emu.Account{AccountName: "Acme", CustomID: sfAcct})
	if err != nil {
		t.Fatal(err)
	}
	orig, err := f.emu.CreateQuote(emu.Quote{AccountID: acc.ID, Currency: "USD", Description: "Original"})
	if err != nil {
		t.Fatal(err)
	}
	q, err := f.emu.CreateQuote(emu.Quote{AccountID: acc.ID, Type: "AMENDMENT", OriginalQuoteID: orig.ID, Currency: "EUR",
		Description: "More seats", ContractStartDate: "2027-01-01", ContractEndDate: "2027-12-31", ExpirationDate: "2026-12-31",
		ContractRenewalTerms: &emu.RenewalTerms{ContractEndAction: "MANUAL_RENEW"},
		Opportunity:          &emu.Opportunity{ID: "opp_1", CustomID: sfOppty},
		QuoteOfferings: []emu.QuoteOffering{
			{OfferingName: "Platform", Items: []emu.QuoteItem{
				{ID: "it-plat", SKU: "PLAT-SUB", ProductName: "Platform", ProductType: "ADVANCE", Quantity: "12", UnitPrice: "1000.00", AmendmentStatus: "UPDATED"},
				{ID: "it-sup", SKU: "SUPPORT", ProductType: "ARREARS", Quantity: "1", UnitPrice: "300", UnitPriceAfterDiscount: "249.995", AmendmentStatus: "ADDED"},
				{ID: "it-old", SKU: "ONBOARD", ProductType: "ONETIME", Quantity: "1", UnitPrice: "1850", AmendmentStatus: "REMOVED"},
			}},
			{OfferingName: "Usage", Items: []emu.QuoteItem{
				{ID: "it-api", ProductID: "prod_api", ProductType: "USAGE", Quantity: "1.0E2", UnitPrice: "0.0004", AmendmentStatus: "NO_CHANGE"},
			}},
			{OfferingName: "Contract as processed", Role: "REFERENCE", Items: []emu.QuoteItem{
				{ID: "it-ref", SKU: "PLAT-SUB", ProductType: "ADVANCE", Quantity: "10", UnitPrice: "1000"},
			}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	return q, acc
}

func TestNewClientChecksItsSettings(t *testing.T) {
	for _, o := range []billsync.BillingOptions{
		{Token: ""}, {Token: "has space"}, {Token: "k", Options: map[string]string{"orgId": "x"}},
		{Token: "k", Options: map[string]string{"rateLimit": "0"}}, {Token: "k", URL: "ftp://x"},
	} {
		if _, err := NewClient(o); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%+v: %v", o, err)
		}
	}
	c, err := NewClient(billsync.BillingOptions{Token: "k"})
	if err != nil || c.base != DefaultURL {
		t.Errorf("default URL: %v %v", c, err)
	}
	caps := c.Capabilities()
	if caps.Platform != billsync.PlatformMonetizeNow || caps.Versioning != billsync.VersionNone || caps.SignedWebhooks || !caps.QuotesCarryOfferings {
		t.Errorf("capabilities %+v", caps)
	}
}

func TestGetQuoteMapsOfferingsAndItems(t *testing.T) {
	f := newFixture(t)
	q, acc := f.amendment(t)
	ctx := context.Background()
	e, err := f.client.Get(ctx, billsync.ObjectQuote, q.ID)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"id": q.ID, "accountId": acc.ID, "type": "AMENDMENT", "status": "DRAFT", "currency": "EUR",
		"originalQuoteId": q.OriginalQuoteID, "crmOpportunityId": sfOppty, "startDate": "2027-01-01", "endDate": "2027-12-31",
		"expiresAt": "2026-12-31T00:00:00Z", "description": "More seats"} {
		if got := e.Str(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if e["manualRenewal"] != true {
		t.Errorf("manualRenewal %v", e["manualRenewal"])
	}
	// Through billsync's own validation: the typed quote it decodes.
	b, _ := json.Marshal(e)
	var typed billsync.Quote
	if err := json.Unmarshal(b, &typed); err != nil {
		t.Fatal(err)
	}
	if len(typed.Offerings) != 2 {
		t.Fatalf("offerings %+v (the REFERENCE one must be left out)", typed.Offerings)
	}
	items := map[string]billsync.QuoteItem{}
	for _, o := range typed.Offerings {
		for _, it := range o.Items {
			items[it.ID] = it
		}
	}
	want := map[string]struct{ code, typ, qty, unit, amend string }{
		"it-plat": {"PLAT-SUB", "SUBSCRIPTION", "12", "1000.00", "UPDATED"},
		"it-sup":  {"SUPPORT", "SUBSCRIPTION", "1", "249.995", "NEW"},
		"it-old":  {"ONBOARD", "ONE_TIME", "1", "1850", "REMOVED"},
		"it-api":  {"prod_api", "USAGE", "100", "0.0004", "NO_CHANGE"},
	}
	if len(items) != len(want) {
		t.Errorf("items %v", items)
	}
	for id, w := range want {
		it := items[id]
		if it.ProductCode != w.code || it.ProductType != w.typ || !it.Quantity.Equal(billsync.MustMoney(w.qty)) ||
			it.UnitPrice.String() != w.unit || it.AmendmentStatus != w.amend {
			t.Errorf("item %s = %+v, want %+v", id, it, w)
		}
	}
	if typed.Offerings[0].Name != "Platform" {
		t.Errorf("offering name %q", typed.Offerings[0].Name)
	}
}

func TestStatusesMapOntoBillsyncs(t *testing.T) {
	for in, want := range map[string]string{"DRAFT": "DRAFT", "REVIEW": "PENDING_APPROVAL", "APPROVED": "APPROVED", "SENT": "PRESENTED",
		"ACCEPTED": "ACCEPTED", "ACCEPTED_ADMIN_EDITABLE": "ACCEPTED", "PROCESSED": "ACCEPTED", "CANCELED": "CANCELED", "EXPIRED": "EXPIRED", "DENIED": "DENIED"} {
		if got := quoteStatus(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
	// An offering an amendment adds or drops gives its items that state
	// when they carry none of their own.
	it, err := itemOf(&offering{Removed: true}, &item{ID: "x", SKU: "A", Quantity: "1", UnitPrice: "2"})
	if err != nil || it["amendmentStatus"] != "REMOVED" {
		t.Errorf("item of a removed offering %v %v", it, err)
	}
	if _, err := itemOf(&offering{}, &item{ID: "x", Quantity: "lots", UnitPrice: "2"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("a quantity that is not a number: %v", err)
	}
}

func TestListPagesAndAccounts(t *testing.T) {
	f := newFixture(t)
	_, acc := f.amendment(t)
	for range 3 {
		if _, err := f.emu.CreateQuote(emu.Quote{AccountID: acc.ID, Currency: "USD"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	var ids []string
	cursor := ""
	for pages := 0; ; pages++ {
		page, next, err := f.client.List(ctx, billsync.ObjectQuote, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			ids = append(ids, e.ID())
		}
		if next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		cursor = next
	}
	if len(ids) != 5 {
		t.Errorf("listed %v", ids)
	}
	a, err := f.client.Get(ctx, billsync.ObjectAccount, acc.ID)
	if err != nil || a.Str("crmAccountId") != sfAcct || a.Str("name") != "Acme" {
		t.Errorf("account %v %v", a, err)
	}
	other, _ := f.emu.CreateAccount(emu.Account{AccountName: "Other", CustomID: notSFRef})
	if a, err := f.client.Get(ctx, billsync.ObjectAccount, other.ID); err != nil || a.Str("crmAccountId") != "" {
		t.Errorf("an account whose customId is no Salesforce id: %v %v", a, err)
	}
	if _, err := f.client.Get(ctx, billsync.ObjectQuote, "quote_missing"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("missing quote: %v", err)
	}
}

func TestEverythingElseIsRefusedAsUnsupported(t *testing.T) {
	f := newFixture(t)
	q, _ := f.amendment(t)
	ctx := context.Background()
	before := f.calls.Load()
	unsupported := func(what string, err error) {
		t.Helper()
		var re *billsync.RemoteError
		if !errors.As(err, &re) || re.Code != "unsupported" || billsync.RemoteCode(err) != billsync.ReasonUnsupported {
			t.Errorf("%s: %v, want an unsupported refusal", what, err)
		}
	}
	_, err := f.client.Create(ctx, billsync.ObjectQuote, billsync.Entity{}, "")
	unsupported("create quote", err)
	_, err = f.client.Update(ctx, billsync.ObjectQuote, billsync.Entity{"id": q.ID, "crmOpportunityId": sfOppty})
	unsupported("update quote", err)
	unsupported("delete quote", f.client.Delete(ctx, billsync.ObjectQuote, q.ID))
	_, err = f.client.Create(ctx, billsync.ObjectAccount, billsync.Entity{}, "")
	unsupported("create account", err)
	_, _, err = f.client.List(ctx, billsync.ObjectAccount, "", 10)
	unsupported("list accounts", err)
	_, err = f.client.Get(ctx, billsync.ObjectBalance, "b")
	unsupported("get balance", err)
	_, _, err = f.client.List(ctx, billsync.ObjectBalanceTransaction, "", 10)
	unsupported("list transactions", err)
	if n := f.calls.Load() - before; n != 0 {
		t.Errorf("refusals made %d API calls", n)
	}
	if got := f.emu.Quote(q.ID); got.Opportunity.CustomID != sfOppty || got.Description != "More seats" {
		t.Errorf("the quote changed: %+v", got)
	}
}

func TestRetriesTransientFailuresAndMapsErrors(t *testing.T) {
	f := newFixture(t)
	q, _ := f.amendment(t)
	f.fail.Store(2)
	if _, err := f.client.Get(context.Background(), billsync.ObjectQuote, q.ID); err != nil {
		t.Fatalf("after two 503s: %v", err)
	}
	f.fail.Store(5)
	_, err := f.client.Get(context.Background(), billsync.ObjectQuote, q.ID)
	var re *billsync.RemoteError
	if !errors.As(err, &re) || re.StatusCode != 503 || !re.Transient {
		t.Errorf("after three 503s: %v", err)
	}
	f.fail.Store(0)
	bad, _ := NewClient(billsync.BillingOptions{URL: f.srv.URL, Token: "wrong"})
	_, err = bad.Get(context.Background(), billsync.ObjectQuote, q.ID)
	if !errors.As(err, &re) || re.StatusCode != 401 || strings.Contains(err.Error(), "wrong") || !strings.Contains(err.Error(), "x-api-key") {
		t.Errorf("wrong key: %v", err)
	}
	if _, err := bad.Tenant(context.Background()); err == nil {
		t.Error("Tenant with a wrong key succeeded")
	}
	if tn, err := f.client.Tenant(context.Background()); err != nil || tn != f.srv.URL {
		t.Errorf("Tenant %q %v", tn, err)
	}
}

// PROVISIONAL webhook body: {eventId, eventType, data:{id}}.
func TestWebhooksAreHints_PROVISIONAL_Body(t *testing.T) {
	w := NewWebhooks()
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"eventId":"evnt_1","userId":"usr_1","sentTime":"2026-12-01T09:59:00.000Z","eventType":"quote.updated",
		"data":{"id":"quote_1","description":"whatever the body says","quoteOfferings":[]}}`)
	id, err := w.Verify(http.Header{}, body)
	if err != nil || id != "evnt_1" {
		t.Fatalf("Verify %q %v", id, err)
	}
	cs, err := w.Decode(id, body, now)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Decode %v %v", cs, err)
	}
	c := cs[0]
	if c.Object != billsync.ObjectQuote || c.Op != billsync.OpUpdated || c.RecordID != "quote_1" || c.EventID != "monetizenow:evnt_1" ||
		c.Partition != billsync.QuotePartition("quote_1") || string(c.Payload) != `{"id":"quote_1"}` {
		t.Errorf("change %+v payload %s", c, c.Payload)
	}
	for _, other := range []string{"account.updated", "quote.offering.updated", "invoice.paid"} {
		cs, err := w.Decode("e", []byte(`{"eventId":"e","eventType":"`+other+`","data":{"id":"x"}}`), now)
		if err != nil || len(cs) != 0 {
			t.Errorf("%s: %v %v", other, cs, err)
		}
	}
	for _, bad := range []string{``, `{}`, `not json`, `{"eventId":"e","eventType":"quote.created","data":{}}`} {
		_, err := w.Decode("e", []byte(bad), now)
		var rej *billingapi.RejectedWebhook
		if !errors.As(err, &rej) || billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

func TestPollFindsModifiedQuotes(t *testing.T) {
	f := newFixture(t)
	q, acc := f.amendment(t)
	ctx := context.Background()
	first, cp, err := f.client.Poll(ctx, "")
	if err != nil || len(first) != 2 || cp == "" {
		t.Fatalf("first poll: %d changes, checkpoint %q, %v", len(first), cp, err)
	}
	again, cp2, err := f.client.Poll(ctx, cp)
	if err != nil || cp2 != cp {
		t.Fatal(err, cp2)
	}
	// What did not change since is read again at most for its own
	// modifyDate, with the same content EventID.
	for _, c := range again {
		found := false
		for _, p := range first {
			found = found || p.EventID == c.EventID
		}
		if !found {
			t.Errorf("unchanged quote polled with a new EventID: %s", c.EventID)
		}
	}
	if _, err := f.emu.UpdateQuote(q.ID, func(q *emu.Quote) { q.Description = "Edited" }); err != nil {
		t.Fatal(err)
	}
	if _, err := f.emu.CreateQuote(emu.Quote{AccountID: acc.ID, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	later, _, err := f.client.Poll(ctx, cp)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, c := range later {
		got[c.RecordID] = true
		if c.RecordID == q.ID {
			var e billsync.Entity
			_ = json.Unmarshal(c.Payload, &e)
			if e.Str("description") != "Edited" {
				t.Errorf("polled payload %s", c.Payload)
			}
		}
	}
	if !got[q.ID] || len(got) != 2 {
		t.Errorf("later poll found %v", got)
	}
}
