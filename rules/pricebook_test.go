package rules

import (
	"errors"
	"testing"

	billsync "github.com/billsync/billsync"
)

func TestPricebookEntryFor(t *testing.T) {
	const std, custom = "01sSTD", "01sCUSTOM"
	seat := Product{ID: "01tSEAT", ProductCode: "SEAT", IsActive: true}
	seat2 := Product{ID: "01tSEAT2", ProductCode: "SEAT", IsActive: true}
	retired := Product{ID: "01tOLD", ProductCode: "SEAT", IsActive: false}
	pbe := func(id, book, product, cur string, active bool) PricebookEntry {
		return PricebookEntry{ID: id, Pricebook2ID: book, Product2ID: product, CurrencyIsoCode: cur, IsActive: active}
	}
	base := func() PricebookInput {
		return PricebookInput{PricebookName: "Standard Price Book", PricebookID: std, ProductCode: "SEAT",
			Currency: "EUR", MultiCurrency: true, Products: []Product{seat}}
	}
	tests := []struct {
		name        string
		edit        func(*PricebookInput)
		wantID      string
		wantMissing string
		wantField   string
	}{
		{"E10 seed: 'The correct Pricebook Entry is assigned, based on your managed package settings'",
			func(in *PricebookInput) {
				in.Entries = []PricebookEntry{pbe("01uUSD", std, seat.ID, "USD", true), pbe("01uEUR", std, seat.ID, "EUR", true), pbe("01uC", custom, seat.ID, "EUR", true)}
			}, "01uEUR", "", ""},
		{"E10: the configured (custom) pricebook is used, not the standard one",
			func(in *PricebookInput) {
				in.PricebookName, in.PricebookID = "Partner", custom
				in.Entries = []PricebookEntry{pbe("01uEUR", std, seat.ID, "EUR", true), pbe("01uC", custom, seat.ID, "EUR", true)}
			}, "01uC", "", ""},
		{"E10+E11 decision: a single-currency org ignores the quote's currency",
			func(in *PricebookInput) {
				in.MultiCurrency, in.Currency = false, "JPY"
				in.Entries = []PricebookEntry{pbe("01u1", std, seat.ID, "", true)}
			}, "01u1", "", ""},
		{"E10: a pricebook named in settings that does not exist is an error naming it",
			func(in *PricebookInput) { in.PricebookID = "" }, "", MissingPricebook, billsync.KeyQuotesPricebook},
		{"E10: no product with the ProductCode is an error saying so",
			func(in *PricebookInput) { in.Products = nil }, "", MissingProduct, "productCode"},
		{"E10: no entry in the configured pricebook is an error saying so",
			func(in *PricebookInput) { in.Entries = []PricebookEntry{pbe("01uC", custom, seat.ID, "EUR", true)} },
			"", MissingEntry, "productCode"},
		{"E10+E11: no entry in the quote's currency is an error naming currency",
			func(in *PricebookInput) { in.Entries = []PricebookEntry{pbe("01uUSD", std, seat.ID, "USD", true)} },
			"", MissingCurrency, "currency"},
		{"E10: only inactive entries is an error saying inactive",
			func(in *PricebookInput) { in.Entries = []PricebookEntry{pbe("01uEUR", std, seat.ID, "EUR", false)} },
			"", MissingActiveEntry, "productCode"},
		{"E10 decision: an active entry of an inactive product is not usable",
			func(in *PricebookInput) {
				in.Products = []Product{retired}
				in.Entries = []PricebookEntry{pbe("01uOLD", std, retired.ID, "EUR", true)}
			}, "", MissingActiveEntry, "productCode"},
		{"E10 decision: ProductCode is not unique in Salesforce; one usable product among several is chosen",
			func(in *PricebookInput) {
				in.Products = []Product{retired, seat}
				in.Entries = []PricebookEntry{pbe("01uOLD", std, retired.ID, "EUR", true), pbe("01uEUR", std, seat.ID, "EUR", true)}
			}, "01uEUR", "", ""},
		{"E10 decision: two usable products with one ProductCode is an ambiguity error, not a guess",
			func(in *PricebookInput) {
				in.Products = []Product{seat, seat2}
				in.Entries = []PricebookEntry{pbe("01uA", std, seat.ID, "EUR", true), pbe("01uB", std, seat2.ID, "EUR", true)}
			}, "", AmbiguousProductCode, "productCode"},
		{"E10: entries of products with another code are ignored",
			func(in *PricebookInput) {
				in.Products = append(in.Products, Product{ID: "01tAPI", ProductCode: "API", IsActive: true})
				in.Entries = []PricebookEntry{pbe("01uAPI", std, "01tAPI", "EUR", true)}
			}, "", MissingEntry, "productCode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base()
			tt.edit(&in)
			got, err := PricebookEntryFor(in)
			if tt.wantMissing == "" {
				if err != nil {
					t.Fatalf("PricebookEntryFor: %v", err)
				}
				if got.ID != tt.wantID {
					t.Errorf("entry %s, want %s", got.ID, tt.wantID)
				}
				return
			}
			var pe *PricebookError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *PricebookError", err)
			}
			if pe.Missing != tt.wantMissing {
				t.Errorf("Missing = %q, want %q (%v)", pe.Missing, tt.wantMissing, err)
			}
			if f := FieldOf(err); f != tt.wantField {
				t.Errorf("field %q, want %q", f, tt.wantField)
			}
			if c := billsync.ErrorCode(err); c != billsync.EINVALID {
				t.Errorf("code %q, want %q", c, billsync.EINVALID)
			}
			t.Logf("message: %v", err)
		})
	}
}
