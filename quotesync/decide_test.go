package quotesync

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// SPEC §2: money and numbers compare numerically after rounding, so
// "12.50" written and 12.5 read back are equal; nothing else is loose.
func TestSameValue(t *testing.T) {
	for _, tc := range []struct {
		name       string
		want, have any
		same       bool
	}{
		{"§2 money written at scale, read trimmed", json.Number("12.50"), json.Number("12.5"), true},
		{"§2 money read at the field's scale", json.Number("12.5"), json.Number("12.500"), true},
		{"§2 exponent form from Salesforce", json.Number("10000000"), json.Number("1.0E7"), true},
		{"§2 integer written, decimal read", 1, json.Number("1.00"), true},
		{"§2 different amounts", json.Number("12.5"), json.Number("12.51"), false},
		{"a number against nothing", json.Number("0"), nil, false},
		{"strings compare exactly", "Platform", "platform", false},
		{"a string that looks numeric is not a number", "1.0", "1", false},
		{"null and absent are equal", nil, nil, true},
		{"null and blank are equal", nil, "", true},
		{"booleans", true, true, true},
		{"booleans differ", true, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sameValue(tc.want, tc.have); got != tc.same {
				t.Errorf("sameValue(%v, %v) = %v", tc.want, tc.have, got)
			}
		})
	}
}

func TestDiffers(t *testing.T) {
	have := billsync.SObject{"Id": "0QL1", "Quantity": json.Number("2"), "UnitPrice": json.Number("12.5"), "Description": "Support",
		mapping.FieldSyncStatus: "success", mapping.FieldLastSyncedAt: "2026-01-01T00:00:00.000Z"}
	for _, tc := range []struct {
		name string
		want billsync.SObject
		diff bool
	}{
		{"same values, newer sync time", billsync.SObject{"quantity": json.Number("2.00"), "UnitPrice": json.Number("12.50"),
			"Description": "Support", mapping.FieldSyncStatus: "success", mapping.FieldLastSyncedAt: "2026-11-24T10:00:00.000Z"}, false},
		{"quantity changed", billsync.SObject{"Quantity": json.Number("3")}, true},
		{"status changed", billsync.SObject{mapping.FieldSyncStatus: StatusFailed}, true},
		{"error cleared where there is none", billsync.SObject{mapping.FieldSyncError: nil}, false},
		{"a field Salesforce does not return", billsync.SObject{"Discount": json.Number("5")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := differs(tc.want, have); got != tc.diff {
				t.Errorf("differs = %v", got)
			}
		})
	}
}

// Opportunity link (docs/quotes.md decision 2).
func TestLinkOpportunity(t *testing.T) {
	const opp, other = "006000000000001AAA", "006000000000002AAA"
	quote := billsync.SObject{"Id": "0Q0000000000001AAA", "OpportunityId": opp}
	state := &billsync.SyncState{Agreed: map[string]string{agreedOpportunity: other}}
	for _, tc := range []struct {
		name      string
		billing   string
		quote     billsync.SObject
		st        *billsync.SyncState
		want      string
		fromState bool
		conflict  bool
	}{
		{"E6 nothing linked", "", nil, nil, "", false, false},
		{"the billing link", opp, nil, nil, opp, false, false},
		{"the Quote's Opportunity when billing has none", "", quote, nil, opp, false, false},
		{"15-character billing link to the same", opp[:15], quote, nil, opp[:15], false, false},
		{"billing links another than the Quote's", other, quote, nil, other, false, true},
		{"one an earlier attempt created", "", nil, state, other, true, false},
		{"the billing link wins over the state", opp, nil, state, opp, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := linkOpportunity(tc.billing, tc.quote, tc.st)
			if l.id != tc.want || l.fromState != tc.fromState || (l.conflict != nil) != tc.conflict {
				t.Errorf("got %+v", l)
			}
			if tc.conflict && l.conflict.Field != "crmOpportunityId" {
				t.Errorf("conflict names %q", l.conflict.Field)
			}
		})
	}
}

// E3, E5: the Account costs no query when the Opportunity's read showed it.
func TestAccountFromOpportunity(t *testing.T) {
	const acc = "001000000000001AAA"
	opp := billsync.SObject{"Id": "006000000000001AAA", "AccountId": acc, "Account": map[string]any{"OwnerId": qRita}}
	for _, tc := range []struct {
		name      string
		opp       billsync.SObject
		crmID     string
		wantOwner string
		read      bool
	}{
		{"the Opportunity's Account is the linked one", opp, acc, qRita, false},
		{"15-character link", opp, acc[:15], qRita, false},
		{"another Account", opp, "001000000000009AAA", "", true},
		{"no Opportunity", nil, acc, "", true},
		{"no link", opp, "", "", false},
		{"a link that cannot be an id", nil, "not-an-id", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := accountOf(tc.opp, tc.crmID)
			if got.Str("OwnerId") != tc.wantOwner || needAccount(tc.crmID, got) != tc.read {
				t.Errorf("accountOf = %v, needAccount = %v", got, needAccount(tc.crmID, got))
			}
		})
	}
}

func TestOriginalOf(t *testing.T) {
	for _, tc := range []struct {
		typ, orig, want string
	}{
		{billsync.QuoteAmendment, "q0", "q0"},
		{billsync.QuoteRenewal, "q0", "q0"},
		{billsync.QuoteNew, "q0", ""},       // DECISIONS E3.4
		{billsync.QuoteAmendment, "q1", ""}, // itself
		{billsync.QuoteAmendment, "", ""},   // validation names it
	} {
		if got := originalOf(billsync.Entity{"id": "q1", "type": tc.typ, "originalQuoteId": tc.orig}); got != tc.want {
			t.Errorf("%s of %q: %q, want %q", tc.typ, tc.orig, got, tc.want)
		}
	}
}

// pricingSnap is a snapshot of an existing Quote with two lines.
func pricingSnap() *snapshot {
	return &snapshot{
		set:   settings{pricebook: "Standard Price Book", placeholder: "RENEWAL-PLACEHOLDER"},
		org:   &orgShape{},
		quote: billsync.SObject{"Id": "0Q0000000000001AAA", "Pricebook2Id": "01s000000000001AAA"},
		lines: []current{
			{ID: "0QL1", ItemID: "it1", PricebookEntryID: "01u000000000001AAA", ProductCode: "PLAT-SUB"},
			{ID: "0QL2", ItemID: "it2", PricebookEntryID: "01u000000000002AAA", ProductCode: "SUPPORT"},
			{ID: "0QL9", ItemID: "", PricebookEntryID: "01u000000000009AAA", ProductCode: "MANUAL"},
		},
	}
}

func checkedLines(manual bool, lines ...rules.Line) checked {
	c := checked{q: billsync.Quote{Currency: "USD", ManualRenewal: manual}, lines: lines}
	for i := range lines {
		c.paths = append(c.paths, "offerings[0].items["+string(rune('0'+i))+"]")
	}
	return c
}

// E10 and the API budget: an existing line with the same product keeps its
// entry, so only new products and the placeholder are looked up, in the
// Quote's own pricebook.
func TestPricesNeeded(t *testing.T) {
	for _, tc := range []struct {
		name      string
		snap      func() *snapshot
		c         checked
		codes     string
		pricebook string
	}{
		{"unchanged lines need nothing", pricingSnap, checkedLines(false,
			rules.Line{ItemID: "it1", ProductCode: "PLAT-SUB"}, rules.Line{ItemID: "it2", ProductCode: "SUPPORT"}), "", "01s000000000001AAA"},
		{"a new line and a changed product", pricingSnap, checkedLines(false,
			rules.Line{ItemID: "it1", ProductCode: "PLAT-SUB"}, rules.Line{ItemID: "it2", ProductCode: "ONBOARD"},
			rules.Line{ItemID: "it3", ProductCode: "ONBOARD"}), "ONBOARD", "01s000000000001AAA"},
		{"E9 manual renewal needs the placeholder's entry", pricingSnap, checkedLines(true), "RENEWAL-PLACEHOLDER", "01s000000000001AAA"},
		{"E9 not when the Opportunity has it already", func() *snapshot {
			s := pricingSnap()
			s.products = []current{{ID: "00k1", ProductCode: "RENEWAL-PLACEHOLDER"}}
			return s
		}, checkedLines(true), "", "01s000000000001AAA"},
		{"E12 not when Opportunity products are left alone", func() *snapshot {
			s := pricingSnap()
			s.set.disableOpp = true
			return s
		}, checkedLines(true), "", "01s000000000001AAA"},
		{"a new Quote prices every line by the setting's pricebook", func() *snapshot {
			s := pricingSnap()
			s.quote, s.lines = nil, nil
			return s
		}, checkedLines(false, rules.Line{ItemID: "it1", ProductCode: "PLAT-SUB"}, rules.Line{ItemID: "it2", ProductCode: "PLAT-SUB"}), "PLAT-SUB", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			need := pricesNeeded(tc.snap(), tc.c)
			if got := strings.Join(need.codes, ","); got != tc.codes || need.pricebookID != tc.pricebook || need.pricebookName != "Standard Price Book" {
				t.Errorf("need %+v, want codes %q in %q", need, tc.codes, tc.pricebook)
			}
		})
	}
}

// E10, F2: every line gets its entry or is left out naming its product;
// only a missing pricebook fails the quote.
func TestPrice(t *testing.T) {
	const pb = "01s000000000001AAA"
	cat := catalog{
		products: []rules.Product{{ID: "01t1", ProductCode: "ONBOARD", IsActive: true}, {ID: "01t2", ProductCode: "OLD", IsActive: true},
			{ID: "01t3", ProductCode: "RENEWAL-PLACEHOLDER", IsActive: true}},
		entries: []rules.PricebookEntry{{ID: "01u5", Pricebook2ID: pb, Product2ID: "01t1", IsActive: true},
			{ID: "01u6", Pricebook2ID: pb, Product2ID: "01t2", IsActive: false},
			{ID: "01u7", Pricebook2ID: pb, Product2ID: "01t3", IsActive: true}},
	}
	snap := pricingSnap()
	snap.pricebookID, snap.catalog = pb, cat
	c := checkedLines(true, rules.Line{ItemID: "it1", ProductCode: "PLAT-SUB"}, rules.Line{ItemID: "it3", ProductCode: "ONBOARD"},
		rules.Line{ItemID: "it4", ProductCode: "NOPE"}, rules.Line{ItemID: "it5", ProductCode: "OLD"})
	p, errs := price(snap, c)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := map[string]string{"it1": "01u000000000001AAA", "it3": "01u5"}
	for k, v := range want {
		if p.entries[k] != v {
			t.Errorf("entry of %s = %q, want %q", k, p.entries[k], v)
		}
	}
	var left []string
	for _, u := range p.unpriced {
		left = append(left, u.itemID+":"+rules.FieldOf(u.err))
		if !strings.Contains(u.message(), u.code) || !strings.Contains(u.message(), u.path) {
			t.Errorf("message %q does not name the product and the item", u.message())
		}
	}
	if got := strings.Join(left, ","); got != "it4:productCode,it5:productCode" {
		t.Errorf("unpriced %s", got)
	}
	if p.placeholder != "01u7" {
		t.Errorf("placeholder entry %q", p.placeholder)
	}

	snap.pricebookID = ""
	if _, errs := price(snap, c); len(errs) != 1 || errs[0].Field != billsync.KeyQuotesPricebook {
		t.Errorf("missing pricebook: %v", errs)
	}
}

func TestCatalog(t *testing.T) {
	var cat catalog
	cat.add([]billsync.SObject{
		{"Id": "01u2", "Pricebook2Id": "01s2", "Product2Id": "01t1", "ProductCode": "A", "IsActive": true, "Product2": map[string]any{"IsActive": true}},
		{"Id": "01u1", "Pricebook2Id": "01s1", "Product2Id": "01t1", "ProductCode": "A", "IsActive": false, "Product2": map[string]any{"IsActive": true}},
	})
	if len(cat.products) != 1 || !cat.products[0].IsActive || len(cat.entries) != 2 || cat.entries[0].IsActive != true || cat.entries[1].IsActive {
		t.Errorf("catalog %+v", cat)
	}
	if got := cat.pricebook(); got != "01s1" {
		t.Errorf("pricebook %q, want the lowest id", got)
	}
	if got := cat.unpricedCodes([]string{"A", "B"}); !slices.Equal(got, []string{"B"}) {
		t.Errorf("unpriced codes %v", got)
	}
}

// B6 state: complete saves version and hash; incomplete keeps the old
// version, no hash, and every item a product may still belong to.
func TestNextState(t *testing.T) {
	ent := billsync.Entity{"id": "q1", "version": json.Number("5")}
	old := &billsync.SyncState{BillingVersion: 3, SalesforceID: "0Q01", Agreed: map[string]string{agreedItems: "it0,it1"}}
	lines := []current{{ItemID: "it2"}, {ItemID: ""}}
	done := nextState(ent, old, lines, []string{"it1", "it3"}, "", "0061", "h", true)
	if done.BillingVersion != 5 || done.Agreed[agreedHash] != "h" || done.Agreed[agreedItems] != "it1,it3" ||
		done.SalesforceID != "0Q01" || done.Agreed[agreedOpportunity] != "0061" {
		t.Errorf("complete: %+v", done)
	}
	part := nextState(ent, old, lines, []string{"it1", "it3"}, "0Q02", "", "h", false)
	if part.BillingVersion != 3 || part.Agreed[agreedHash] != "" || part.Agreed[agreedItems] != "it0,it1,it2,it3" || part.SalesforceID != "0Q02" {
		t.Errorf("incomplete: %+v", part)
	}
	if _, ok := part.Agreed[agreedOpportunity]; ok {
		t.Error("no Opportunity known, yet one is recorded")
	}
}

// E11: a line's currency is set only where describe lets billsync set it.
func TestPlanLinesCurrencyFollowsDescribe(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	line := &billsync.SObjectDescribe{Fields: []billsync.FieldDescribe{{Name: "Quantity", Type: "double", Scale: 2, Createable: true},
		{Name: "UnitPrice", Type: "currency", Scale: 2, Createable: true}, {Name: fieldCurrency, Type: "picklist"}}}
	snap := &snapshot{org: &orgShape{line: line, multiCurrency: true}}
	c := checked{q: billsync.Quote{Currency: "EUR"}, lines: []rules.Line{{ItemID: "it1", Quantity: billsync.MustMoney("1"), UnitPrice: billsync.MustMoney("2.345")}}}
	pr := pricing{entries: map[string]string{"it1": "01u1"}}
	fields := []mapping.QuoteField{{Field: mapping.Field{Billing: "quantity", Salesforce: "Quantity", Kind: mapping.KindNumber}},
		{Field: mapping.Field{Billing: "unitPrice", Salesforce: "UnitPrice", Kind: mapping.KindMoney}}}
	lp, lossy, err := planLines(snap, c, pr, fields, now, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := lp.writes[0].rec
	if _, ok := rec[fieldCurrency]; ok || rec["PricebookEntryId"] != "01u1" || !lp.writes[0].create {
		t.Errorf("record %v", rec)
	}
	if !slices.Equal(lossy, []string{"line it1 unitPrice"}) {
		t.Errorf("lossy %v, want the price rounded to 2 places", lossy)
	}
}
