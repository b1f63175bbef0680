package quotesync

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// F2, E10: a line whose product has no PricebookEntry is left out and
// logged naming the product; the quote and its other lines land, and the
// Quote says it is partial. Once the product is priced, the quote's next
// change brings the line in.
func TestQuoteLineWithoutPricebookEntryIsLeftOut(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q20")
	q.Offerings[0].Items[1].ProductCode = "NOPE"
	r := f.send(q)
	le := qLast(t, r)
	if r.Disposition != attempt.Done || le.Outcome != billsync.OutcomeSuccess || le.Reason != ReasonPartial || !strings.Contains(le.Message, "NOPE") {
		t.Fatalf("quote entry: %s %+v; want success, reason %s, naming NOPE", r.Disposition, le, ReasonPartial)
	}
	var line *billsync.LogEntry
	for i, e := range r.Entries {
		if e.Outcome == billsync.OutcomeFailed {
			line = &r.Entries[i]
		}
	}
	if line == nil || line.Reason != billsync.ReasonValidation || !strings.Contains(line.Message, "q20_it2") ||
		!strings.Contains(line.Message, "offerings[0].items[1]") || !strings.Contains(line.Message, `no Product2 with ProductCode "NOPE"`) {
		t.Fatalf("no failed entry naming the line and its product: %+v", r.Entries)
	}
	rec := f.sfQuote("q20")
	if rec.Str(mapping.FieldSyncStatus) != StatusPartial || !strings.Contains(rec.Str(mapping.FieldSyncError), "NOPE") {
		t.Errorf("Quote sync status %q / %q, want partial naming NOPE", rec.Str(mapping.FieldSyncStatus), rec.Str(mapping.FieldSyncError))
	}
	if got := qKeys(lineMap(f.org.All("QuoteLineItem", "QuoteId", rec.ID()))); got != "q20_it1,q20_it3" {
		t.Errorf("quote lines %s, want the two priced ones", got)
	}
	opp := rec.Str("OpportunityId")
	if got := qKeys(f.oppProducts(opp)); got != "q20_it1,q20_it3" {
		t.Errorf("Opportunity products %s", got)
	}

	// An admin prices the product; the quote's next change brings the line.
	p := f.org.Put("Product2", billsync.SObject{"Name": "Nope", "ProductCode": "NOPE", "IsActive": true})
	f.org.Put("PricebookEntry", billsync.SObject{"Pricebook2Id": f.pb, "Product2Id": p, "ProductCode": "NOPE", "IsActive": true, "UnitPrice": json.Number("1")})
	q.Version = 2
	le = qMustSucceed(t, f.send(q))
	if le.Reason != "" {
		t.Errorf("reason %q after the product was priced", le.Reason)
	}
	if got := qKeys(lineMap(f.org.All("QuoteLineItem", "QuoteId", rec.ID()))); got != "q20_it1,q20_it2,q20_it3" {
		t.Errorf("quote lines %s", got)
	}
	if got := f.sfQuote("q20").Str(mapping.FieldSyncStatus); got != StatusSuccess {
		t.Errorf("Quote sync status %q", got)
	}
	if got := qKeys(f.oppProducts(opp)); got != "q20_it1,q20_it2,q20_it3" {
		t.Errorf("Opportunity products %s", got)
	}
}

// A synced line whose product changes to one without an entry keeps its
// older version, marked failed, rather than disappearing.
func TestQuoteLineChangedToUnpricedProductKeepsOldLine(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := qBase("q21")
	qMustSucceed(t, f.send(q))
	q.Version = 2
	q.Offerings[0].Items[1].ProductCode = "GONE"
	if le := qLast(t, f.send(q)); le.Reason != ReasonPartial {
		t.Fatalf("%+v", le)
	}
	l := f.org.Find("QuoteLineItem", fieldLineExtID, "q21_it2")
	if l == nil || l.Str("PricebookEntryId") != f.entries["SUPPORT/USD"] || l.Str(mapping.FieldSyncStatus) != StatusFailed ||
		!strings.Contains(l.Str(mapping.FieldSyncError), "GONE") {
		t.Errorf("line %v: want the SUPPORT line kept and marked failed naming GONE", l)
	}
	if p := f.org.Find("OpportunityLineItem", fieldLineExtID, "q21_it2"); p == nil {
		t.Error("the line's Opportunity product was removed")
	}
}

// Only what differs from Salesforce is written: a description-only edit
// of a 20-line quote writes the Quote and no line or product; a quantity
// change writes that line and its product; values Salesforce returns at
// its own scale (12.500 for 12.5) are equal; a line a sales user edited is
// put back.
func TestQuoteWritesOnlyWhatDiffers(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	q := billsync.Quote{ID: "q22", AccountID: "acc_1", Description: "Twenty", Status: "DRAFT", Type: billsync.QuoteNew, Currency: "USD", Version: 1,
		Offerings: []billsync.QuoteOffering{{ID: "o", Name: "O"}}}
	for i := range 20 {
		q.Offerings[0].Items = append(q.Offerings[0].Items, qItem(fmt.Sprintf("q22_%02d", i), qCodes[i%4], "SUBSCRIPTION", "2", "12.50"))
	}
	qMustSucceed(t, f.send(q))
	written := func() (lines, products int) {
		return f.org.RecordsWritten("QuoteLineItem"), f.org.RecordsWritten("OpportunityLineItem")
	}
	l0, p0 := written()
	if l0 != 20 || p0 != 20 {
		t.Fatalf("first sync wrote %d lines and %d products, want 20 each", l0, p0)
	}
	// Salesforce returns currency at the field's scale.
	f.org.Set(f.org.Find("QuoteLineItem", fieldLineExtID, "q22_03").ID(), "UnitPrice", json.Number("12.500"))

	q.Version, q.Description = 2, "Twenty, reworded"
	le := qMustSucceed(t, f.send(q))
	if l, p := written(); l != l0 || p != p0 {
		t.Errorf("a description-only edit wrote %d lines and %d products; want none (%s)", l-l0, p-p0, le.Message)
	}
	if got := f.sfQuote("q22").Str("Name"); got != "Twenty, reworded (q22)" {
		t.Errorf("Quote name %q", got)
	}

	q.Version = 3
	q.Offerings[0].Items[5].Quantity = billsync.MustMoney("3")
	qMustSucceed(t, f.send(q))
	if l, p := written(); l != l0+1 || p != p0+1 {
		t.Errorf("a quantity change wrote %d lines and %d products, want 1 and 1", l-l0, p-p0)
	}

	// A sales user changes a synced line; the next change puts it back.
	f.org.Set(f.org.Find("QuoteLineItem", fieldLineExtID, "q22_07").ID(), "Quantity", json.Number("99"))
	q.Version, q.Description = 4, "Twenty again"
	qMustSucceed(t, f.send(q))
	if l, _ := written(); l != l0+2 {
		t.Errorf("%d lines written after one drifted, want 1", l-l0-1)
	}
	if got := f.org.Find("QuoteLineItem", fieldLineExtID, "q22_07").Str("Quantity"); got != "2" {
		t.Errorf("drifted quantity %q not restored", got)
	}
}

func lineMap(recs []billsync.SObject) map[string]billsync.SObject {
	out := map[string]billsync.SObject{}
	for _, r := range recs {
		out[r.Str(fieldLineExtID)] = r
	}
	return out
}
