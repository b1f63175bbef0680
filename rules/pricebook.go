package rules

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	billsync "github.com/billsync/billsync"
)

// Product is a Product2 record as the engine read it.
type Product struct {
	ID          string
	ProductCode string
	IsActive    bool
}

// PricebookEntry is a PricebookEntry record as the engine read it.
// CurrencyIsoCode is blank in a single-currency org.
type PricebookEntry struct {
	ID              string
	Pricebook2ID    string
	Product2ID      string
	CurrencyIsoCode string
	IsActive        bool
}

// PricebookInput is what E10 needs to choose a line's PricebookEntry.
type PricebookInput struct {
	// PricebookName is the quotes.pricebook setting; PricebookID is the
	// Pricebook2 of that name, "" when the org has none.
	PricebookName string
	PricebookID   string
	ProductCode   string           // the line's productCode
	Currency      string           // the quote's currency
	MultiCurrency bool             // single-currency orgs ignore Currency
	Products      []Product        // every Product2 with that ProductCode
	Entries       []PricebookEntry // every PricebookEntry of those products, any pricebook or currency
}

// What a PricebookError found missing.
const (
	MissingPricebook     = "pricebook"      // the configured Pricebook2 does not exist
	MissingProduct       = "product"        // no Product2 has the ProductCode
	MissingEntry         = "entry"          // the product has no entry in the pricebook
	MissingCurrency      = "currency_entry" // entries exist in the pricebook, none in the quote's currency
	MissingActiveEntry   = "active_entry"   // matching entries exist but are (or their product is) inactive
	AmbiguousProductCode = "ambiguous"      // several products with the code have a usable entry
)

// PricebookError says why no PricebookEntry fits a line. It unwraps to a
// *ValidationError naming the billing field (productCode or currency; the
// setting quotes.pricebook when the pricebook itself is missing), so
// it carries EINVALID and sync-log field naming like any validation error.
type PricebookError struct {
	Missing     string // one of the Missing* constants
	ProductCode string
	Pricebook   string
	Currency    string
	Message     string
}

func (e *PricebookError) Error() string { return e.Message }

func (e *PricebookError) Unwrap() error {
	field := "productCode"
	switch e.Missing {
	case MissingCurrency:
		field = "currency"
	case MissingPricebook:
		// Nothing on the quote is wrong: the setting names a pricebook the
		// org lacks, so the setting is what the operator must fix.
		field = billsync.KeyQuotesPricebook
	}
	return invalid(field, e.Message)
}

// PricebookEntryFor applies E10: the active entry of the line's product in
// the configured pricebook and, in a multi-currency org, the quote's
// currency. ProductCode is not unique in Salesforce, so several products
// may carry it; that is fine while exactly one of them has a usable entry.
// When none fits, the error names the first thing missing, in the order an
// admin would fix it: pricebook, product, entry, currency, active flag.
func PricebookEntryFor(in PricebookInput) (PricebookEntry, error) {
	pb := in.PricebookName
	if pb == "" {
		pb = in.PricebookID
	}
	fail := func(missing, format string, args ...any) (PricebookEntry, error) {
		return PricebookEntry{}, &PricebookError{Missing: missing, ProductCode: in.ProductCode,
			Pricebook: pb, Currency: in.Currency, Message: fmt.Sprintf(format, args...)}
	}
	if in.PricebookID == "" {
		return fail(MissingPricebook, "pricebook %q (setting %s) does not exist in Salesforce", pb, billsync.KeyQuotesPricebook)
	}
	products := map[string]Product{}
	for _, p := range in.Products {
		if p.ProductCode == in.ProductCode && p.ID != "" {
			products[p.ID] = p
		}
	}
	if len(products) == 0 {
		return fail(MissingProduct, "no Product2 with ProductCode %q", in.ProductCode)
	}
	var inBook, inCurrency, usable []PricebookEntry
	for _, e := range in.Entries {
		if _, ok := products[e.Product2ID]; !ok || e.Pricebook2ID != in.PricebookID {
			continue
		}
		inBook = append(inBook, e)
		if in.MultiCurrency && e.CurrencyIsoCode != in.Currency {
			continue
		}
		inCurrency = append(inCurrency, e)
		if e.IsActive && products[e.Product2ID].IsActive {
			usable = append(usable, e)
		}
	}
	switch {
	case len(inBook) == 0:
		return fail(MissingEntry, "product %q has no PricebookEntry in pricebook %q", in.ProductCode, pb)
	case len(inCurrency) == 0:
		return fail(MissingCurrency, "product %q has no PricebookEntry in currency %s in pricebook %q (it has: %s)",
			in.ProductCode, in.Currency, pb, currencies(inBook))
	case len(usable) == 0:
		what := "PricebookEntry"
		if slices.ContainsFunc(inCurrency, func(e PricebookEntry) bool { return e.IsActive }) {
			what = "Product2"
		}
		return fail(MissingActiveEntry, "product %q in pricebook %q%s is inactive (%s.IsActive is false)",
			in.ProductCode, pb, currencySuffix(in), what)
	}
	slices.SortFunc(usable, func(a, b PricebookEntry) int { return cmp.Compare(a.ID, b.ID) })
	for _, e := range usable[1:] {
		if e.Product2ID != usable[0].Product2ID {
			return fail(AmbiguousProductCode, "several active products with ProductCode %q have an entry in pricebook %q%s (%s, %s); make ProductCode unique",
				in.ProductCode, pb, currencySuffix(in), usable[0].Product2ID, e.Product2ID)
		}
	}
	return usable[0], nil
}

func currencySuffix(in PricebookInput) string {
	if !in.MultiCurrency {
		return ""
	}
	return " in " + in.Currency
}

func currencies(es []PricebookEntry) string {
	var cs []string
	for _, e := range es {
		if e.CurrencyIsoCode != "" && !slices.Contains(cs, e.CurrencyIsoCode) {
			cs = append(cs, e.CurrencyIsoCode)
		}
	}
	slices.Sort(cs)
	if len(cs) == 0 {
		return "none"
	}
	return strings.Join(cs, ", ")
}
