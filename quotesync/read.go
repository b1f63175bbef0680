package quotesync

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// Salesforce objects and fields of quote sync (SPEC §2).
const (
	sobjQuote       = "Quote"
	sobjQuoteLine   = "QuoteLineItem"
	sobjOpportunity = "Opportunity"
	sobjOppProduct  = "OpportunityLineItem"

	fieldQuoteExtID    = "BillingQuoteId__c"
	fieldOppQuoteExtID = "BillingQuoteId__c" // on the Opportunity billsync created for a quote
	fieldLineExtID     = "BillingQuoteItemId__c"
	fieldOverride      = "OverrideOpportunitySync__c"
	fieldCurrency      = "CurrencyIsoCode"
	quoteDescribeTTL   = 10 * time.Minute
	pricebookCacheTTL  = 5 * time.Minute
)

// quoteCache keeps what rarely changes between quotes — describe results
// and the configured pricebook's id — so a quote costs no describe calls
// and the pricebook is looked up once per TTL, not once per quote or line.
// Product and entry lookups are batched per quote instead: they change
// when admins edit prices, and a stale entry id would fail lines.
type quoteCache struct {
	mu        sync.Mutex
	describes map[string]cachedDescribe
	pricebook map[string]cachedPricebook
}

type cachedDescribe struct {
	d  *billsync.SObjectDescribe
	at time.Time
}

type cachedPricebook struct {
	id string
	at time.Time
}

// quoteDescribe returns an object's describe, cached for quoteDescribeTTL.
func (s *Syncer) quoteDescribe(ctx context.Context, object string) (*billsync.SObjectDescribe, error) {
	qc := s.cache
	now := s.now()
	qc.mu.Lock()
	if c, ok := qc.describes[object]; ok && now.Sub(c.at) < quoteDescribeTTL {
		qc.mu.Unlock()
		return c.d, nil
	}
	qc.mu.Unlock()
	d, err := s.cfg.CRM.Describe(ctx, object)
	if err != nil {
		return nil, fmt.Errorf("describing %s: %w", object, err)
	}
	qc.mu.Lock()
	qc.describes[object] = cachedDescribe{d: d, at: now}
	qc.mu.Unlock()
	return d, nil
}

// quoteOrgShape is what quote sync learns from describe.
type quoteOrgShape struct {
	quote, line, opp, oppProduct *billsync.SObjectDescribe
	// multiCurrency: the org has CurrencyIsoCode on Quote (E11).
	multiCurrency bool
	quoteNameLen  int
	oppNameLen    int
}

func (sy *Syncer) quoteOrgShape(ctx context.Context) (*quoteOrgShape, error) {
	s := &quoteOrgShape{}
	var err error
	for _, x := range []struct {
		obj string
		dst **billsync.SObjectDescribe
	}{{sobjQuote, &s.quote}, {sobjQuoteLine, &s.line}, {sobjOpportunity, &s.opp}, {sobjOppProduct, &s.oppProduct}} {
		if *x.dst, err = sy.quoteDescribe(ctx, x.obj); err != nil {
			return nil, err
		}
	}
	_, s.multiCurrency = s.quote.Field(fieldCurrency)
	s.quoteNameLen, s.oppNameLen = rules.QuoteNameMaxLength, 120
	if f, ok := s.quote.Field("Name"); ok && f.Length > 0 {
		s.quoteNameLen = f.Length
	}
	if f, ok := s.opp.Field("Name"); ok && f.Length > 0 {
		s.oppNameLen = f.Length
	}
	return s, nil
}

// quoteFieldSet adapts a describe to the mapping's field lookup.
func quoteFieldSet(d *billsync.SObjectDescribe) mapping.FieldSet {
	return func(name string) (mapping.FieldInfo, bool) {
		f, ok := d.Field(name)
		if !ok {
			return mapping.FieldInfo{}, false
		}
		return mapping.FieldInfo{Type: f.Type, Scale: f.Scale, Createable: f.Createable, Updateable: f.Updateable}, true
	}
}

// quoteWritable reports whether billsync may set field on a create (or an
// update): in a real org CurrencyIsoCode of a line is derived from its
// parent and not writable, so describe decides rather than assumption.
func quoteWritable(d *billsync.SObjectDescribe, field string, create bool) bool {
	f, ok := d.Field(field)
	if !ok {
		return false
	}
	if create {
		return f.Createable
	}
	return f.Updateable
}

// quotePricebookID resolves the quotes.pricebook setting to a Pricebook2 id,
// cached for pricebookCacheTTL; "" when the org has no such pricebook.
func (s *Syncer) quotePricebookID(ctx context.Context, name string) (string, error) {
	qc := s.cache
	now := s.now()
	qc.mu.Lock()
	if c, ok := qc.pricebook[name]; ok && now.Sub(c.at) < pricebookCacheTTL {
		qc.mu.Unlock()
		return c.id, nil
	}
	qc.mu.Unlock()
	rows, err := s.cfg.CRM.Query(ctx, fmt.Sprintf("SELECT Id, Name, IsActive FROM Pricebook2 WHERE Name = %s", quoteSOQLString(name)))
	if err != nil {
		return "", fmt.Errorf("looking up pricebook %q: %w", name, err)
	}
	id := ""
	if len(rows) > 0 {
		slices.SortFunc(rows, func(a, b billsync.SObject) int { return strings.Compare(a.ID(), b.ID()) })
		id = rows[0].ID()
	}
	if id != "" {
		// A missing pricebook is not cached: an admin creating it should
		// take effect on the next retry.
		qc.mu.Lock()
		qc.pricebook[name] = cachedPricebook{id: id, at: now}
		qc.mu.Unlock()
	}
	return id, nil
}

// quoteCatalog is the products and pricebook entries of a quote's product
// codes, read with two queries whatever the number of lines (E10).
type quoteCatalog struct {
	products []rules.Product
	entries  []rules.PricebookEntry
}

func (s *Syncer) quoteReadCatalog(ctx context.Context, codes []string) (*quoteCatalog, error) {
	cat := &quoteCatalog{}
	codes = quoteUniqueNonEmpty(codes)
	if len(codes) == 0 {
		return cat, nil
	}
	var productIDs []string
	for chunk := range slices.Chunk(codes, 200) {
		rows, err := s.cfg.CRM.Query(ctx, "SELECT Id, ProductCode, IsActive FROM Product2 WHERE ProductCode IN "+quoteSOQLList(chunk))
		if err != nil {
			return nil, fmt.Errorf("reading products: %w", err)
		}
		for _, r := range rows {
			cat.products = append(cat.products, rules.Product{ID: r.ID(), ProductCode: r.Str("ProductCode"), IsActive: r.Str("IsActive") == "true"})
			productIDs = append(productIDs, r.ID())
		}
	}
	for chunk := range slices.Chunk(productIDs, 200) {
		rows, err := s.cfg.CRM.Query(ctx, "SELECT Id, Pricebook2Id, Product2Id, IsActive"+s.quoteCurrencySelect(ctx)+
			" FROM PricebookEntry WHERE Product2Id IN "+quoteSOQLList(chunk))
		if err != nil {
			return nil, fmt.Errorf("reading pricebook entries: %w", err)
		}
		for _, r := range rows {
			cat.entries = append(cat.entries, rules.PricebookEntry{ID: r.ID(), Pricebook2ID: r.Str("Pricebook2Id"),
				Product2ID: r.Str("Product2Id"), CurrencyIsoCode: r.Str(fieldCurrency), IsActive: r.Str("IsActive") == "true"})
		}
	}
	return cat, nil
}

// quoteCurrencySelect adds CurrencyIsoCode to a SELECT list in a multi-currency
// org (the field does not exist otherwise, and naming it would fail).
func (s *Syncer) quoteCurrencySelect(ctx context.Context) string {
	d, err := s.quoteDescribe(ctx, sobjQuote)
	if err != nil {
		return ""
	}
	if _, ok := d.Field(fieldCurrency); ok {
		return ", " + fieldCurrency
	}
	return ""
}

// entryFor picks a line's PricebookEntry through rules.PricebookEntryFor.
func (c *quoteCatalog) entryFor(pricebookName, quotePricebookID, code, currency string, multi bool) (rules.PricebookEntry, error) {
	return rules.PricebookEntryFor(rules.PricebookInput{
		PricebookName: pricebookName, PricebookID: quotePricebookID, ProductCode: code, Currency: currency,
		MultiCurrency: multi, Products: c.products, Entries: c.entries,
	})
}

// quoteQueryOne runs a query expected to match at most one row.
func (s *Syncer) quoteQueryOne(ctx context.Context, soql string) (billsync.SObject, error) {
	rows, err := s.cfg.CRM.Query(ctx, soql)
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return rows[0], nil
}

// quoteExistingLine is a QuoteLineItem or OpportunityLineItem already in
// Salesforce.
type quoteExistingLine struct {
	ID, ItemID, PricebookEntryID, Override, ProductCode string
}

func (s *Syncer) readQuoteLines(ctx context.Context, quoteID string) ([]quoteExistingLine, error) {
	rows, err := s.cfg.CRM.Query(ctx, fmt.Sprintf("SELECT Id, %s, %s, PricebookEntryId FROM QuoteLineItem WHERE QuoteId = '%s'",
		fieldLineExtID, fieldOverride, quoteID))
	if err != nil {
		return nil, fmt.Errorf("reading the quote's lines: %w", err)
	}
	out := make([]quoteExistingLine, 0, len(rows))
	for _, r := range rows {
		out = append(out, quoteExistingLine{ID: r.ID(), ItemID: r.Str(fieldLineExtID), PricebookEntryID: r.Str("PricebookEntryId"), Override: r.Str(fieldOverride)})
	}
	return out, nil
}

func (s *Syncer) readOppProducts(ctx context.Context, oppID string) ([]quoteExistingLine, error) {
	rows, err := s.cfg.CRM.Query(ctx, fmt.Sprintf("SELECT Id, %s, PricebookEntryId, PricebookEntry.ProductCode FROM OpportunityLineItem WHERE OpportunityId = '%s'",
		fieldLineExtID, oppID))
	if err != nil {
		return nil, fmt.Errorf("reading the Opportunity's products: %w", err)
	}
	out := make([]quoteExistingLine, 0, len(rows))
	for _, r := range rows {
		out = append(out, quoteExistingLine{ID: r.ID(), ItemID: r.Str(fieldLineExtID), PricebookEntryID: r.Str("PricebookEntryId"), ProductCode: r.Str("PricebookEntry.ProductCode")})
	}
	return out, nil
}

// quoteSOQLString quotes a value for SOQL (backslash and quote escaped, as the
// SOQL reference requires).
func quoteSOQLString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`, "\r", `\r`, "\t", `\t`)
	return "'" + r.Replace(s) + "'"
}

func quoteSOQLList(vals []string) string {
	q := make([]string, len(vals))
	for i, v := range vals {
		q[i] = quoteSOQLString(v)
	}
	return "(" + strings.Join(q, ", ") + ")"
}

func quoteUniqueNonEmpty(in []string) []string {
	var out []string
	for _, s := range in {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
