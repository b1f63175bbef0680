package quotesync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
	"github.com/billsync/billsync/rules"
)

const (
	qRita = "005000000000011AAA"
	qSam  = "005000000000012AAA"
)

// qfix is an engine wired to an in-memory org seeded with an Account
// (owned by Rita), the standard pricebook, products and USD/EUR entries.
type qfix struct {
	t        *testing.T
	org      *mock.Org
	state    *mock.Store
	settings map[string]json.RawMessage
	billing  *mock.Billing
	syncer   *Syncer
	policy   attempt.Policy
	account  string // Salesforce Account id
	pb       string // Standard Price Book id
	entries  map[string]string
	now      time.Time
}

var qCodes = []string{"PLAT-SUB", "SUPPORT", "API-USAGE", "ONBOARD", "RENEWAL-PLACEHOLDER"}

var fixedNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// newQOrg is an org with the custom fields quote sync looks for in
// describe: the SFDX source's Opportunity.BillingQuoteId__c (the
// Opportunity is then upserted by the quote's id) and Quote.region__c,
// the target of the custom field these tests map.
func newQOrg(multi bool) *mock.Org {
	text := func(name string) billsync.FieldDescribe {
		return billsync.FieldDescribe{Name: name, Type: "string", Length: 255, Createable: true, Updateable: true, Nillable: true}
	}
	quote, opp := mock.StandardDescribe(sobjQuote), mock.StandardDescribe(sobjOpportunity)
	quote.Fields = append(quote.Fields, text("region__c"))
	opp.Fields = append(opp.Fields, text(fieldOppQuoteExtID))
	return &mock.Org{MultiCurrency: multi, Describes: map[string]*billsync.SObjectDescribe{sobjQuote: quote, sobjOpportunity: opp}}
}

func newQFix(t *testing.T, multi bool) *qfix {
	t.Helper()
	f := &qfix{t: t, org: newQOrg(multi), state: mock.NewStore(), settings: map[string]json.RawMessage{}, billing: mock.NewBilling(),
		entries: map[string]string{}, now: fixedNow}
	s, err := New(Config{State: f.state, CRM: f.org, Billing: f.billing, Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = s
	f.policy = attempt.Policy{MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Second }, Now: func() time.Time { return f.now }}
	f.account = f.org.Put("Account", billsync.SObject{"Name": "Acme", "OwnerId": qRita})
	f.pb = f.org.Put("Pricebook2", billsync.SObject{"Name": "Standard Price Book", "IsActive": true})
	for _, code := range qCodes {
		p := f.org.Put("Product2", billsync.SObject{"Name": code, "ProductCode": code, "IsActive": true})
		for _, cur := range []string{"USD", "EUR"} {
			if !multi && cur == "EUR" {
				continue
			}
			e := billsync.SObject{"Pricebook2Id": f.pb, "Product2Id": p, "ProductCode": code, "IsActive": true, "UnitPrice": json.Number("10")}
			if multi {
				e[fieldCurrency] = cur
			}
			f.entries[code+"/"+cur] = f.org.Put("PricebookEntry", e)
		}
	}
	f.billing.Put(billsync.ObjectAccount, billsync.Entity{"id": "acc_1", "name": "Acme", "crmAccountId": f.account, "version": json.Number("1")})
	return f
}

func (f *qfix) setting(key, js string) {
	f.t.Helper()
	if _, err := billsync.ValidateSetting(key, json.RawMessage(js)); err != nil {
		f.t.Fatal(err)
	}
	f.settings[key] = json.RawMessage(js)
}

// process makes one attempt at c, as the engine would after its switch
// checks.
func (f *qfix) process(c billsync.Change) attempt.Result {
	var stored []billsync.Setting
	for k, v := range f.settings {
		stored = append(stored, billsync.Setting{Key: k, Value: v})
	}
	a := attempt.New(&f.policy, c, billsync.ToSalesforce, billsync.NewSettings(stored))
	f.syncer.SyncQuote(context.Background(), a)
	return a.Result()
}

func qItem(id, code, typ, qty, price string) billsync.QuoteItem {
	return billsync.QuoteItem{ID: id, ProductCode: code, ProductName: code + " name", ProductType: typ,
		Quantity: billsync.MustMoney(qty), UnitPrice: billsync.MustMoney(price)}
}

// qBase has three lines: a subscription, a one-time fee and a
// zero-quantity usage line.
func qBase(id string) billsync.Quote {
	return billsync.Quote{ID: id, AccountID: "acc_1", Description: "Acme expansion", Status: "DRAFT", Type: billsync.QuoteNew,
		Currency: "USD", Version: 1, Offerings: []billsync.QuoteOffering{
			{ID: "off_1", Name: "Platform", Items: []billsync.QuoteItem{
				qItem(id+"_it1", "PLAT-SUB", "SUBSCRIPTION", "10", "100.00"),
				qItem(id+"_it2", "SUPPORT", "ONE_TIME", "1", "500"),
			}},
			{ID: "off_2", Name: "Usage", Items: []billsync.QuoteItem{qItem(id+"_it3", "API-USAGE", "USAGE", "0", "0.01")}},
		}}
}

// send stores q in billing at its version (so a write-back can succeed)
// and processes its webhook.
func (f *qfix) send(q billsync.Quote) attempt.Result {
	f.t.Helper()
	b, err := json.Marshal(q)
	if err != nil {
		f.t.Fatal(err)
	}
	ent, err := billsync.DecodeEntity(b)
	if err != nil {
		f.t.Fatal(err)
	}
	f.billing.Put(billsync.ObjectQuote, ent)
	op := billsync.OpUpdated
	if q.Version == 1 {
		op = billsync.OpCreated
	}
	c := billsync.Change{ID: q.Version, Partition: billsync.QuotePartition(q.ID), Source: billsync.SideBilling, Object: billsync.ObjectQuote,
		Op: op, RecordID: q.ID, EventID: fmt.Sprintf("wh_%s_%d", q.ID, q.Version), Payload: b, Attempt: 1, EnqueuedAt: f.now}
	return f.process(c)
}

// sendBilling processes the quote as billing holds it now (after a
// write-back), as its webhook would carry it.
func (f *qfix) sendBilling(id string) attempt.Result {
	f.t.Helper()
	ent, err := f.billing.Get(context.Background(), billsync.ObjectQuote, id)
	if err != nil {
		f.t.Fatal(err)
	}
	b, _ := json.Marshal(ent)
	c := billsync.Change{ID: ent.Version(), Partition: billsync.QuotePartition(id), Source: billsync.SideBilling, Object: billsync.ObjectQuote,
		Op: billsync.OpUpdated, RecordID: id, EventID: fmt.Sprintf("wh_%s_%d", id, ent.Version()), Payload: b, Attempt: 1, EnqueuedAt: f.now}
	return f.process(c)
}

func qLast(t *testing.T, r attempt.Result) billsync.LogEntry {
	t.Helper()
	if len(r.Entries) == 0 {
		t.Fatal("no log entry")
	}
	return r.Entries[len(r.Entries)-1]
}

func qMustSucceed(t *testing.T, r attempt.Result) billsync.LogEntry {
	t.Helper()
	le := qLast(t, r)
	if r.Disposition != attempt.Done || le.Outcome != billsync.OutcomeSuccess {
		for _, e := range r.Entries {
			t.Logf("entry: %+v", e)
		}
		t.Fatalf("want success, got %s %+v", r.Disposition, le)
	}
	return le
}

func (f *qfix) sfQuote(id string) billsync.SObject { return f.org.Find("Quote", fieldQuoteExtID, id) }

func (f *qfix) oppProducts(oppID string) map[string]billsync.SObject {
	out := map[string]billsync.SObject{}
	for _, r := range f.org.All("OpportunityLineItem", "OpportunityId", oppID) {
		k := r.Str(fieldLineExtID)
		if k == "" {
			k = "manual:" + r.ID()
		}
		out[k] = r
	}
	return out
}

func qKeys[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return strings.Join(qSorted(ks), ",")
}

func qSorted(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

// E2, E3 (account fallback), E4, E6, E7, E10, E12, F4: the create path.
func TestQuoteCreateAutoCreatesOpportunityAndSyncsLines(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	exp := time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC)
	q := qBase("q1")
	q.ExpiresAt = &exp
	q.CustomFields = map[string]any{"region": "EMEA", "unmapped": "x"}
	le := qMustSucceed(t, f.send(q))
	if le.Operation != "create" {
		t.Errorf("operation %q", le.Operation)
	}

	rec := f.sfQuote("q1")
	if rec == nil {
		t.Fatal("no Quote")
	}
	oppID := rec.Str("OpportunityId")
	opp := f.org.Get(oppID)
	checks := map[string][2]string{
		"Quote.Name":             {rec.Str("Name"), "Acme expansion (q1)"},
		"Quote.OwnerId":          {rec.Str("OwnerId"), qRita},
		"Quote.Pricebook2Id":     {rec.Str("Pricebook2Id"), f.pb},
		"Quote.Status":           {rec.Str("Status"), "Draft"},
		"Quote.ExpirationDate":   {rec.Str("ExpirationDate"), "2026-12-31"},
		"Quote.region__c":        {rec.Str("region__c"), "EMEA"},
		"Quote.LastSystem":       {rec.Str("LastSystemToUpdate__c"), "billing"},
		"Opportunity.AccountId":  {opp.Str("AccountId"), f.account},
		"Opportunity.OwnerId":    {opp.Str("OwnerId"), qRita},
		"Opportunity.StageName":  {opp.Str("StageName"), "Prospecting"},
		"Opportunity.CloseDate":  {opp.Str("CloseDate"), "2026-12-31"},
		"Opportunity.Pricebook2": {opp.Str("Pricebook2Id"), f.pb},
		"billing crmOpportunityId": {func() string {
			e, _ := f.billing.Get(context.Background(), billsync.ObjectQuote, "q1")
			return e.Str("crmOpportunityId")
		}(), oppID},
	}
	for what, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %q, want %q", what, c[0], c[1])
		}
	}
	lines := f.org.All("QuoteLineItem", "QuoteId", rec.ID())
	if len(lines) != 3 {
		t.Fatalf("%d quote lines, want 3", len(lines))
	}
	l1 := f.org.Find("QuoteLineItem", fieldLineExtID, "q1_it1")
	if l1.Str("BillingOfferingId__c") != "off_1" || l1.Str("BillingOfferingName__c") != "Platform" ||
		l1.Str("PricebookEntryId") != f.entries["PLAT-SUB/USD"] || l1.Str("Quantity") != "10" || l1.Str("UnitPrice") != "100" {
		t.Errorf("line 1 = %v", l1)
	}
	// F4: the zero-quantity usage line is eligible too.
	if got := qKeys(f.oppProducts(oppID)); got != "q1_it1,q1_it2,q1_it3" {
		t.Errorf("Opportunity products %s", got)
	}
	// The write-back comes back as a webhook: an echo, no writes.
	before := f.org.Writes()
	r := f.sendBilling("q1")
	if le := qLast(t, r); le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonEcho {
		t.Fatalf("write-back webhook: %+v", le)
	}
	if f.org.Writes() != before {
		t.Error("the echo wrote to Salesforce")
	}
	// B6: an older event is stale.
	if le := qLast(t, f.send(q)); le.Reason != billsync.ReasonStale {
		t.Errorf("replayed v1: %+v", le)
	}
}

// E5: a failure writes nothing and names the field.
func TestQuoteValidationWritesNothingAndNamesTheField(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		setup func(f *qfix, q *billsync.Quote)
		field string
	}{
		{"E5 account without linked Salesforce Account", func(f *qfix, q *billsync.Quote) {
			f.billing.Put(billsync.ObjectAccount, billsync.Entity{"id": "acc_2", "name": "Unlinked", "version": json.Number("1")})
			q.AccountID = "acc_2"
		}, "crmAccountId"},
		{"E5 linked Account missing in Salesforce", func(f *qfix, q *billsync.Quote) {
			f.billing.Put(billsync.ObjectAccount, billsync.Entity{"id": "acc_3", "crmAccountId": "001000000000999AAA", "version": json.Number("1")})
			q.AccountID = "acc_3"
		}, "crmAccountId"},
		{"E5 linked Opportunity missing", func(f *qfix, q *billsync.Quote) { q.CRMOpportunityID = "006000000000999AAA" }, "crmOpportunityId"},
		{"E5 no Opportunity and auto-create off", func(f *qfix, q *billsync.Quote) {
			f.setting(billsync.KeyQuotesAutoCreateOpportunity, `false`)
		}, "crmOpportunityId"},
		{"E10 pricebook missing", func(f *qfix, q *billsync.Quote) {
			f.setting(billsync.KeyQuotesPricebook, `"Enterprise"`)
		}, billsync.KeyQuotesPricebook},
		{"E5 amendment without original", func(f *qfix, q *billsync.Quote) { q.Type = billsync.QuoteAmendment }, "originalQuoteId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newQFix(t, false)
			q := qBase("qv")
			tc.setup(f, &q)
			r := f.send(q)
			le := qLast(t, r)
			if r.Disposition != attempt.Dead || le.Reason != billsync.ReasonValidation || !strings.Contains(le.Message, tc.field+":") {
				t.Fatalf("got %s %+v; want a validation failure naming %s", r.Disposition, le, tc.field)
			}
			if n := f.org.Writes(); n != 0 {
				t.Errorf("%d Salesforce writes for an invalid quote", n)
			}
		})
	}
}

// F5: a disallowed status is skipped and logged as such.
func TestQuoteStatusNotAllowedIsSkipped(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q2")
	q.Status = "EXPIRED"
	le := qLast(t, f.send(q))
	if le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonStatusNotAllowed {
		t.Fatalf("%+v", le)
	}
	if f.org.Writes() != 0 {
		t.Error("a disallowed quote wrote to Salesforce")
	}
}

// DECISIONS.md Stage 4: a synced quote that becomes CANCELED (not an
// allowed status) still moves its Opportunity to the mapped stage, and
// nothing else is written.
func TestQuoteCanceledMovesStageOnly(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q3")
	qMustSucceed(t, f.send(q))
	opp := f.sfQuote("q3").Str("OpportunityId")
	q.Status, q.Version = "CANCELED", 3
	q.Offerings = q.Offerings[:1]
	le := qLast(t, f.send(q))
	if le.Reason != billsync.ReasonStatusNotAllowed || !strings.Contains(le.Message, "Closed Lost") {
		t.Fatalf("%+v", le)
	}
	if got := f.org.Get(opp).Str("StageName"); got != "Closed Lost" {
		t.Errorf("stage %q", got)
	}
	if n := len(f.org.All("QuoteLineItem", "QuoteId", f.sfQuote("q3").ID())); n != 3 {
		t.Errorf("lines changed under a disallowed status: %d", n)
	}
}

// E3: amendments and renewals wait for their original quote and then take
// its owner.
func TestQuoteAmendmentOwner(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	am := qBase("q5")
	am.Type, am.OriginalQuoteID = billsync.QuoteAmendment, "q4"
	r := f.send(am)
	le := qLast(t, r)
	if r.Disposition != attempt.Retry || le.Reason != rules.ReasonOriginalQuoteMissing {
		t.Fatalf("amendment before its original: %s %+v", r.Disposition, le)
	}
	if f.org.Writes() != 0 {
		t.Fatal("a waiting amendment wrote to Salesforce")
	}
	orig := qBase("q4")
	qMustSucceed(t, f.send(orig))
	f.org.Set(f.sfQuote("q4").ID(), "OwnerId", qSam) // reassigned in Salesforce
	qMustSucceed(t, f.send(am))
	if got := f.sfQuote("q5").Str("OwnerId"); got != qSam {
		t.Errorf("amendment owner %q, want the original quote's owner %q", got, qSam)
	}
	// E3: a linked Opportunity's owner wins, without waiting.
	opp := f.org.Put("Opportunity", billsync.SObject{"Name": "Renewal", "OwnerId": qRita, "StageName": "Prospecting", "AccountId": f.account})
	rn := qBase("q6")
	rn.Type, rn.OriginalQuoteID, rn.CRMOpportunityID = billsync.QuoteRenewal, "q-not-synced", opp
	qMustSucceed(t, f.send(rn))
	if got := f.sfQuote("q6"); got.Str("OwnerId") != qRita || got.Str("OpportunityId") != opp {
		t.Errorf("renewal on an Opportunity: %v", got)
	}
}

// E9, F1: status → stage, manual renewal placeholder added and removed,
// removed qItem's line and Opportunity product deleted, field sync again.
func TestQuoteUpdates(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q7")
	qMustSucceed(t, f.send(q))
	rec := f.sfQuote("q7")
	opp := rec.Str("OpportunityId")
	manual := f.org.Put("OpportunityLineItem", billsync.SObject{"OpportunityId": opp, "PricebookEntryId": f.entries["ONBOARD/USD"],
		"Product2Id": "x", "Quantity": 1})

	q.Version, q.Status, q.ManualRenewal, q.Description = 2, "APPROVED", true, "Acme expansion v2"
	q.Offerings[0].Items = q.Offerings[0].Items[:1] // it2 removed
	qMustSucceed(t, f.send(q))
	if got := f.org.Get(opp).Str("StageName"); got != "Proposal/Price Quote" {
		t.Errorf("stage %q", got)
	}
	if got := f.sfQuote("q7"); got.Str("Status") != "Approved" || got.Str("Name") != "Acme expansion v2 (q7)" {
		t.Errorf("quote fields %v", got)
	}
	if f.org.Find("QuoteLineItem", fieldLineExtID, "q7_it2") != nil {
		t.Error("removed qItem's quote line still there")
	}
	ps := f.oppProducts(opp)
	if _, ok := ps["q7_it2"]; ok {
		t.Error("removed qItem's Opportunity product still there")
	}
	placeholders := 0
	for k, p := range ps {
		if strings.HasPrefix(k, "manual:") && p.Str("PricebookEntryId") == f.entries["RENEWAL-PLACEHOLDER/USD"] {
			placeholders++
		}
	}
	if placeholders != 1 {
		t.Errorf("%d placeholders after flagging manual renewal: %v", placeholders, ps)
	}
	if f.org.Get(manual) == nil {
		t.Error("a manually added product was removed")
	}

	q.Version, q.ManualRenewal = 3, false
	qMustSucceed(t, f.send(q))
	for k, p := range f.oppProducts(opp) {
		if strings.HasPrefix(k, "manual:") && p.Str("PricebookEntryId") == f.entries["RENEWAL-PLACEHOLDER/USD"] {
			t.Error("placeholder not removed after unflagging")
		}
	}
	if f.org.Get(manual) == nil {
		t.Error("a manually added product was removed")
	}
}

// F3, F4: NO_CHANGE stays off unless ALWAYS; zero-quantity subscription
// stays off, zero-quantity usage goes on; NEVER keeps a line off.
func TestQuoteLineEligibility(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q8")
	q.Type, q.OriginalQuoteID = billsync.QuoteAmendment, "q8o"
	q.Offerings[0].Items[0].AmendmentStatus = "NO_CHANGE"
	q.Offerings[0].Items = append(q.Offerings[0].Items, qItem("q8_it4", "ONBOARD", "SUBSCRIPTION", "0", "5"))
	qMustSucceed(t, f.send(qBase("q8o")))
	qMustSucceed(t, f.send(q))
	opp := f.sfQuote("q8").Str("OpportunityId")
	if got := qKeys(f.oppProducts(opp)); got != "q8_it2,q8_it3" {
		t.Errorf("products %s, want it2 and the usage line it3", got)
	}
	if n := len(f.org.All("QuoteLineItem", "QuoteId", f.sfQuote("q8").ID())); n != 4 {
		t.Errorf("%d quote lines, want all 4", n)
	}
	// A sales user sets the override on the quote lines in Salesforce.
	f.org.Set(f.org.Find("QuoteLineItem", fieldLineExtID, "q8_it1").ID(), fieldOverride, "ALWAYS")
	f.org.Set(f.org.Find("QuoteLineItem", fieldLineExtID, "q8_it2").ID(), fieldOverride, "NEVER")
	q.Version = 2
	qMustSucceed(t, f.send(q))
	if got := qKeys(f.oppProducts(opp)); got != "q8_it1,q8_it3" {
		t.Errorf("products %s after overrides, want it1 (ALWAYS) and it3", got)
	}
}

// E12: with DisableOppProductSync on, the Opportunity's products are left
// alone.
func TestQuoteDisableOppProductSync(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	f.setting(billsync.KeyQuotesDisableOppProductSync, `true`)
	q := qBase("q9")
	q.ManualRenewal = true
	qMustSucceed(t, f.send(q))
	if ps := f.oppProducts(f.sfQuote("q9").Str("OpportunityId")); len(ps) != 0 {
		t.Errorf("Opportunity products written: %v", qKeys(ps))
	}
}

// F2: one bad line is logged with Salesforce's error and the others land.
func TestQuoteOppProductsPartialSuccess(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	f.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		if object == "OpportunityLineItem" && r.Str(fieldLineExtID) == "q10_it2" {
			return &billsync.FieldError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "Support needs a contract"}
		}
		return nil
	}
	r := f.send(qBase("q10"))
	qMustSucceed(t, r)
	found := false
	for _, le := range r.Entries {
		if le.Outcome == billsync.OutcomeFailed && le.ErrorCode == "FIELD_CUSTOM_VALIDATION_EXCEPTION" && strings.Contains(le.Message, "q10_it2") {
			found = true
		}
	}
	if !found {
		t.Errorf("no log entry for the failed line: %+v", r.Entries)
	}
	if got := qKeys(f.oppProducts(f.sfQuote("q10").Str("OpportunityId"))); got != "q10_it1,q10_it3" {
		t.Errorf("products %s", got)
	}
	if le := qLast(t, r); le.Reason != ReasonPartial {
		t.Errorf("quote entry %+v, want reason %s", le, ReasonPartial)
	}
	if rec := f.sfQuote("q10"); rec.Str("BillingSyncStatus__c") != StatusPartial || !strings.Contains(rec.Str("BillingSyncError__c"), "Support needs a contract") {
		t.Errorf("Quote sync status %q / %q", rec.Str("BillingSyncStatus__c"), rec.Str("BillingSyncError__c"))
	}
}

// E10, E11: in a multi-currency org, entries are picked in the quote's
// currency and CurrencyIsoCode is set on Opportunity, Quote and lines.
func TestQuoteMultiCurrency(t *testing.T) {
	t.Parallel()
	f := newQFix(t, true)
	q := qBase("q11")
	q.Currency = "EUR"
	qMustSucceed(t, f.send(q))
	rec := f.sfQuote("q11")
	opp := f.org.Get(rec.Str("OpportunityId"))
	if rec.Str(fieldCurrency) != "EUR" || opp.Str(fieldCurrency) != "EUR" {
		t.Errorf("currency quote %q opp %q", rec.Str(fieldCurrency), opp.Str(fieldCurrency))
	}
	l := f.org.Find("QuoteLineItem", fieldLineExtID, "q11_it1")
	if l.Str("PricebookEntryId") != f.entries["PLAT-SUB/EUR"] || l.Str(fieldCurrency) != "EUR" {
		t.Errorf("line %v", l)
	}
	for _, p := range f.oppProducts(opp.ID()) {
		if p.Str(fieldCurrency) != "EUR" {
			t.Errorf("product %v", p)
		}
	}
	// A quote in a currency the Opportunity does not have fails validation.
	q2 := qBase("q12")
	q2.CRMOpportunityID = opp.ID()
	r := f.send(q2)
	if le := qLast(t, r); le.Reason != billsync.ReasonValidation || !strings.Contains(le.Message, "currency:") {
		t.Errorf("%+v", le)
	}
}

// The number of Salesforce calls for one quote is bounded by batching,
// not proportional to its lines.
func TestQuoteCallsAreBatched(t *testing.T) {
	t.Parallel()
	count := func(n int) int {
		f := newQFix(t, false)
		q := qBase("qc")
		q.Offerings = []billsync.QuoteOffering{{ID: "o", Name: "O"}}
		for i := range n {
			q.Offerings[0].Items = append(q.Offerings[0].Items, qItem(fmt.Sprintf("qc_%d", i), qCodes[i%4], "SUBSCRIPTION", "1", "1"))
		}
		qMustSucceed(t, f.send(q))
		total := 0
		for _, v := range f.org.CallCount() {
			total += v
		}
		return total
	}
	one, twenty := count(1), count(20)
	if one != twenty {
		t.Errorf("%d calls for 1 line, %d for 20; want the same", one, twenty)
	}
	if twenty > 20 {
		t.Errorf("%d calls for one quote", twenty)
	}
}

// A line whose product changed is replaced (PricebookEntryId cannot change
// on a line) rather than failing the upsert.
func TestQuoteLineProductChangeReplacesLine(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q13")
	qMustSucceed(t, f.send(q))
	q.Version = 2
	q.Offerings[0].Items[1].ProductCode = "ONBOARD"
	qMustSucceed(t, f.send(q))
	l := f.org.Find("QuoteLineItem", fieldLineExtID, "q13_it2")
	if l.Str("PricebookEntryId") != f.entries["ONBOARD/USD"] {
		t.Errorf("line %v", l)
	}
	p := f.org.Find("OpportunityLineItem", fieldLineExtID, "q13_it2")
	if p.Str("PricebookEntryId") != f.entries["ONBOARD/USD"] {
		t.Errorf("product %v", p)
	}
}

// A failed write-back (billing moved on) is logged, not fatal, and the
// next event neither creates a second Opportunity nor loses the link.
func TestQuoteWriteBackConflictKeepsOneOpportunity(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q14")
	b, _ := json.Marshal(q)
	ent, _ := billsync.DecodeEntity(b)
	ent["version"] = json.Number("2") // billing is already ahead
	f.billing.Put(billsync.ObjectQuote, ent)
	c := billsync.Change{ID: 1, Partition: billsync.QuotePartition("q14"), Source: billsync.SideBilling, Object: billsync.ObjectQuote,
		Op: billsync.OpCreated, RecordID: "q14", EventID: "wh1", Payload: b, Attempt: 1, EnqueuedAt: f.now}
	qMustSucceed(t, f.process(c))
	q.Version = 2
	qMustSucceed(t, f.send(q))
	if n := len(f.org.All("Opportunity")); n != 1 {
		t.Errorf("%d Opportunities", n)
	}
	got, _ := f.billing.Get(context.Background(), billsync.ObjectQuote, "q14")
	if got.Str("crmOpportunityId") != f.sfQuote("q14").Str("OpportunityId") {
		t.Errorf("crmOpportunityId %q", got.Str("crmOpportunityId"))
	}
}
