package quotesync

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
	"github.com/billsync/billsync/salesforce/soql"
)

// snapshot is everything one quote sync reads before it decides. The
// reads come in stages, each choosing the next from what the previous
// found (a pure function each: linkOpportunity, needAccount,
// pricesNeeded), and no write happens until all of them are done.
type snapshot struct {
	obj mapping.QuoteObjects
	ent billsync.Entity
	st  *billsync.SyncState
	set settings
	org *orgShape

	accountCRMID          string // crmAccountId of the quote's billing account
	billingAccountMissing bool
	account               billsync.SObject // the Salesforce Account (Id, OwnerId); nil when not found
	quote                 billsync.SObject // the Salesforce Quote; nil when new
	original              billsync.SObject // an amendment's or renewal's original Quote, if synced
	link                  opportunityLink
	opp                   billsync.SObject // the linked Opportunity; nil when none or not found
	lines                 []current        // the Quote's lines
	products              []current        // the Opportunity's products (when they are synced)

	// Read after validation, for the lines that need an entry.
	pricebookID   string
	pricebookName string // the quotes.pricebook setting, when pricebookID came from it
	catalog       catalog
}

// opportunityLink is the Opportunity a quote belongs to.
type opportunityLink struct {
	id string
	// fromState: an earlier attempt created it before it could link it.
	fromState bool
	// conflict: billing names another Opportunity than the Quote's.
	conflict *rules.ValidationError
}

// current is a QuoteLineItem or OpportunityLineItem as Salesforce holds it.
type current struct {
	ID, ItemID, PricebookEntryID, ProductCode, Override string
	rec                                                 billsync.SObject
}

// sfID is the Salesforce id the attempt's log entries name.
func (s *snapshot) sfID() string {
	if s.quote != nil {
		return s.quote.ID()
	}
	if s.st != nil {
		return s.st.SalesforceID
	}
	return ""
}

// createsOpportunity: no Opportunity is linked (or the one an earlier
// attempt made is gone), so one is made (E6).
func (s *snapshot) createsOpportunity() bool {
	return s.opp == nil && (s.link.id == "" || s.link.fromState)
}

// read does the reads that do not depend on the quote being valid.
func (s *Syncer) read(ctx context.Context, ent billsync.Entity, st *billsync.SyncState, set settings) (*snapshot, error) {
	org, err := s.orgShape(ctx)
	if err != nil {
		return nil, err
	}
	snap := &snapshot{obj: s.obj, ent: ent, st: st, set: set, org: org}
	if snap.accountCRMID, snap.billingAccountMissing, err = s.readAccountLink(ctx, ent.Str("accountId")); err != nil {
		return nil, err
	}
	if snap.quote, snap.original, err = s.readQuotes(ctx, ent.ID(), originalOf(ent)); err != nil {
		return nil, err
	}
	snap.link = linkOpportunity(ent.Str("crmOpportunityId"), snap.quote, st)
	if isSFID(snap.link.id) {
		if snap.opp, err = s.readOpportunity(ctx, snap.link.id, org, ent); err != nil {
			return nil, err
		}
	}
	snap.account = accountOf(snap.opp, snap.accountCRMID)
	if needAccount(snap.accountCRMID, snap.account) {
		if snap.account, err = s.readOne(ctx, "Account", []string{"Id", "OwnerId"}, snap.accountCRMID); err != nil {
			return nil, err
		}
	}
	if snap.quote != nil {
		if snap.lines, err = s.readLines(ctx, snap.quote.ID(), org, ent); err != nil {
			return nil, err
		}
	}
	if snap.opp != nil && !set.disableOpp {
		if snap.products, err = s.readProducts(ctx, snap.opp.ID(), org, ent); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// readAccountLink reads the crmAccountId of the quote's billing account;
// missing reports an account billing does not have.
func (s *Syncer) readAccountLink(ctx context.Context, accountID string) (crmID string, missing bool, err error) {
	if accountID == "" {
		return "", false, nil
	}
	acc, err := s.cfg.Billing.Get(ctx, billsync.ObjectAccount, accountID)
	switch {
	case billsync.ErrorCode(err) == billsync.ENOTFOUND:
		return "", true, nil
	case err != nil:
		return "", false, fmt.Errorf("reading billing account %s: %w", accountID, err)
	}
	return acc.Str("crmAccountId"), false, nil
}

// originalOf is the billing id of the quote an amendment or renewal
// follows, "" for anything else.
func originalOf(ent billsync.Entity) string {
	typ, orig := ent.Str("type"), ent.Str("originalQuoteId")
	if (typ == billsync.QuoteAmendment || typ == billsync.QuoteRenewal) && orig != ent.ID() {
		return orig
	}
	return ""
}

// readQuotes reads the Quote and, for an amendment or renewal, its
// original, in one query.
func (s *Syncer) readQuotes(ctx context.Context, id, orig string) (quote, original billsync.SObject, err error) {
	ids := []string{id}
	if orig != "" {
		ids = append(ids, orig)
	}
	ext := s.obj.Quote.ExternalID
	q := soql.Select("Id", "OwnerId", "OpportunityId", "Pricebook2Id", ext).From(s.obj.Quote.SObject).Where(soql.In(ext, ids))
	rows, err := s.cfg.CRM.Query(ctx, q.String())
	if err != nil {
		return nil, nil, fmt.Errorf("reading quotes: %w", err)
	}
	for _, r := range rows {
		switch ext := r.Str(ext); {
		case ext == id:
			quote = r
		case orig != "" && ext == orig:
			original = r
		}
	}
	return quote, original, nil
}

// linkOpportunity chooses the quote's Opportunity: the billing link; else
// the one the Salesforce Quote already belongs to (Quote.OpportunityId
// cannot change, so a billing link to another one is an error); else one
// an earlier attempt created before it could link it.
func linkOpportunity(billingOpp string, quote billsync.SObject, st *billsync.SyncState) opportunityLink {
	l := opportunityLink{id: billingOpp}
	if quote != nil {
		cur := quote.Str("OpportunityId")
		switch {
		case billingOpp == "":
			l.id = cur
		case !sameSFID(billingOpp, cur):
			l.conflict = &rules.ValidationError{Field: "crmOpportunityId", Message: fmt.Sprintf(
				"the Salesforce Quote %s belongs to Opportunity %s and a Quote cannot move to another Opportunity (%s)", quote.ID(), cur, billingOpp)}
		}
	}
	if l.id == "" && st != nil && st.Agreed[agreedOpportunity] != "" {
		l.id, l.fromState = st.Agreed[agreedOpportunity], true
	}
	return l
}

func (s *Syncer) readOpportunity(ctx context.Context, id string, org *orgShape, ent billsync.Entity) (billsync.SObject, error) {
	fields := []string{"Id", "OwnerId", "StageName", "Pricebook2Id", "AccountId", "Account.OwnerId"}
	if org.multiCurrency {
		fields = append(fields, fieldCurrency)
	}
	fields = append(fields, writtenFields(s.m.Opportunity, org.opp)...)
	fields = dedupeFold(append(fields, reached(s.m.Opportunity, org.opp, ent)...))
	return s.readOne(ctx, s.obj.Opportunity.SObject, fields, id)
}

// accountOf is the Salesforce Account as the Opportunity's read showed
// it, when it is the one the billing account links to: then the Account
// needs no query of its own.
func accountOf(opp billsync.SObject, crmID string) billsync.SObject {
	if opp == nil || crmID == "" || !sameSFID(opp.Str("AccountId"), crmID) {
		return nil
	}
	return billsync.SObject{"Id": opp.Str("AccountId"), "OwnerId": opp.Str("Account.OwnerId")}
}

// needAccount reports whether the Account must be read: it is linked and
// not already known from the Opportunity.
func needAccount(crmID string, known billsync.SObject) bool {
	return known == nil && isSFID(crmID)
}

// readOne reads a record by id; nil when it does not exist. Reads by id
// go through RetrieveRecords, which a batching CRM merges across quotes.
func (s *Syncer) readOne(ctx context.Context, object string, fields []string, id string) (billsync.SObject, error) {
	rows, err := s.cfg.CRM.RetrieveRecords(ctx, object, fields, []string{id})
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", object, id, err)
	}
	for _, r := range rows {
		if sameSFID(r.ID(), id) {
			return r, nil
		}
	}
	return nil, nil
}

// readLines reads the Quote's lines with every field quote sync writes,
// so that an unchanged line is not written again.
func (s *Syncer) readLines(ctx context.Context, parentID string, org *orgShape, ent billsync.Entity) ([]current, error) {
	q := soql.Select("Id", s.obj.Line.ExternalID, fieldOverride, "PricebookEntryId", "PricebookEntry.ProductCode").
		Fields(writtenFields(s.m.Line, org.line)...).Fields(reached(s.m.Line, org.line, itemSources(ent)...)...).
		Fields(mapping.FieldLastSystem, mapping.FieldSyncStatus, mapping.FieldSyncError).
		From(s.obj.Line.SObject).Where(soql.Eq("QuoteId", parentID))
	rows, err := s.cfg.CRM.Query(ctx, q.String())
	if err != nil {
		return nil, fmt.Errorf("reading the quote's lines: %w", err)
	}
	return currents(rows, s.obj.Line.ExternalID), nil
}

// readProducts reads the Opportunity's products, likewise.
func (s *Syncer) readProducts(ctx context.Context, oppID string, org *orgShape, ent billsync.Entity) ([]current, error) {
	q := soql.Select("Id", s.obj.OppProduct.ExternalID, "PricebookEntryId", "PricebookEntry.ProductCode").
		Fields(writtenFields(s.m.OppProduct, org.product)...).Fields(reached(s.m.OppProduct, org.product, itemSources(ent)...)...).
		From(s.obj.OppProduct.SObject).Where(soql.Eq("OpportunityId", oppID))
	rows, err := s.cfg.CRM.Query(ctx, q.String())
	if err != nil {
		return nil, fmt.Errorf("reading the Opportunity's products: %w", err)
	}
	return currents(rows, s.obj.OppProduct.ExternalID), nil
}

// currents are the rows read, each knowing its item by extID.
func currents(rows []billsync.SObject, extID string) []current {
	out := make([]current, 0, len(rows))
	for _, r := range rows {
		out = append(out, current{ID: r.ID(), ItemID: r.Str(extID), PricebookEntryID: r.Str("PricebookEntryId"),
			ProductCode: r.Str("PricebookEntry.ProductCode"), Override: r.Str(fieldOverride), rec: r})
	}
	return out
}

// writtenFields are the Salesforce fields a mapping list writes in this
// org (wildcards excepted: a line has no nested values for them to reach).
func writtenFields(fields []mapping.QuoteField, d *billsync.SObjectDescribe) []string {
	var out []string
	for _, f := range fields {
		if strings.Contains(f.Salesforce, mapping.Wildcard) {
			continue
		}
		if df, ok := d.Field(f.Salesforce); ok {
			out = append(out, df.Name)
		}
	}
	return out
}

// priceNeed is what the pricing read must fetch.
type priceNeed struct {
	codes []string // product codes without a known entry
	// pricebookID when known (an existing Quote's); else the pricebook is
	// found by pricebookName.
	pricebookID   string
	pricebookName string
}

// catalog is the products and pricebook entries of some product codes.
type catalog struct {
	products []rules.Product
	entries  []rules.PricebookEntry
}

func (c catalog) entryFor(pricebookName, pricebookID, code, currency string, multi bool) (rules.PricebookEntry, error) {
	return rules.PricebookEntryFor(rules.PricebookInput{
		PricebookName: pricebookName, PricebookID: pricebookID, ProductCode: code, Currency: currency,
		MultiCurrency: multi, Products: c.products, Entries: c.entries,
	})
}

// readPrices reads the entries of need.codes in the pricebook, in one
// query whatever the number of lines; the pricebook's id comes from the
// cache, from the entries found, or (only when neither has it) from a
// query of its own. Products are queried only for codes that found no
// entry, so that the line's error says what exactly is missing.
func (s *Syncer) readPrices(ctx context.Context, need priceNeed, multi bool) (id string, cat catalog, err error) {
	id = need.pricebookID
	if id == "" {
		id, _ = s.cachedPricebook(need.pricebookName)
	}
	if len(need.codes) > 0 {
		if cat, err = s.readEntries(ctx, need.codes, id, need.pricebookName, multi); err != nil {
			return "", cat, err
		}
		if id == "" {
			id = cat.pricebook()
			s.rememberPricebook(need.pricebookName, id)
		}
		if missing := cat.unpricedCodes(need.codes); len(missing) > 0 {
			if cat.products, err = s.readProductCodes(ctx, missing, cat.products); err != nil {
				return "", cat, err
			}
		}
	}
	if id == "" {
		if id, err = s.readPricebookID(ctx, need.pricebookName); err != nil {
			return "", cat, err
		}
	}
	return id, cat, nil
}

func (s *Syncer) readEntries(ctx context.Context, codes []string, pricebookID, pricebookName string, multi bool) (catalog, error) {
	var cat catalog
	for chunk := range slices.Chunk(codes, 200) {
		q := soql.Select("Id", "Pricebook2Id", "Product2Id", "ProductCode", "IsActive", "Product2.IsActive").
			From("PricebookEntry").Where(soql.In("ProductCode", chunk))
		if multi {
			q.Fields(fieldCurrency)
		}
		if pricebookID != "" {
			q.Where(soql.Eq("Pricebook2Id", pricebookID))
		} else {
			q.Where(soql.Eq("Pricebook2.Name", pricebookName))
		}
		rows, err := s.cfg.CRM.Query(ctx, q.String())
		if err != nil {
			return cat, fmt.Errorf("reading pricebook entries: %w", err)
		}
		cat.add(rows)
	}
	return cat, nil
}

func (c *catalog) add(rows []billsync.SObject) {
	for _, r := range rows {
		c.entries = append(c.entries, rules.PricebookEntry{ID: r.ID(), Pricebook2ID: r.Str("Pricebook2Id"),
			Product2ID: r.Str("Product2Id"), CurrencyIsoCode: r.Str(fieldCurrency), IsActive: r.Str("IsActive") == "true"})
		p := rules.Product{ID: r.Str("Product2Id"), ProductCode: r.Str("ProductCode"), IsActive: r.Str("Product2.IsActive") == "true"}
		if !slices.Contains(c.products, p) {
			c.products = append(c.products, p)
		}
	}
}

// pricebook is the pricebook the entries were found in; of two books of
// the same name the lowest id, as a query by name would choose.
func (c catalog) pricebook() string {
	id := ""
	for _, e := range c.entries {
		if id == "" || e.Pricebook2ID < id {
			id = e.Pricebook2ID
		}
	}
	return id
}

// unpricedCodes are the codes no entry was found for.
func (c catalog) unpricedCodes(codes []string) []string {
	var out []string
	for _, code := range codes {
		if !slices.ContainsFunc(c.products, func(p rules.Product) bool { return p.ProductCode == code }) {
			out = append(out, code)
		}
	}
	return out
}

func (s *Syncer) readProductCodes(ctx context.Context, codes []string, known []rules.Product) ([]rules.Product, error) {
	q := soql.Select("Id", "ProductCode", "IsActive").From("Product2").Where(soql.In("ProductCode", codes))
	rows, err := s.cfg.CRM.Query(ctx, q.String())
	if err != nil {
		return nil, fmt.Errorf("reading products: %w", err)
	}
	for _, r := range rows {
		known = append(known, rules.Product{ID: r.ID(), ProductCode: r.Str("ProductCode"), IsActive: r.Str("IsActive") == "true"})
	}
	return known, nil
}

// readPricebookID resolves a pricebook name to its id ("" when the org has
// none), of two of the same name the lowest id.
func (s *Syncer) readPricebookID(ctx context.Context, name string) (string, error) {
	q := soql.Select("Id").From("Pricebook2").Where(soql.Eq("Name", name)).OrderBy("Id").Limit(1)
	rows, err := s.cfg.CRM.Query(ctx, q.String())
	if err != nil {
		return "", fmt.Errorf("looking up pricebook %q: %w", name, err)
	}
	if len(rows) == 0 {
		return "", nil
	}
	s.rememberPricebook(name, rows[0].ID())
	return rows[0].ID(), nil
}
