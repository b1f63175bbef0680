package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sandbox"
)

// qline is one quote item for the e2e quotes.
type qline struct{ id, code, typ, qty, price, amend string }

func qOfferings(lines ...qline) []any {
	items := make([]any, len(lines))
	for i, l := range lines {
		it := map[string]any{"id": l.id, "productCode": l.code, "productName": l.code, "productType": l.typ, "quantity": l.qty, "unitPrice": l.price}
		if l.amend != "" {
			it["amendmentStatus"] = l.amend
		}
		items[i] = it
	}
	return []any{map[string]any{"id": "off-" + lines[0].id, "name": "Main offering", "items": items}}
}

// linkAccount creates a billing account linked to a demo Salesforce Account.
func (h *harness) linkAccount(name string) string {
	h.t.Helper()
	sfID := h.sb.Demo.Accounts[name]
	if sfID == "" {
		h.t.Fatalf("no demo Account %q", name)
	}
	return h.create(billsync.ObjectAccount, billsync.Entity{"name": name, "code": strings.ToUpper(name[:3]) + fmt.Sprint(time.Now().UnixNano()%100000),
		"currency": "USD", "crmAccountId": sfID}).ID()
}

// updateQuote applies mut to the quote as billing holds it now, retrying
// when billsync's own write-back (crmOpportunityId) got in first.
func (h *harness) updateQuote(id string, mut func(billsync.Entity)) billsync.Entity {
	h.t.Helper()
	for range 20 {
		cur, err := h.billing.Get(context.Background(), billsync.ObjectQuote, id)
		if err != nil {
			h.t.Fatal(err)
		}
		mut(cur)
		got, err := h.billing.Update(context.Background(), billsync.ObjectQuote, cur)
		var re *billsync.RemoteError
		if errors.As(err, &re) && re.StatusCode == 409 {
			continue
		}
		if err != nil {
			h.t.Fatal(err)
		}
		return got
	}
	h.t.Fatal("quote update kept conflicting")
	return nil
}

func (h *harness) sfQuote(billingID string, cond func(billsync.SObject) (bool, string)) billsync.SObject {
	h.t.Helper()
	var rec billsync.SObject
	h.eventually("Quote "+billingID+" in Salesforce", func() (bool, string) {
		for _, r := range h.sb.SF.Records("Quote") {
			if r.Str("BillingQuoteId__c") == billingID {
				rec = r
				if cond == nil {
					return true, ""
				}
				return cond(r)
			}
		}
		return false, "not there"
	})
	return rec
}

// children lists the records of object whose field is parentID, keyed by
// BillingQuoteItemId__c ("code:<ProductCode>" for lines billsync did not
// sync, e.g. the renewal placeholder).
func (h *harness) children(object, field, parentID string) map[string]billsync.SObject {
	out := map[string]billsync.SObject{}
	codes := map[string]string{}
	for code, id := range h.sb.Demo.Products {
		codes[id[:15]] = code
	}
	for _, r := range h.sb.SF.Records(object) {
		if r.Str(field) == "" || r.Str(field)[:15] != parentID[:15] {
			continue
		}
		k := r.Str("BillingQuoteItemId__c")
		if k == "" {
			if p := r.Str("Product2Id"); len(p) >= 15 {
				k = "code:" + codes[p[:15]]
			} else {
				k = "manual:" + r.ID()
			}
		}
		out[k] = r
	}
	return out
}

func keySet[V any](m map[string]V) string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return strings.Join(ks, ",")
}

func (h *harness) quoteLog(billingID string, match func(billsync.LogEntry) bool) billsync.LogEntry {
	h.t.Helper()
	var found billsync.LogEntry
	h.eventually("sync-log entry for quote "+billingID, func() (bool, string) {
		for _, e := range h.logs(billsync.LogFilter{Object: billsync.ObjectQuote, Record: billingID}) {
			if match(e) {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprint(h.logs(billsync.LogFilter{Object: billsync.ObjectQuote, Record: billingID}))
	})
	return found
}

// TestQuoteSyncEndToEnd covers the quote acceptance list of SPEC §3 E/F on
// the real parts: billing emulator → webhook → queue → engine → Salesforce
// emulator (multi-currency, with the demo catalogue).
func TestQuoteSyncEndToEnd(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	demo := h.sb.Demo
	rita := demo.SalesReps[0]
	acme := h.linkAccount("Acme Corporation")
	globex := h.linkAccount("Globex")
	h.quiesce()

	// E2–E7, E10–E12, F4: a new quote without an Opportunity.
	start := time.Now()
	q := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": acme, "description": "Acme expansion", "status": "DRAFT", "type": "NEW",
		"currency": "EUR", "offerings": qOfferings(
			qline{"e2e-a1", "PLAT-SUB", "SUBSCRIPTION", "10", "920.00", ""},
			qline{"e2e-a2", "SUPPORT", "SUBSCRIPTION", "1", "230.00", ""},
			qline{"e2e-a3", "API-USAGE", "USAGE", "0", "0.03", ""},
			qline{"e2e-a4", "ONBOARD", "SUBSCRIPTION", "0", "1850.00", ""})})
	rec := h.sfQuote(q.ID(), func(r billsync.SObject) (bool, string) {
		n := len(h.children("QuoteLineItem", "QuoteId", r.ID()))
		return n == 4, fmt.Sprintf("%d lines", n)
	})
	t.Logf("quote in Salesforce after %v", time.Since(start))
	std := demo.StandardPricebookID
	for what, c := range map[string][2]string{
		"Name": {rec.Str("Name"), "Acme expansion (" + q.ID() + ")"}, "OwnerId": {rec.Str("OwnerId")[:15], rita[:15]},
		"Pricebook2Id": {rec.Str("Pricebook2Id")[:15], std[:15]}, "CurrencyIsoCode": {rec.Str("CurrencyIsoCode"), "EUR"},
		"Status": {rec.Str("Status"), "Draft"},
	} {
		if c[0] != c[1] {
			t.Errorf("Quote.%s = %q, want %q", what, c[0], c[1])
		}
	}
	oppID := rec.Str("OpportunityId")
	opp, _ := h.sb.SF.Record("Opportunity", oppID)
	if opp.Str("StageName") != "Prospecting" || opp.Str("OwnerId")[:15] != rita[:15] || opp.Str("CurrencyIsoCode") != "EUR" {
		t.Errorf("auto-created Opportunity %v", opp)
	}
	lines := h.children("QuoteLineItem", "QuoteId", rec.ID())
	if l := lines["e2e-a1"]; l.Str("PricebookEntryId")[:15] != demo.Entries[std+"/PLAT-SUB/EUR"][:15] || l.Str("BillingOfferingName__c") != "Main offering" {
		t.Errorf("line a1 %v", l)
	}
	h.billingRecord(billsync.ObjectQuote, q.ID(), func(e billsync.Entity) bool { return e.Str("crmOpportunityId") != "" })
	// F4: zero-quantity usage syncs, zero-quantity subscription does not.
	h.eventually("Opportunity products", func() (bool, string) {
		got := keySet(h.children("OpportunityLineItem", "OpportunityId", oppID))
		return got == "e2e-a1,e2e-a2,e2e-a3", got
	})

	// E9: status → stage; manual renewal → placeholder; F1: removed item.
	h.updateQuote(q.ID(), func(e billsync.Entity) {
		e["status"], e["manualRenewal"] = "APPROVED", true
		e["offerings"] = qOfferings(qline{"e2e-a1", "PLAT-SUB", "SUBSCRIPTION", "10", "920.00", ""},
			qline{"e2e-a3", "API-USAGE", "USAGE", "0", "0.03", ""}, qline{"e2e-a4", "ONBOARD", "SUBSCRIPTION", "0", "1850.00", ""})
	})
	h.eventually("stage, placeholder, removed item", func() (bool, string) {
		o, _ := h.sb.SF.Record("Opportunity", oppID)
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", oppID))
		ls := keySet(h.children("QuoteLineItem", "QuoteId", rec.ID()))
		return o.Str("StageName") == "Proposal/Price Quote" && ps == "code:RENEWAL-PLACEHOLDER,e2e-a1,e2e-a3" && ls == "e2e-a1,e2e-a3,e2e-a4",
			fmt.Sprintf("stage %q products %s lines %s", o.Str("StageName"), ps, ls)
	})
	h.updateQuote(q.ID(), func(e billsync.Entity) { e["manualRenewal"] = false })
	h.eventually("placeholder removed", func() (bool, string) {
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", oppID))
		return ps == "e2e-a1,e2e-a3", ps
	})

	// E12: with DisableOppProductSync on, the Opportunity's products are
	// left alone.
	h.quiesce()
	h.setSetting(billsync.KeyQuotesDisableOppProductSync, "on")
	h.updateQuote(q.ID(), func(e billsync.Entity) {
		e["description"] = "Acme expansion (no products)"
		e["offerings"] = qOfferings(qline{"e2e-a1", "PLAT-SUB", "SUBSCRIPTION", "12", "920.00", ""})
	})
	h.sfQuote(q.ID(), func(r billsync.SObject) (bool, string) {
		return strings.HasPrefix(r.Str("Name"), "Acme expansion (no products)"), r.Str("Name")
	})
	h.quiesce()
	if ps := keySet(h.children("OpportunityLineItem", "OpportunityId", oppID)); ps != "e2e-a1,e2e-a3" {
		t.Errorf("products changed with DisableOppProductSync on: %s", ps)
	}
	h.setSetting(billsync.KeyQuotesDisableOppProductSync, "off")

	// E3, F3: an amendment takes its original's owner; its NO_CHANGE line
	// stays off the Opportunity until a sales user sets ALWAYS.
	am := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": acme, "description": "Acme amendment", "status": "DRAFT", "type": "AMENDMENT",
		"originalQuoteId": q.ID(), "currency": "USD", "offerings": qOfferings(
			qline{"e2e-m1", "PLAT-SUB", "SUBSCRIPTION", "10", "1000", "NO_CHANGE"},
			qline{"e2e-m2", "SUPPORT", "SUBSCRIPTION", "2", "250", "UPDATED"})})
	amRec := h.sfQuote(am.ID(), nil)
	if amRec.Str("OwnerId")[:15] != rec.Str("OwnerId")[:15] {
		t.Errorf("amendment owner %s, want the original's %s", amRec.Str("OwnerId"), rec.Str("OwnerId"))
	}
	amOpp := amRec.Str("OpportunityId")
	h.eventually("amendment products", func() (bool, string) {
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", amOpp))
		return ps == "e2e-m2", ps
	})
	h.salesUpdate("QuoteLineItem", billsync.SObject{"Id": h.children("QuoteLineItem", "QuoteId", amRec.ID())["e2e-m1"].ID(), "OverrideOpportunitySync__c": "ALWAYS"})
	h.updateQuote(am.ID(), func(e billsync.Entity) { e["description"] = "Acme amendment v2" })
	h.eventually("ALWAYS brings the NO_CHANGE line in", func() (bool, string) {
		ps := keySet(h.children("OpportunityLineItem", "OpportunityId", amOpp))
		return ps == "e2e-m1,e2e-m2", ps
	})

	// F5: a disallowed status is skipped and logged; E5: a quote that
	// fails validation writes nothing and names the field.
	bad := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": globex, "description": "Expired", "status": "EXPIRED", "type": "NEW",
		"currency": "USD", "offerings": qOfferings(qline{"e2e-x1", "PLAT-SUB", "SUBSCRIPTION", "1", "1", ""})})
	h.quoteLog(bad.ID(), func(e billsync.LogEntry) bool { return e.Reason == billsync.ReasonStatusNotAllowed })
	unlinked := h.create(billsync.ObjectAccount, billsync.Entity{"name": "Unlinked Ltd", "code": "UNL", "currency": "USD"})
	inv := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": unlinked.ID(), "description": "Nope", "status": "DRAFT", "type": "NEW",
		"currency": "USD", "offerings": qOfferings(qline{"e2e-v1", "PLAT-SUB", "SUBSCRIPTION", "1", "1", ""})})
	le := h.quoteLog(inv.ID(), func(e billsync.LogEntry) bool { return e.Reason == billsync.ReasonValidation })
	if !strings.Contains(le.Message, "crmAccountId") {
		t.Errorf("validation log entry does not name crmAccountId: %+v", le)
	}
	h.quiesce()
	for _, r := range h.sb.SF.Records("Quote") {
		if id := r.Str("BillingQuoteId__c"); id == bad.ID() || id == inv.ID() {
			t.Errorf("quote %s reached Salesforce", id)
		}
	}
}

// E1: five updates to one quote in quick succession end with Salesforce
// matching the last, while another quote proceeds in parallel; the API
// calls for a 20-line quote are bounded by batching.
func TestQuoteOrderingAndCallBudget(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	acme := h.linkAccount("Initech")
	globex := h.linkAccount("Globex")
	h.quiesce()

	var lines []qline
	for i := range 20 {
		code := []string{"PLAT-SUB", "SUPPORT", "API-USAGE", "ONBOARD"}[i%4]
		lines = append(lines, qline{fmt.Sprintf("e2e-big-%d", i), code, "SUBSCRIPTION", "1", "10", ""})
	}
	before := h.sb.SF.Calls()
	big := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": acme, "description": "Twenty lines", "status": "DRAFT", "type": "NEW",
		"currency": "USD", "offerings": qOfferings(lines...)})
	rec := h.sfQuote(big.ID(), nil)
	h.quiesce()
	after := h.sb.SF.Calls()
	spent := 0
	for _, k := range []string{"composite", "query", "sobjects", "describe"} {
		spent += after[k] - before[k]
	}
	t.Logf("calls for a 20-line quote: %d (%v → %v)", spent, before, after)
	if spent > 15 {
		t.Errorf("%d Salesforce calls for one 20-line quote; batching should keep it at a dozen or so, whatever the lines", spent)
	}
	if n := len(h.children("OpportunityLineItem", "OpportunityId", rec.Str("OpportunityId"))); n != 20 {
		t.Errorf("%d Opportunity products, want 20", n)
	}
	// Twice the lines cost no more calls: the count does not grow with them.
	var lines40 []qline
	for i := range 40 {
		code := []string{"PLAT-SUB", "SUPPORT", "API-USAGE", "ONBOARD"}[i%4]
		lines40 = append(lines40, qline{fmt.Sprintf("e2e-big40-%d", i), code, "SUBSCRIPTION", "1", "10", ""})
	}
	before = h.sb.SF.Calls()
	big40 := h.create(billsync.ObjectQuote, billsync.Entity{"accountId": globex, "description": "Forty lines", "status": "DRAFT", "type": "NEW",
		"currency": "USD", "offerings": qOfferings(lines40...)})
	h.sfQuote(big40.ID(), nil)
	h.quiesce()
	after = h.sb.SF.Calls()
	spent40 := 0
	for _, k := range []string{"composite", "query", "sobjects", "describe"} {
		spent40 += after[k] - before[k]
	}
	t.Logf("calls for a 40-line quote: %d", spent40)
	if spent40 > spent {
		t.Errorf("a 40-line quote cost %d calls, a 20-line one %d: the count grows with the lines", spent40, spent)
	}

	// Five quick updates, and a second quote at the same time.
	var wg sync.WaitGroup
	var other billsync.Entity
	wg.Add(1)
	go func() {
		defer wg.Done()
		got, err := h.billing.Create(context.Background(), billsync.ObjectQuote, billsync.Entity{"accountId": globex, "description": "Parallel", "status": "DRAFT",
			"type": "NEW", "currency": "USD", "offerings": qOfferings(qline{"e2e-par-1", "SUPPORT", "SUBSCRIPTION", "1", "1", ""})}, "")
		if err != nil {
			t.Error(err)
		}
		other = got
	}()
	for i := 1; i <= 5; i++ {
		h.updateQuote(big.ID(), func(e billsync.Entity) { e["description"] = fmt.Sprintf("Twenty lines v%d", i) })
	}
	wg.Wait()
	h.sfQuote(big.ID(), func(r billsync.SObject) (bool, string) {
		return strings.HasPrefix(r.Str("Name"), "Twenty lines v5 "), r.Str("Name")
	})
	h.quiesce()
	if got := h.sfQuote(big.ID(), nil).Str("Name"); !strings.HasPrefix(got, "Twenty lines v5 ") {
		t.Errorf("Quote name %q after five updates", got)
	}
	if other != nil {
		h.sfQuote(other.ID(), nil)
	}
}

// The sandbox's demo quotes all reach Salesforce: the amendment and the
// renewal after their originals, the renewal with its placeholder.
func TestSandboxSeedQuotes(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	if err := h.sb.SeedQuotes(context.Background(), h.sb.Demo); err != nil {
		t.Fatal(err)
	}
	h.eventually("four demo quotes in Salesforce", func() (bool, string) {
		var names []string
		for _, r := range h.sb.SF.Records("Quote") {
			names = append(names, r.Str("Name"))
		}
		return len(names) == 4, strings.Join(names, "; ")
	})
	for _, r := range h.sb.SF.Records("Quote") {
		if strings.HasPrefix(r.Str("Name"), "Acme platform expansion") && r.Str("OwnerId")[:15] != h.sb.Demo.SalesReps[1][:15] {
			t.Errorf("quote on Sam's Opportunity owned by %s", r.Str("OwnerId"))
		}
		if strings.HasPrefix(r.Str("Name"), "Globex renewal") {
			h.eventually("renewal placeholder", func() (bool, string) {
				ps := keySet(h.children("OpportunityLineItem", "OpportunityId", r.Str("OpportunityId")))
				return strings.Contains(ps, "code:RENEWAL-PLACEHOLDER"), ps
			})
		}
	}
}
