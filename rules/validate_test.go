package rules

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	billsync "github.com/billsync/billsync"
)

const validQuote = `{
  "id": "Q-1042", "accountId": "A-1", "description": "Acme expansion",
  "status": "APPROVED", "type": "NEW", "crmOpportunityId": "006000000000001AAA",
  "currency": "EUR", "manualRenewal": false,
  "startDate": "2025-01-01", "endDate": "2025-12-31", "expiresAt": "2025-02-01T00:00:00Z",
  "customFields": {"region": "EMEA"}, "version": 3,
  "offerings": [
    {"id": "OF-1", "name": "Platform", "items": [
      {"id": "I-1", "productCode": "SEAT", "productType": "SUBSCRIPTION", "quantity": "10", "unitPrice": "12.50"},
      {"id": "I-2", "productCode": "API", "productType": "USAGE", "quantity": 0, "unitPrice": 0.0010}
    ]}
  ]
}`

func quoteEntity(t *testing.T, edit func(billsync.Entity)) billsync.Entity {
	t.Helper()
	e, err := billsync.DecodeEntity([]byte(validQuote))
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(e)
	}
	return e
}

func item(e billsync.Entity, i int) map[string]any {
	o := e["offerings"].([]any)[0].(map[string]any)
	return o["items"].([]any)[i].(map[string]any)
}

func TestValidateQuote(t *testing.T) {
	okCtx := QuoteContext{AccountCRMID: "001000000000001AAA", MultiCurrency: true, OrgCurrencies: []string{"EUR", "USD"}}
	tests := []struct {
		name       string
		edit       func(billsync.Entity)
		ctx        func(*QuoteContext)
		wantFields []string // nil: valid
	}{
		{name: "E5 seed: 'Required fields and relationships are automatically validated' — a complete quote passes"},
		{name: "E5: 'an account with no linked Salesforce Account fails here, naming crmAccountId'",
			ctx: func(c *QuoteContext) { c.AccountCRMID = "" }, wantFields: []string{"crmAccountId"}},
		{name: "E5 relationship: a crmAccountId naming no Salesforce Account fails naming crmAccountId",
			ctx: func(c *QuoteContext) { c.AccountNotFound = true }, wantFields: []string{"crmAccountId"}},
		{name: "E5 relationship: a crmOpportunityId naming no Opportunity fails naming crmOpportunityId",
			ctx: func(c *QuoteContext) { c.OpportunityNotFound = true }, wantFields: []string{"crmOpportunityId"}},
		{name: "E5+E6: no Opportunity and auto-create off fails naming crmOpportunityId (Quote.OpportunityId is required)",
			edit: func(e billsync.Entity) { delete(e, "crmOpportunityId") }, wantFields: []string{"crmOpportunityId"}},
		{name: "E6: no Opportunity with auto-create on passes",
			edit: func(e billsync.Entity) { delete(e, "crmOpportunityId") },
			ctx:  func(c *QuoteContext) { c.AutoCreateOpportunity = true }},
		{name: "E5+E11: a missing currency in a multi-currency org fails naming currency",
			edit: func(e billsync.Entity) { delete(e, "currency") }, wantFields: []string{"currency"}},
		{name: "E11 decision: a missing currency in a single-currency org passes",
			edit: func(e billsync.Entity) { delete(e, "currency") },
			ctx:  func(c *QuoteContext) { c.MultiCurrency, c.OrgCurrencies = false, nil }},
		{name: "E11 decision: a currency the multi-currency org has not activated fails naming currency",
			edit: func(e billsync.Entity) { e["currency"] = "JPY" }, wantFields: []string{"currency"}},
		{name: "E11 decision: a currency other than a single-currency org's fails naming currency",
			ctx:        func(c *QuoteContext) { c.MultiCurrency, c.OrgCurrency = false, "USD" },
			wantFields: []string{"currency"}},
		{name: "E5 decision: a currency must be an upper-case ISO code",
			edit: func(e billsync.Entity) { e["currency"] = "eur" }, wantFields: []string{"currency"}},
		{name: "E5+E3: an AMENDMENT without originalQuoteId fails naming originalQuoteId",
			edit: func(e billsync.Entity) { e["type"] = "AMENDMENT" }, wantFields: []string{"originalQuoteId"}},
		{name: "E5+E3: a RENEWAL without originalQuoteId fails naming originalQuoteId",
			edit: func(e billsync.Entity) { e["type"] = "RENEWAL"; e["originalQuoteId"] = "" }, wantFields: []string{"originalQuoteId"}},
		{name: "E5: an AMENDMENT with originalQuoteId passes",
			edit: func(e billsync.Entity) { e["type"] = "AMENDMENT"; e["originalQuoteId"] = "Q-1000" }},
		{name: "E5 decision: a quote cannot amend itself",
			edit: func(e billsync.Entity) { e["type"] = "AMENDMENT"; e["originalQuoteId"] = "Q-1042" }, wantFields: []string{"originalQuoteId"}},
		{name: "E5: an unknown type fails naming type",
			edit: func(e billsync.Entity) { e["type"] = "UPSELL" }, wantFields: []string{"type"}},
		{name: "E5: required header fields are each named",
			edit: func(e billsync.Entity) {
				delete(e, "id")
				delete(e, "accountId")
				e["status"] = ""
				e["type"] = nil
			},
			wantFields: []string{"id", "accountId", "status", "type"}},
		{name: "E5: an item without productCode fails naming the item's productCode",
			edit: func(e billsync.Entity) { delete(item(e, 1), "productCode") }, wantFields: []string{"offerings[0].items[1].productCode"}},
		{name: "E5: a quantity that is not a decimal fails naming it",
			edit: func(e billsync.Entity) { item(e, 0)["quantity"] = "ten" }, wantFields: []string{"offerings[0].items[0].quantity"}},
		{name: "E5: a unitPrice that is not a decimal fails naming it",
			edit: func(e billsync.Entity) { item(e, 0)["unitPrice"] = "1e3" }, wantFields: []string{"offerings[0].items[0].unitPrice"}},
		{name: "E5: a missing quantity and a boolean unitPrice are both named",
			edit:       func(e billsync.Entity) { delete(item(e, 0), "quantity"); item(e, 0)["unitPrice"] = true },
			wantFields: []string{"offerings[0].items[0].quantity", "offerings[0].items[0].unitPrice"}},
		{name: "E2+E5 decision: two items with one id fail (the id is the lines' external id)",
			edit:       func(e billsync.Entity) { item(e, 1)["id"] = "I-1" },
			wantFields: []string{"offerings[0].items[1].id"}},
		{name: "E5: an offering without id fails naming it",
			edit:       func(e billsync.Entity) { delete(e["offerings"].([]any)[0].(map[string]any), "id") },
			wantFields: []string{"offerings[0].id"}},
		{name: "E5: offerings that are not a list fail",
			edit: func(e billsync.Entity) { e["offerings"] = "none" }, wantFields: []string{"offerings"}},
		{name: "E5 decision: a quote without offerings is valid (the header still syncs)",
			edit: func(e billsync.Entity) { delete(e, "offerings") }},
		{name: "E5: an endDate before the startDate fails naming endDate",
			edit: func(e billsync.Entity) { e["endDate"] = "2024-12-31" }, wantFields: []string{"endDate"}},
		{name: "E5: a malformed date fails naming it",
			edit: func(e billsync.Entity) { e["startDate"] = "01/02/2025" }, wantFields: []string{"startDate"}},
		{name: "E5: manualRenewal must be a boolean",
			edit: func(e billsync.Entity) { e["manualRenewal"] = "yes" }, wantFields: []string{"manualRenewal"}},
		{name: "E5: a field of the wrong JSON type that the decoder meets is named",
			edit: func(e billsync.Entity) { e["version"] = "three" }, wantFields: []string{"version"}},
		{name: "E5: every problem is reported at once, in a stable order",
			edit: func(e billsync.Entity) {
				e["type"] = "RENEWAL"
				delete(e, "currency")
				item(e, 0)["quantity"] = "lots"
			},
			ctx:        func(c *QuoteContext) { c.AccountCRMID = "" },
			wantFields: []string{"crmAccountId", "originalQuoteId", "currency", "offerings[0].items[0].quantity"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := okCtx
			if tt.ctx != nil {
				tt.ctx(&ctx)
			}
			q, err := ValidateQuote(quoteEntity(t, tt.edit), ctx)
			if tt.wantFields == nil {
				if err != nil {
					t.Fatalf("ValidateQuote: %v", err)
				}
				if q.ID != "Q-1042" {
					t.Errorf("typed quote id %q", q.ID)
				}
				return
			}
			var ve ValidationErrors
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want ValidationErrors", err)
			}
			if diff := cmp.Diff(tt.wantFields, ve.Fields()); diff != "" {
				t.Errorf("fields (-want +got):\n%s\nerror: %v", diff, err)
			}
			if c := billsync.ErrorCode(err); c != billsync.EINVALID {
				t.Errorf("code %q, want %q", c, billsync.EINVALID)
			}
			for _, f := range tt.wantFields {
				if !strings.Contains(err.Error(), f+": ") {
					t.Errorf("message %q does not name %s", err, f)
				}
			}
		})
	}
}

func TestValidateQuoteTyped(t *testing.T) {
	q, err := ValidateQuote(quoteEntity(t, nil), QuoteContext{AccountCRMID: "001X", MultiCurrency: true})
	if err != nil {
		t.Fatal(err)
	}
	lines := Flatten(q)
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	// Amounts keep the scale they were written with, whether they arrived
	// as decimal strings or JSON numbers (never through float64).
	for _, c := range []struct{ got, want string }{
		{lines[0].UnitPrice.String(), "12.50"},
		{lines[1].UnitPrice.String(), "0.0010"},
		{lines[1].Quantity.String(), "0"},
	} {
		if c.got != c.want {
			t.Errorf("amount %s, want %s", c.got, c.want)
		}
	}
	if q.Currency != "EUR" || q.Version != 3 || q.StartDate.String() != "2025-01-01" {
		t.Errorf("typed quote = %+v", q)
	}
}
