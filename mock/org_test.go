package mock_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
	"github.com/billsync/billsync/salesforce/soql"
)

// saved returns a check that every record of a write succeeded.
func saved(t *testing.T) func([]billsync.SaveResult, error) []billsync.SaveResult {
	return func(res []billsync.SaveResult, err error) []billsync.SaveResult {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if !r.Success {
				t.Fatalf("record %d: %+v", i, r.Errors)
			}
		}
		return res
	}
}

// A child names its parent by the parent's external id, and the upsert
// of an existing external id updates it (SPEC §6).
func TestOrgUpsertByExternalID(t *testing.T) {
	ctx := context.Background()
	o := mock.NewOrg()
	saveOK := saved(t)
	acc := saveOK(o.Upsert(ctx, "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": "acc_1", "Name": "Acme"}}))
	if !acc[0].Created || !strings.HasPrefix(acc[0].ID, "a01") || len(acc[0].ID) != 18 {
		t.Fatalf("created %+v", acc[0])
	}
	bal := saveOK(o.Upsert(ctx, "BillingBalance__c", "BillingId__c", []billsync.SObject{
		{"BillingId__c": "bal_1", "Name": "Prepaid", "BillingAccount__r": map[string]any{"BillingId__c": "acc_1"}},
	}))
	if got := o.Get(bal[0].ID).Str("BillingAccount__c"); got != acc[0].ID {
		t.Fatalf("parent lookup %q, want %q", got, acc[0].ID)
	}
	again := saveOK(o.Upsert(ctx, "BillingAccount__c", "BillingId__c", []billsync.SObject{{"BillingId__c": "acc_1", "Name": "Acme Ltd"}}))
	if again[0].Created || again[0].ID != acc[0].ID || o.Get(acc[0].ID).Str("Name") != "Acme Ltd" {
		t.Fatalf("update by external id: %+v %v", again[0], o.Get(acc[0].ID))
	}
	res, err := o.Upsert(ctx, "BillingBalance__c", "BillingId__c", []billsync.SObject{
		{"BillingId__c": "bal_2", "BillingAccount__r": map[string]any{"BillingId__c": "nope"}},
		{"Name": "no external id"},
		{"BillingId__c": "bal_3", "BillingAccount__r": map[string]any{"BillingId__c": "acc_1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Success || res[0].Errors[0].Message != "Foreign key external ID: nope not found for field BillingId__c in entity BillingAccount__c" {
		t.Errorf("missing parent: %+v", res[0])
	}
	if res[1].Success || res[1].Errors[0].StatusCode != "MISSING_ARGUMENT" {
		t.Errorf("no external id: %+v", res[1])
	}
	if !res[2].Success {
		t.Errorf("a failing record stopped the others: %+v", res[2])
	}
	if got := o.CallLog(); !slices.Equal(got, []string{"upsert BillingAccount__c", "upsert BillingBalance__c", "upsert BillingAccount__c", "upsert BillingBalance__c"}) {
		t.Errorf("call log %v", got)
	}
	if o.Writes() != 4 {
		t.Errorf("writes %d", o.Writes())
	}
	if n := o.RecordsWritten("BillingBalance__c"); n != 4 {
		t.Errorf("balances written %d, want 4 (failed ones count)", n)
	}
}

// Queries run through the emulator's parser: the builder's escaping, IN,
// relationship paths selected and compared, case-insensitive text and
// 15-character ids behave as in Salesforce.
func TestOrgQuery(t *testing.T) {
	ctx := context.Background()
	o := mock.NewOrg()
	acc := o.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_1", "Name": "O'Brien \\ Sons"})
	o.Put("BillingAccount__c", billsync.SObject{"BillingId__c": "acc_2", "Name": "Other"})
	bal := o.Put("BillingBalance__c", billsync.SObject{"BillingId__c": "bal_1", "Amount__c": json.Number("12.5"),
		"BillingAccount__r": map[string]any{"BillingId__c": "acc_1"}})

	rows, err := o.Query(ctx, soql.Select("Id", "Name").From("BillingAccount__c").Where(soql.Eq("Name", "o'brien \\ sons")).String())
	if err != nil || len(rows) != 1 || rows[0].ID() != acc {
		t.Fatalf("escaped name: %v %v", rows, err)
	}
	rows, err = o.Query(ctx, soql.Select("Id", "BillingAccount__r.BillingId__c", "Amount__c").From("BillingBalance__c").
		Where(soql.In("BillingAccount__r.BillingId__c", []string{"acc_1", "acc_9"})).String())
	if err != nil || len(rows) != 1 || rows[0].ID() != bal || rows[0].Str("BillingAccount__r.BillingId__c") != "acc_1" {
		t.Fatalf("relationship: %v %v", rows, err)
	}
	rows, err = o.Query(ctx, soql.Select("Id").From("BillingAccount__c").Where(soql.Eq("Id", acc[:15])).String())
	if err != nil || len(rows) != 1 || rows[0].ID() != acc {
		t.Fatalf("15-character id: %v %v", rows, err)
	}
	rows, err = o.Query(ctx, "SELECT Id FROM BillingAccount__c ORDER BY BillingId__c DESC LIMIT 1")
	if err != nil || len(rows) != 1 || rows[0].ID() == acc {
		t.Fatalf("order and limit: %v %v", rows, err)
	}
	rows, err = o.Query(ctx, "SELECT Id FROM BillingBalance__c WHERE Amount__c > 12")
	if err != nil || len(rows) != 1 {
		t.Fatalf("number comparison: %v %v", rows, err)
	}
	_, err = o.Query(ctx, "SELECT Id FROM WHERE")
	if billsync.RemoteCode(err) != "MALFORMED_QUERY" {
		t.Errorf("malformed: %v", err)
	}
	_, err = o.Query(ctx, "SELECT Id, CurrencyIsoCode FROM BillingAccount__c")
	if billsync.RemoteCode(err) != "INVALID_FIELD" {
		t.Errorf("currency in a single-currency org: %v", err)
	}
	recs, err := o.RetrieveRecords(ctx, "BillingBalance__c", []string{"Id", "BillingAccount__r.BillingId__c", "Missing__c"}, []string{bal, acc, "a99000000000000AAA"})
	if err != nil || len(recs) != 1 || recs[0].Str("BillingAccount__r.BillingId__c") != "acc_1" {
		t.Fatalf("RetrieveRecords: %v %v", recs, err)
	}
	if _, ok := recs[0]["Missing__c"]; !ok {
		t.Errorf("a selected field the record lacks is not returned as null: %v", recs[0])
	}
	if _, err := o.Retrieve(ctx, "BillingAccount__c", bal, nil); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("Retrieve of another object's id: %v", err)
	}
	if r, err := o.Retrieve(ctx, "BillingAccount__c", acc, []string{"Name"}); err != nil || len(r) != 1 || r.Str("Name") != "O'Brien \\ Sons" {
		t.Errorf("Retrieve: %v %v", r, err)
	}
}

// Updates refuse fields Salesforce does not let change; deletes cascade
// to master-detail children; per-record and per-call failures.
func TestOrgWritesAndFailures(t *testing.T) {
	ctx := context.Background()
	o := mock.NewOrg()
	q := o.Put("Quote", billsync.SObject{"Name": "Q"})
	line := o.Put("QuoteLineItem", billsync.SObject{"QuoteId": q})
	other := o.Put("Account", billsync.SObject{"Name": "A"})

	res, _ := o.Update(ctx, "Quote", []billsync.SObject{{"Id": q, "OpportunityId": "006000000000001AAA"}, {"Id": other}})
	if res[0].Success || res[0].Errors[0].StatusCode != "INVALID_FIELD_FOR_INSERT_UPDATE" || res[1].Success {
		t.Errorf("update: %+v", res)
	}
	res, _ = o.Create(ctx, "Opportunity", []billsync.SObject{{"Name": "O"}, {"Name": "E", "CurrencyIsoCode": "EUR"}})
	if !res[0].Success || o.Get(res[0].ID).Str("OwnerId") != mock.UserID || res[1].Success {
		t.Errorf("create: %+v", res)
	}
	res, _ = o.Delete(ctx, []string{q, q})
	if !res[0].Success || res[1].Errors[0].StatusCode != "ENTITY_IS_DELETED" || o.Get(line) != nil {
		t.Errorf("delete: %+v, line %v", res, o.Get(line))
	}

	o.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		if r.Str("Name") == "bad" {
			return &billsync.FieldError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Message: "no"}
		}
		return nil
	}
	res, _ = o.Create(ctx, "Account", []billsync.SObject{{"Name": "bad"}, {"Name": "good"}})
	if res[0].Success || !res[1].Success {
		t.Errorf("FailRecord: %+v", res)
	}
	down := errors.New("down")
	o.Hook = func(ctx context.Context, c mock.Call) error {
		if c.Method == "query" {
			return down
		}
		return nil
	}
	if _, err := o.Query(ctx, "SELECT Id FROM Account"); !errors.Is(err, down) {
		t.Errorf("hook: %v", err)
	}
	if _, _, err := o.Identity(ctx); err != nil {
		t.Errorf("hook failed another call: %v", err)
	}
	if n := o.CallCount()["query"]; n != 1 {
		t.Errorf("failed calls are not counted: %d", n)
	}
}

func TestOrgMultiCurrencyDescribe(t *testing.T) {
	ctx := context.Background()
	o := &mock.Org{MultiCurrency: true, Describes: map[string]*billsync.SObjectDescribe{
		"Quote": {Name: "Quote", Fields: []billsync.FieldDescribe{{Name: "region__c", Type: "string"}}},
	}}
	d, err := o.Describe(ctx, "Quote")
	if err != nil || len(d.Fields) != 2 || d.Fields[1].Name != mock.FieldCurrency {
		t.Fatalf("describe %+v %v", d, err)
	}
	d, _ = o.Describe(ctx, "QuoteLineItem")
	if f, ok := d.Field("UnitPrice"); !ok || f.Scale != 2 {
		t.Errorf("standard describe %+v", d)
	}
	res, err := o.Create(ctx, "Quote", []billsync.SObject{{"Name": "Q", mock.FieldCurrency: "EUR"}})
	if err != nil || !res[0].Success {
		t.Errorf("multi-currency create: %+v %v", res, err)
	}
}
