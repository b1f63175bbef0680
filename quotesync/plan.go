package quotesync

import (
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/rules"
)

// defaultCloseDays is how far out an auto-created Opportunity closes when
// the quote has no expiry date (Salesforce requires a close date).
const defaultCloseDays = 30

// defaultStage is the stage of an auto-created Opportunity whose quote
// status the stage mapping does not name (StageName is required).
const defaultStage = "Prospecting"

// plan is every write of one quote sync, decided before the first one.
// Ids that only a write can tell (a new Opportunity's, a new Quote's) are
// filled in as the plan is applied.
type plan struct {
	q           billsync.Quote
	newOpp      billsync.SObject // the Opportunity to create (E6); nil when it exists
	oppID       string           // the existing Opportunity's id
	quote       billsync.SObject // the Quote upsert
	newQuote    bool
	status      string // BillingSyncStatus__c on the Quote
	ownerSource rules.OwnerSource
	lines       linePlan
	// products is nil when the Opportunity's products are left alone;
	// productsRefused then says why, when that is a failure to log.
	products        *productPlan
	productsRefused string
	stage           rules.StageChange // of an existing Opportunity
	oppFields       billsync.SObject  // mapped fields of an existing Opportunity that differ
	unpriced        []unpriced
	lossy           []string
	items           []string // the quote's item ids, for the state
}

// write is one record of an upsert; create records still lack their
// parent's id until it is known.
type write struct {
	rec    billsync.SObject
	create bool
}

// removal is one record to delete, and why (for the log).
type removal struct{ id, why string }

type linePlan struct {
	deletes   []removal
	writes    []write
	total     int // lines on the quote
	created   int
	unchanged int
}

type productPlan struct {
	deletes        []removal
	writes         []write
	unchanged      int
	notEligible    int
	removedByPlan  int
	placeholder    rules.PlaceholderAction
	placeholderRec billsync.SObject // the placeholder to create; nil when it has no entry
	placeholderErr error
}

// planQuote decides every write from what was read.
func planQuote(snap *snapshot, c checked, pr pricing, m *mapping.QuoteMapping, now time.Time) (*plan, error) {
	q := c.q
	p := &plan{q: q, newQuote: snap.quote == nil, ownerSource: c.owner.Source, unpriced: pr.unpriced,
		lossy: c.lossy, status: StatusSuccess}
	if len(pr.unpriced) > 0 {
		p.status = StatusPartial
	}
	for _, l := range c.lines {
		p.items = append(p.items, l.ItemID)
	}
	if snap.createsOpportunity() {
		p.newOpp = buildOpportunity(snap, c, pr.pricebookID, now)
	} else {
		p.oppID = snap.opp.ID()
		p.stage = rules.OpportunityStage(q.Status, snap.set.stages, snap.opp.Str("StageName"))
		p.oppFields = changedFields(c.oppFields, snap.opp)
	}
	p.quote = buildQuote(snap, c, pr, p.status, now)
	var err error
	if p.lines, p.lossy, err = planLines(snap, c, pr, m.Line, now, p.lossy); err != nil {
		return nil, err
	}
	p.products, p.productsRefused, err = planProducts(snap, c, pr, m.OppProduct)
	return p, err
}

// buildOpportunity is the Opportunity made for a quote without one (E6).
func buildOpportunity(snap *snapshot, c checked, pricebookID string, now time.Time) billsync.SObject {
	q := c.q
	stage := strings.TrimSpace(snap.set.stages[q.Status])
	if stage == "" {
		stage = defaultStage
	}
	closeDate := billsync.DateOf(now.AddDate(0, 0, defaultCloseDays))
	if q.ExpiresAt != nil {
		closeDate = billsync.DateOf(q.ExpiresAt.UTC())
	}
	rec := billsync.SObject{
		"Name":         rules.QuoteName(q.Description, q.ID, snap.org.oppNameLen),
		"AccountId":    snap.account.ID(),
		"OwnerId":      c.owner.OwnerID,
		"StageName":    stage,
		"CloseDate":    closeDate.String(),
		"Pricebook2Id": pricebookID,
	}
	if snap.org.multiCurrency && creatable(snap.org.opp, fieldCurrency) {
		rec[fieldCurrency] = q.Currency
	}
	// The mapping's entries come last: one that names a field billsync
	// sets on its own (Name, say) does so on purpose.
	for _, f := range c.oppFields {
		rec[f.Salesforce] = f.Value
	}
	return rec
}

// changedFields are the assignments whose value differs from what the
// record holds; nil when none does.
func changedFields(as []mapping.Assignment, have billsync.SObject) billsync.SObject {
	var out billsync.SObject
	for _, f := range as {
		if sameValue(f.Value, lookup(have, f.Salesforce)) {
			continue
		}
		if out == nil {
			out = billsync.SObject{}
		}
		out[f.Salesforce] = f.Value
	}
	return out
}

// buildQuote is the Quote upsert: name (E4), mapped fields (E7, E8), and
// on create the owner (E3), pricebook (E10) and currency (E11).
func buildQuote(snap *snapshot, c checked, pr pricing, status string, now time.Time) billsync.SObject {
	q := c.q
	rec := billsync.SObject{
		snap.obj.Quote.ExternalID: q.ID,
		"Name":                    rules.QuoteName(q.Description, q.ID, snap.org.nameLen),
		mapping.FieldLastSystem:   mapping.LastSystemBilling,
	}
	for _, f := range c.fields {
		rec[f.Salesforce] = f.Value
	}
	switch {
	case snap.quote == nil:
		rec["OpportunityId"] = snap.opp.ID() // "" until a new Opportunity is made
		rec["OwnerId"] = c.owner.OwnerID
		rec["Pricebook2Id"] = pr.pricebookID
		if snap.org.multiCurrency && creatable(snap.org.quote, fieldCurrency) {
			rec[fieldCurrency] = q.Currency
		}
	case snap.quote.Str("Pricebook2Id") == "":
		rec["Pricebook2Id"] = pr.pricebookID
	}
	var problems []string
	for _, u := range pr.unpriced {
		problems = append(problems, u.message())
	}
	mapping.SyncStatusFields(rec, status, strings.Join(problems, "\n"), now)
	return rec
}

// planLines makes the Quote's lines match the quote (E2, E10, E11): lines
// gone from the quote are deleted; a line whose product changed (hence its
// PricebookEntry, which cannot change on a line) is replaced; the rest are
// upserted by BillingQuoteItemId__c — but only where they differ from
// what Salesforce holds. Lines without BillingQuoteItemId__c were added
// by a person and are left alone. A line without an entry is left out; if
// an older version of it exists, it stays and says it failed.
func planLines(snap *snapshot, c checked, pr pricing, fields []mapping.QuoteField, now time.Time, lossy []string) (linePlan, []string, error) {
	lp := linePlan{total: len(c.lines)}
	onQuote := map[string]bool{}
	for _, l := range c.lines {
		onQuote[l.ItemID] = true
	}
	have := map[string]current{}
	for _, x := range snap.lines {
		_, bad := pr.isUnpriced(x.ItemID)
		switch {
		case x.ItemID == "":
		case !onQuote[x.ItemID]:
			lp.deletes = append(lp.deletes, removal{x.ID, x.ItemID + " is no longer on the quote"})
		case !bad && !sameSFID(x.PricebookEntryID, pr.entries[x.ItemID]):
			lp.deletes = append(lp.deletes, removal{x.ID, x.ItemID + " changed product"})
		default:
			have[x.ItemID] = x
		}
	}
	for _, l := range c.lines {
		x, exists := have[l.ItemID]
		if u, bad := pr.isUnpriced(l.ItemID); bad {
			if exists {
				lp.add(failedLine(snap.obj.Line.ExternalID, l.ItemID, u.message(), now), x)
			}
			continue
		}
		rec, lost, err := lineRecord(l, c.custom[l.ItemID], fields, snap.org.line, snap.obj.Line.ExternalID)
		if err != nil {
			return lp, lossy, err
		}
		lossy = append(lossy, lost...)
		rec[mapping.FieldLastSystem] = mapping.LastSystemBilling
		mapping.SyncStatusFields(rec, StatusSuccess, "", now)
		if !exists {
			rec["PricebookEntryId"] = pr.entries[l.ItemID]
			if snap.org.multiCurrency && creatable(snap.org.line, fieldCurrency) {
				rec[fieldCurrency] = c.q.Currency
			}
			lp.created++
		}
		lp.add(rec, x)
	}
	return lp, lossy, nil
}

// add plans rec over the record x Salesforce holds (none when x.ID is
// ""), skipping a write that would change nothing.
func (lp *linePlan) add(rec billsync.SObject, x current) {
	if x.ID != "" && !differs(rec, x.rec) {
		lp.unchanged++
		return
	}
	lp.writes = append(lp.writes, write{rec: rec, create: x.ID == ""})
}

// failedLine marks a line's older version as not synced.
func failedLine(extID, itemID, msg string, now time.Time) billsync.SObject {
	rec := billsync.SObject{extID: itemID, mapping.FieldLastSystem: mapping.LastSystemBilling}
	mapping.SyncStatusFields(rec, StatusFailed, msg, now)
	return rec
}
