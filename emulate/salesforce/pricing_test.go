package salesforce

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// create posts a record and returns its id, failing the test otherwise.
func (o *testOrg) create(tok, object string, body map[string]any) string {
	o.t.Helper()
	r := o.do(tok, "POST", v+"/sobjects/"+object, body)
	if r.Status != 201 {
		o.t.Fatalf("create %s %v: %d %s", object, body, r.Status, r.Body)
	}
	return r.obj(o.t)["id"].(string)
}

// wantSaveError checks a single-record save error: status 400, one error
// with the code, message and fields given.
func wantSaveError(t *testing.T, r resp, code, message string, fields ...string) {
	t.Helper()
	if fields == nil {
		fields = []string{}
	}
	want := []map[string]any{{"errorCode": code, "message": message, "fields": toAny(fields)}}
	var got []map[string]any
	if err := json.Unmarshal(r.Body, &got); err != nil || r.Status != 400 {
		t.Fatalf("want 400 %s, got %d %s", code, r.Status, r.Body)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error body (-want +got)\n%s", diff)
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func field(t *testing.T, o *testOrg, object, id, name string) any {
	t.Helper()
	rec, ok := o.e.Record(object, id)
	if !ok {
		t.Fatalf("%s %s not found", object, id)
	}
	return rec[name]
}

func TestSeedDemo(t *testing.T) {
	for _, multi := range []bool{false, true} {
		o := newTestOrg(t, Options{MultiCurrency: multi})
		d, err := o.e.SeedDemo()
		if err != nil {
			t.Fatal(err)
		}
		if len(d.SalesReps) != 2 || d.SalesReps[0] != o.e.UserID(RitaUsername) || d.SalesReps[1] != o.e.UserID(SamUsername) {
			t.Errorf("reps %v", d.SalesReps)
		}
		if len(d.Accounts) != 3 || len(d.Products) != 5 || d.StandardPricebookID == "" || d.CustomPricebookID == "" {
			t.Fatalf("demo %+v", d)
		}
		if got := field(t, o, "Account", d.Accounts["Globex"], "OwnerId"); got != d.SalesReps[1] {
			t.Errorf("Globex owner %v", got)
		}
		if got := field(t, o, "Account", d.Accounts["Initech"], "OwnerId"); got != d.SalesReps[0] {
			t.Errorf("Initech owner %v", got)
		}
		wantEntries := 10
		if multi {
			wantEntries = 20
		}
		if len(d.Entries) != wantEntries || len(o.e.Records("PricebookEntry")) != wantEntries {
			t.Errorf("multi=%v: %d entries, %d stored", multi, len(d.Entries), len(o.e.Records("PricebookEntry")))
		}
		e := d.Entries[EntryKey(d.CustomPricebookID, "PLAT-SUB", "USD")]
		if field(t, o, "PricebookEntry", e, "IsActive") != true || field(t, o, "PricebookEntry", e, "ProductCode") != "PLAT-SUB" {
			t.Errorf("entry %v", e)
		}
		if _, ok := d.Entries[EntryKey(d.StandardPricebookID, "API-USAGE", "EUR")]; ok != multi {
			t.Errorf("multi=%v: EUR entry present=%v", multi, ok)
		}
		// The reps are ordinary users who can log in.
		r := o.form("/services/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
			"username": {SamUsername}, "password": {SamPassword}})
		if r.Status != 200 {
			t.Errorf("sam login %d %s", r.Status, r.Body)
		}
		again, err := o.e.SeedDemo()
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, again); diff != "" {
			t.Errorf("second SeedDemo differs (-first +second)\n%s", diff)
		}
		if n := len(o.e.Records("Account")); n != 3 {
			t.Errorf("%d accounts after two seeds", n)
		}
	}
}

func TestQuoteRules(t *testing.T) {
	o := newTestOrg(t, Options{})
	d, err := o.e.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	tok := o.token(IntegrationUsername)
	acme := d.Accounts["Acme Corporation"]
	entry := func(book, code string) string { return d.Entries[EntryKey(book, code, "USD")] }

	// Required fields, with the real message and fields.
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/Quote", map[string]any{}), "REQUIRED_FIELD_MISSING",
		"Required fields are missing: [Name, OpportunityId]", "Name", "OpportunityId")
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/QuoteLineItem", map[string]any{}), "REQUIRED_FIELD_MISSING",
		"Required fields are missing: [QuoteId, PricebookEntryId, Quantity, UnitPrice]", "QuoteId", "PricebookEntryId", "Quantity", "UnitPrice")

	opp := o.create(tok, "Opportunity", map[string]any{"Name": "Acme expansion", "StageName": "Prospecting", "CloseDate": "2026-06-30",
		"AccountId": acme, "Pricebook2Id": d.CustomPricebookID})
	q := o.create(tok, "Quote", map[string]any{"Name": "Acme expansion (Q-1042)", "OpportunityId": opp})
	if got := field(t, o, "Quote", q, "AccountId"); got != acme {
		t.Errorf("quote AccountId %v", got)
	}
	if got := field(t, o, "Quote", q, "Pricebook2Id"); got != d.CustomPricebookID {
		t.Errorf("quote Pricebook2Id %v, want the opportunity's", got)
	}

	// A line whose entry is in another book.
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": entry(d.StandardPricebookID, "SUPPORT"),
		"Quantity": 1, "UnitPrice": 10}), "FIELD_INTEGRITY_EXCEPTION", msgEntryOtherBookQ, "PricebookEntryId")

	// Exact decimals: 3 × 333.33 and 1.5 × 0.05 with a discount.
	l1 := o.create(tok, "QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": entry(d.CustomPricebookID, "PLAT-SUB"), "Quantity": 3, "UnitPrice": "333.33"})
	l2 := o.create(tok, "QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": entry(d.CustomPricebookID, "API-USAGE"),
		"Quantity": json.Number("1000.5"), "UnitPrice": json.Number("0.05"), "Discount": 10})
	rec, _ := o.e.Record("QuoteLineItem", l1)
	if rec["TotalPrice"] != json.Number("999.99") || rec["ListPrice"] != json.Number("1000.0") || rec["Product2Id"] != d.Products["PLAT-SUB"] || rec["LineNumber"] != "00001" {
		t.Errorf("line 1 %v", rec)
	}
	rec, _ = o.e.Record("QuoteLineItem", l2)
	// 1000.5 × 0.05 = 50.025 → Subtotal 50.03; less 10% = 45.0225 → 45.02.
	if rec["Subtotal"] != json.Number("50.03") || rec["TotalPrice"] != json.Number("45.02") {
		t.Errorf("line 2 %v", rec)
	}
	if got := field(t, o, "Quote", q, "TotalPrice"); got != json.Number("1045.01") {
		t.Errorf("quote TotalPrice %v", got)
	}
	if r := o.do(tok, "PATCH", v+"/sobjects/QuoteLineItem/"+l1, map[string]any{"Quantity": 1}); r.Status != 204 {
		t.Fatal(r.Status, string(r.Body))
	}
	if got := field(t, o, "Quote", q, "GrandTotal"); got != json.Number("378.35") {
		t.Errorf("quote GrandTotal after update %v", got)
	}

	// Inactive entry.
	inactive := entry(d.CustomPricebookID, "ONBOARD")
	if r := o.do(tok, "PATCH", v+"/sobjects/PricebookEntry/"+inactive, map[string]any{"IsActive": false}); r.Status != 204 {
		t.Fatal(r.Status, string(r.Body))
	}
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": inactive, "Quantity": 1, "UnitPrice": 1}),
		"FIELD_INTEGRITY_EXCEPTION", msgEntryInactive, "PricebookEntryId")

	// A quote without a price book takes no lines.
	bare := o.create(tok, "Opportunity", map[string]any{"Name": "No book", "StageName": "Prospecting", "CloseDate": "2026-06-30", "AccountId": acme})
	q2 := o.create(tok, "Quote", map[string]any{"Name": "No book", "OpportunityId": bare})
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/QuoteLineItem", map[string]any{"QuoteId": q2, "PricebookEntryId": entry(d.StandardPricebookID, "SUPPORT"), "Quantity": 1, "UnitPrice": 1}),
		"FIELD_INTEGRITY_EXCEPTION", msgEntryOtherBookQ, "PricebookEntryId")
	// Unknown opportunity.
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/Quote", map[string]any{"Name": "x", "OpportunityId": "006000000000000AAA"}),
		"INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", "OpportunityId")

	// Deleting the quote deletes its lines; undelete brings them back.
	if r := o.do(tok, "DELETE", v+"/sobjects/Quote/"+q, nil); r.Status != 204 {
		t.Fatal(r.Status, string(r.Body))
	}
	if _, ok := o.e.Record("QuoteLineItem", l1); ok {
		t.Errorf("line survived its quote")
	}
	if err := o.e.Undelete(q, IntegrationUsername); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.e.Record("QuoteLineItem", l2); !ok {
		t.Errorf("undelete did not restore the line")
	}
}

func TestOpportunityLineRules(t *testing.T) {
	o := newTestOrg(t, Options{})
	d, err := o.e.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	tok := o.token(IntegrationUsername)
	entry := func(book, code string) string { return d.Entries[EntryKey(book, code, "USD")] }
	opp := o.create(tok, "Opportunity", map[string]any{"Name": "Globex renewal", "StageName": "Prospecting", "CloseDate": "2026-06-30",
		"AccountId": d.Accounts["Globex"], "Amount": 5})

	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/OpportunityLineItem", map[string]any{"OpportunityId": opp, "Quantity": 1, "UnitPrice": 1}),
		"FIELD_INTEGRITY_EXCEPTION", msgNoEntry, "PricebookEntryId", "unknown")

	// The first product assigns the entry's book to the opportunity.
	l1 := o.create(tok, "OpportunityLineItem", map[string]any{"OpportunityId": opp, "PricebookEntryId": entry(d.StandardPricebookID, "SUPPORT"), "Quantity": 2, "UnitPrice": "299.99"})
	if got := field(t, o, "Opportunity", opp, "Pricebook2Id"); got != d.StandardPricebookID {
		t.Errorf("opportunity book %v", got)
	}
	rec, _ := o.e.Record("OpportunityLineItem", l1)
	if rec["TotalPrice"] != json.Number("599.98") || rec["Name"] != "Globex renewal Premium support" || rec["Product2Id"] != d.Products["SUPPORT"] {
		t.Errorf("line %v", rec)
	}
	// Then every entry must come from that book.
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/OpportunityLineItem", map[string]any{"OpportunityId": opp, "PricebookEntryId": entry(d.CustomPricebookID, "SUPPORT"), "Quantity": 1, "UnitPrice": 1}),
		"FIELD_INTEGRITY_EXCEPTION", msgEntryOtherBookOpp, "PricebookEntryId")
	// A total price sets the unit price.
	l2 := o.create(tok, "OpportunityLineItem", map[string]any{"OpportunityId": opp, "PricebookEntryId": entry(d.StandardPricebookID, "ONBOARD"), "Quantity": 4, "TotalPrice": "1000"})
	if got := field(t, o, "OpportunityLineItem", l2, "UnitPrice"); got != json.Number("250.0") {
		t.Errorf("unit price from total %v", got)
	}
	// Amount sums the products and ignores a written value.
	if got := field(t, o, "Opportunity", opp, "Amount"); got != json.Number("1599.98") {
		t.Errorf("amount %v", got)
	}
	if r := o.do(tok, "PATCH", v+"/sobjects/Opportunity/"+opp, map[string]any{"Amount": 1, "StageName": "Qualification"}); r.Status != 204 {
		t.Fatal(r.Status, string(r.Body))
	}
	if got := field(t, o, "Opportunity", opp, "Amount"); got != json.Number("1599.98") {
		t.Errorf("amount after write %v", got)
	}
	wantSaveError(t, o.do(tok, "PATCH", v+"/sobjects/Opportunity/"+opp, map[string]any{"Pricebook2Id": d.CustomPricebookID}),
		"FIELD_INTEGRITY_EXCEPTION", msgOppBookLocked, "Pricebook2Id")
	r := o.do(tok, "PATCH", v+"/sobjects/OpportunityLineItem/"+l2, map[string]any{"UnitPrice": 1, "TotalPrice": 2})
	wantSaveError(t, r, "INVALID_FIELD", msgBothPrices, "UnitPrice")
	if r := o.do(tok, "DELETE", v+"/sobjects/OpportunityLineItem/"+l1, nil); r.Status != 204 {
		t.Fatal(r.Status, string(r.Body))
	}
	if got := field(t, o, "Opportunity", opp, "Amount"); got != json.Number("1000.0") {
		t.Errorf("amount after delete %v", got)
	}

	// Deleting the opportunity deletes its products, quotes and their lines.
	q := o.create(tok, "Quote", map[string]any{"Name": "Q", "OpportunityId": opp})
	ql := o.create(tok, "QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": entry(d.StandardPricebookID, "SUPPORT"), "Quantity": 1, "UnitPrice": 1})
	if r := o.do(tok, "DELETE", v+"/sobjects/Opportunity/"+opp, nil); r.Status != 204 {
		t.Fatal(r.Status, string(r.Body))
	}
	for _, id := range []string{l2, q, ql} {
		if r := o.do(tok, "GET", v+"/sobjects/"+map[string]string{"00k": "OpportunityLineItem", "0Q0": "Quote", "0QL": "QuoteLineItem"}[id[:3]]+"/"+id, nil); r.Status != 404 {
			t.Errorf("%s after opportunity delete: %d %s", id, r.Status, r.Body)
		}
	}
	all := o.do(tok, "GET", v+"/queryAll?q="+url.QueryEscape("SELECT Id FROM QuoteLineItem WHERE IsDeleted = true"), nil).obj(t)
	if all["totalSize"] != json.Number("1") {
		t.Errorf("recycle bin %v", all)
	}
}

func TestPricebookEntryRules(t *testing.T) {
	o := newTestOrg(t, Options{})
	d, err := o.e.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	tok := o.token(IntegrationUsername)
	p := o.create(tok, "Product2", map[string]any{"Name": "Widget", "ProductCode": "WIDGET", "IsActive": true})
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/PricebookEntry", map[string]any{"Pricebook2Id": d.CustomPricebookID, "Product2Id": p, "UnitPrice": 5, "IsActive": true}),
		"STANDARD_PRICE_NOT_DEFINED", msgNoStandardPrice)
	o.create(tok, "PricebookEntry", map[string]any{"Pricebook2Id": d.StandardPricebookID, "Product2Id": p, "UnitPrice": 7, "IsActive": true})
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/PricebookEntry", map[string]any{"Pricebook2Id": d.StandardPricebookID, "Product2Id": p, "UnitPrice": 8}),
		"FIELD_INTEGRITY_EXCEPTION", msgDuplicateEntry)
	e := o.create(tok, "PricebookEntry", map[string]any{"Pricebook2Id": d.CustomPricebookID, "Product2Id": p, "UseStandardPrice": true, "IsActive": true})
	if got := field(t, o, "PricebookEntry", e, "UnitPrice"); got != json.Number("7.0") {
		t.Errorf("standard price not used: %v", got)
	}
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/PricebookEntry", map[string]any{"Pricebook2Id": d.CustomPricebookID, "Product2Id": p}),
		"REQUIRED_FIELD_MISSING", "Required fields are missing: [UnitPrice]", "UnitPrice")
}

func TestMultiCurrencyRules(t *testing.T) {
	o := newTestOrg(t, Options{MultiCurrency: true})
	d, err := o.e.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	tok := o.token(IntegrationUsername)
	desc := o.do(tok, "GET", v+"/sobjects/QuoteLineItem/describe", nil).obj(t)
	var cur map[string]any
	for _, f := range desc["fields"].([]any) {
		if f.(map[string]any)["name"] == "CurrencyIsoCode" {
			cur = f.(map[string]any)
		}
	}
	if cur == nil || cur["defaultValue"] != "USD" || cur["restrictedPicklist"] != true || len(cur["picklistValues"].([]any)) != 3 {
		t.Fatalf("CurrencyIsoCode describe %v", cur)
	}
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/Account", map[string]any{"Name": "Yen", "CurrencyIsoCode": "JPY"}),
		"INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Currency ISO Code: bad value for restricted picklist field: JPY", "CurrencyIsoCode")

	opp := o.create(tok, "Opportunity", map[string]any{"Name": "Euro deal", "StageName": "Prospecting", "CloseDate": "2026-06-30",
		"AccountId": d.Accounts["Initech"], "Pricebook2Id": d.CustomPricebookID, "CurrencyIsoCode": "EUR"})
	if got := field(t, o, "Account", d.Accounts["Initech"], "CurrencyIsoCode"); got != "USD" {
		t.Errorf("default currency %v", got)
	}
	q := o.create(tok, "Quote", map[string]any{"Name": "Euro quote", "OpportunityId": opp})
	if got := field(t, o, "Quote", q, "CurrencyIsoCode"); got != "EUR" {
		t.Errorf("quote currency %v, want the opportunity's", got)
	}
	usd := d.Entries[EntryKey(d.CustomPricebookID, "SUPPORT", "USD")]
	eur := d.Entries[EntryKey(d.CustomPricebookID, "SUPPORT", "EUR")]
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": usd, "Quantity": 1, "UnitPrice": 1}),
		"FIELD_INTEGRITY_EXCEPTION", msgEntryCurrencyQ, "PricebookEntryId")
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/OpportunityLineItem", map[string]any{"OpportunityId": opp, "PricebookEntryId": usd, "Quantity": 1, "UnitPrice": 1}),
		"FIELD_INTEGRITY_EXCEPTION", msgEntryCurrencyOpp, "PricebookEntryId")
	ql := o.create(tok, "QuoteLineItem", map[string]any{"QuoteId": q, "PricebookEntryId": eur, "Quantity": 1, "UnitPrice": 230, "CurrencyIsoCode": "EUR"})
	if got := field(t, o, "QuoteLineItem", ql, "CurrencyIsoCode"); got != "EUR" {
		t.Errorf("line currency %v", got)
	}
	o.create(tok, "OpportunityLineItem", map[string]any{"OpportunityId": opp, "PricebookEntryId": eur, "Quantity": 1, "UnitPrice": 230})
	wantSaveError(t, o.do(tok, "PATCH", v+"/sobjects/Opportunity/"+opp, map[string]any{"CurrencyIsoCode": "GBP"}),
		"FIELD_INTEGRITY_EXCEPTION", msgOppCurrencyLocked, "CurrencyIsoCode")

	// A custom entry needs a standard entry in its own currency.
	p := o.create(tok, "Product2", map[string]any{"Name": "Widget", "ProductCode": "WIDGET", "IsActive": true})
	o.create(tok, "PricebookEntry", map[string]any{"Pricebook2Id": d.StandardPricebookID, "Product2Id": p, "UnitPrice": 7, "CurrencyIsoCode": "USD"})
	wantSaveError(t, o.do(tok, "POST", v+"/sobjects/PricebookEntry", map[string]any{"Pricebook2Id": d.CustomPricebookID, "Product2Id": p, "UnitPrice": 5, "CurrencyIsoCode": "GBP"}),
		"STANDARD_PRICE_NOT_DEFINED", msgNoStandardPrice)
	// The same product in the same book, in another currency, is no duplicate.
	o.create(tok, "PricebookEntry", map[string]any{"Pricebook2Id": d.StandardPricebookID, "Product2Id": p, "UnitPrice": 6, "CurrencyIsoCode": "GBP"})
}

func TestSingleCurrencyHasNoCurrencyField(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	r := o.do(tok, "POST", v+"/sobjects/Account", map[string]any{"Name": "x", "CurrencyIsoCode": "USD"})
	if r.Status != 400 || !strings.Contains(string(r.Body), "No such column 'CurrencyIsoCode'") {
		t.Errorf("single-currency org accepted CurrencyIsoCode: %d %s", r.Status, r.Body)
	}
}

func TestCollectionRulesPartialSuccess(t *testing.T) {
	o := newTestOrg(t, Options{})
	d, err := o.e.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	tok := o.token(IntegrationUsername)
	opp := o.create(tok, "Opportunity", map[string]any{"Name": "Batch", "StageName": "Prospecting", "CloseDate": "2026-06-30", "Pricebook2Id": d.StandardPricebookID})
	good := d.Entries[EntryKey(d.StandardPricebookID, "SUPPORT", "USD")]
	bad := d.Entries[EntryKey(d.CustomPricebookID, "SUPPORT", "USD")]
	line := func(entry string) map[string]any {
		return map[string]any{"attributes": map[string]any{"type": "OpportunityLineItem"}, "OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 1, "UnitPrice": 100}
	}
	r := o.do(tok, "POST", v+"/composite/sobjects", map[string]any{"allOrNone": false, "records": []any{line(good), line(bad), line(good)}})
	res := r.arr(t)
	if r.Status != 200 || len(res) != 3 {
		t.Fatalf("%d %s", r.Status, r.Body)
	}
	e := res[1].(map[string]any)["errors"].([]any)[0].(map[string]any)
	if res[0].(map[string]any)["success"] != true || res[2].(map[string]any)["success"] != true ||
		e["statusCode"] != "FIELD_INTEGRITY_EXCEPTION" || e["message"] != msgEntryOtherBookOpp {
		t.Errorf("results %s", r.Body)
	}
	if got := field(t, o, "Opportunity", opp, "Amount"); got != json.Number("200.0") {
		t.Errorf("amount %v", got)
	}
}

func TestFaultHooks(t *testing.T) {
	o := newTestOrg(t, Options{})
	tok := o.token(IntegrationUsername)
	o.token(SalesUsername)
	if r := o.do(tok, "GET", v+"/limits", nil); r.Status != 200 {
		t.Fatal(r.Status)
	}
	// A streaming client handshakes with the same session.
	hs := o.do(tok, "POST", "/cometd/62.0", []any{map[string]any{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": []string{"long-polling"}}})
	client, _ := hs.arr(t)[0].(map[string]any)["clientId"].(string)
	if client == "" {
		t.Fatalf("handshake %s", hs.Body)
	}

	if n := o.e.ExpireSessions(); n != 2 {
		t.Errorf("ExpireSessions = %d, want 2", n)
	}
	r := o.do(tok, "GET", v+"/limits", nil)
	if r.Status != 401 || !strings.Contains(string(r.Body), `"errorCode":"INVALID_SESSION_ID"`) {
		t.Errorf("old token: %d %s", r.Status, r.Body)
	}
	login := o.form("/services/oauth2/token", url.Values{"grant_type": {"password"}, "client_id": {DefaultClientID}, "client_secret": {DefaultClientSecret},
		"username": {IntegrationUsername}, "password": {IntegrationPassword}})
	if login.Status != 200 {
		t.Fatalf("login after expiry %d %s", login.Status, login.Body)
	}
	tok = login.obj(t)["access_token"].(string)
	if r := o.do(tok, "GET", v+"/limits", nil); r.Status != 200 {
		t.Errorf("new token: %d %s", r.Status, r.Body)
	}
	if n := o.e.ExpireSessions(); n != 1 {
		t.Errorf("second ExpireSessions = %d, want 1", n)
	}

	tok = o.token(IntegrationUsername)
	hs = o.do(tok, "POST", "/cometd/62.0", []any{map[string]any{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": []string{"long-polling"}}})
	client = hs.arr(t)[0].(map[string]any)["clientId"].(string)
	o.e.DropStreams()
	c := o.do(tok, "POST", "/cometd/62.0", []any{map[string]any{"channel": "/meta/connect", "clientId": client, "connectionType": "long-polling"}})
	if !strings.Contains(string(c.Body), "403::Unknown client") {
		t.Errorf("connect after DropStreams: %d %s", c.Status, c.Body)
	}
}

func TestSeedDemoSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e, err := New(Options{DataDir: dir, MultiCurrency: true})
	if err != nil {
		t.Fatal(err)
	}
	first, err := e.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := New(Options{DataDir: dir, MultiCurrency: true})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	second, err := e2.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, second); diff != "" {
		t.Errorf("SeedDemo after restart differs (-before +after)\n%s", diff)
	}
	if _, err := e2.IssueToken(RitaUsername); err != nil {
		t.Errorf("rita lost on restart: %v", err)
	}
}
