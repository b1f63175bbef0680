package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// What the engine does with the billing platform's capabilities (SPEC
// §5.3). The adapter only declares them; every decision they call for is
// taken here, so a platform's adapter stays a translator.

// unversioned reports a platform without compare-and-set: its writes are
// guarded by a content hash compared just before writing, and its events
// carry no order billsync can trust.
func (e *Engine) unversioned() bool { return e.caps.Versioning == billsync.VersionNone }

// fetchOnNotify reports whether a webhook's copy of a record may be
// acted on, or only billing's own answer: an unsigned webhook could come
// from anyone, and an unversioned platform's events arrive in any order
// and more than once.
func (e *Engine) fetchOnNotify() bool { return !e.caps.SignedWebhooks || e.unversioned() }

// refusal says why the platform cannot take a change of billing path
// field on a record of type t, "" when it can.
func (e *Engine) refusal(t billsync.ObjectType, field string) string {
	switch {
	case pathListed(e.caps.ReadOnlyFields[t], field):
		return "the billing platform sets " + field + " itself"
	case t == billsync.ObjectBalance && field == billsync.BalanceAmountField && !e.caps.BalanceAmountWritable:
		return "the billing platform derives a balance's amount from its transactions"
	case t == billsync.ObjectBalanceTransaction && !e.caps.TransactionsUpdatable && !transactionFieldMutable(e.caps, field):
		if len(e.caps.TransactionMutableFields) == 0 {
			return "the billing platform does not let a transaction change once created"
		}
		return "the billing platform lets a transaction change only in " + strings.Join(e.caps.TransactionMutableFields, ", ")
	}
	return ""
}

func transactionFieldMutable(c billsync.BillingCapabilities, field string) bool {
	return pathListed(c.TransactionMutableFields, field)
}

// pathListed reports whether billing path field is in list, where an
// entry ending in "." stands for every path under it.
func pathListed(list []string, field string) bool {
	for _, f := range list {
		if f == field || (strings.HasSuffix(f, ".") && strings.HasPrefix(field, f)) {
			return true
		}
	}
	return false
}

// createRefusal says why the platform cannot take billing path field in
// a record of type t it creates, "" when it can: a transaction the
// platform will not change is still created whole.
func (e *Engine) createRefusal(t billsync.ObjectType, field string) string {
	switch {
	case t == billsync.ObjectBalance:
		return e.refusal(t, field)
	case pathListed(e.caps.ReadOnlyFields[t], field):
		return "the billing platform sets " + field + " itself"
	}
	return ""
}

// unsupportedOnCreate settles the fields a create left out because the
// platform cannot take them (createRefusal), as screen does for an
// update: under restore the Salesforce record gets billing's values of
// them (agreed holds them), under flag it keeps its own. It returns what
// to write to Salesforce with the billing id, the sync status, and the
// note for the log; nil, "success" and "" when nothing was left out.
func (e *Engine) unsupportedOnCreate(a *attempt.Attempt, om *mapping.Object, refused map[string]string, agreed mapping.Values) (billsync.SObject, string, string) {
	if len(refused) == 0 {
		return nil, "success", ""
	}
	p := &plan{refused: refused, flagged: a.Settings.UnsupportedAction() == billsync.UnsupportedFlag}
	if p.flagged {
		return nil, billsync.ReasonUnsupported, unsupportedNote(p)
	}
	set := billsync.SObject{}
	for k := range refused {
		f, _ := om.Field(k)
		set[f.Salesforce] = f.SalesforceValue(agreed[k])
	}
	return set, billsync.ReasonUnsupported, unsupportedNote(p)
}

// deleteRefusal says why the platform cannot take a delete of a record of
// type t, "" when it can.
func (e *Engine) deleteRefusal(t billsync.ObjectType) string {
	if t == billsync.ObjectBalanceTransaction && !e.caps.TransactionsDeletable {
		return "the billing platform does not let a transaction be deleted"
	}
	return ""
}

// screen takes out of plan p the billing writes the platform cannot take:
// they are never sent. Under unsupported.action restore, Salesforce gets
// billing's values of those fields back; under flag, it keeps its values,
// which stay unagreed, so the record shows as unsupported until a person
// settles it.
func (e *Engine) screen(a *attempt.Attempt, om *mapping.Object, p *plan) {
	for _, k := range keys(p.toBill) {
		why := e.refusal(om.Type, k)
		if why == "" {
			continue
		}
		if p.refused == nil {
			p.refused = map[string]string{}
		}
		p.refused[k] = why
		delete(p.toBill, k)
		if a.Settings.UnsupportedAction() == billsync.UnsupportedFlag {
			p.flagged = true
			if g, ok := p.base[k]; ok {
				p.agreed[k] = g
			} else {
				delete(p.agreed, k)
			}
			continue
		}
		p.toSF[k], p.agreed[k] = p.bill[k], p.bill[k]
	}
}

// unsupportedNote describes the refused part of a screened plan, for the
// sync log and the record's sync status; "" when nothing was refused.
func unsupportedNote(p *plan) string {
	if len(p.refused) == 0 {
		return ""
	}
	fields := make([]string, 0, len(p.refused))
	for _, k := range keys(mapping.Values(p.refused)) {
		fields = append(fields, fmt.Sprintf("%s (%s)", k, p.refused[k]))
	}
	msg := "not sent to billing, which cannot take it: " + strings.Join(fields, "; ")
	if p.flagged {
		return msg + "; the Salesforce record keeps its values and is flagged (" + billsync.KeyUnsupportedAction + " is flag)"
	}
	return msg + "; restored from billing in Salesforce (" + billsync.KeyUnsupportedAction + " is restore)"
}

// finishUnsupported logs the refused part of a screened plan. When it was
// the whole plan it is the change's outcome and finishUnsupported reports
// true; otherwise it is noted beside the outcome of the rest.
func finishUnsupported(a *attempt.Attempt, om *mapping.Object, p *plan, billingID, sfID string) bool {
	msg := unsupportedNote(p)
	if msg == "" {
		return false
	}
	op := "restore"
	if p.flagged {
		op = "flag"
	}
	restoredOnly := len(p.toBill) == 0 && len(p.conflicts) == 0 && p.resolving == 0
	for k := range p.toSF {
		if _, r := p.refused[k]; !r {
			restoredOnly = false
		}
	}
	if restoredOnly {
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonUnsupported, op, "", againNote(p)+msg, billingID, sfID)
		return true
	}
	a.Note(a.Entry(om.Type, billingID, sfID, op, billsync.OutcomeSkipped, billsync.ReasonUnsupported, "", msg))
	return false
}

// contentHash stands for a billing record's synced values (the mapped
// fields and the parent link) where the platform offers no version.
func contentHash(om *mapping.Object, ent billsync.Entity) (string, error) {
	vals, _, err := om.AllBillingValues(ent)
	if err != nil {
		return "", err
	}
	if om.Parent != nil {
		vals[om.Parent.BillingField] = ent.Str(om.Parent.BillingField)
	}
	ks := keys(vals)
	sort.Strings(ks)
	h := sha256.New()
	for _, k := range ks {
		b, _ := json.Marshal([2]string{k, vals[k]})
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// billingMoved is a write withheld because the billing record's content
// changed after it was read: on a platform without versions, this stands
// for the 409 a versioned platform answers.
type billingMoved struct {
	cur billsync.Entity // the record as it now stands
}

func (m *billingMoved) Error() string {
	return fmt.Sprintf("billing record %s changed after billsync read it (its content hash differs)", m.cur.ID())
}

// transient is the retry a moved record calls for when it cannot be
// decided again at once: the retry reads both sides.
func (m *billingMoved) transient() error {
	return &billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 409, Code: "content_changed", Transient: true,
		Message: "the billing record changed while it was being updated (its content hash differs); reading it again"}
}

// unchangedSince reads a billing record of an unversioned platform just
// before it is written and compares it with ent, the record as read when
// the write was decided (D4).
func (e *Engine) unchangedSince(ctx context.Context, om *mapping.Object, ent billsync.Entity) error {
	cur, err := e.cfg.Billing.Get(ctx, om.Type, ent.ID())
	if err != nil {
		return err
	}
	was, err := contentHash(om, ent)
	if err != nil {
		return err
	}
	now, err := contentHash(om, cur)
	if err != nil {
		return err
	}
	if was != now {
		return &billingMoved{cur: cur}
	}
	return nil
}

// withOffering gives a quote of a platform without offerings the one
// offering the quote rules expect: the quote's own, holding its
// top-level items. A quote that already carries offerings is left alone.
func withOffering(q billsync.Entity) billsync.Entity {
	items, ok := q[billsync.QuoteItemsField]
	if _, has := q["offerings"]; has || !ok {
		return q
	}
	out := q.Clone()
	delete(out, billsync.QuoteItemsField)
	off := map[string]any{"id": q.ID(), "items": items}
	if d := q.Str("description"); d != "" {
		off["name"] = d
	}
	out["offerings"] = []any{off}
	return out
}

// quotePayload is the quote a quote change hands to the quote sync: on a
// platform whose webhooks cannot be trusted as they are, billing's own
// copy; on one without offerings, with its items in one offering.
func (e *Engine) quotePayload(ctx context.Context, c billsync.Change) (json.RawMessage, error) {
	if e.caps.QuotesCarryOfferings && !e.fetchOnNotify() {
		return c.Payload, nil
	}
	q, err := decodeObject(c.Payload)
	if err != nil {
		return nil, err
	}
	if e.fetchOnNotify() && c.Op != billsync.OpDeleted {
		if q, err = e.cfg.Billing.Get(ctx, billsync.ObjectQuote, q.ID()); err != nil {
			return nil, err
		}
	}
	if !e.caps.QuotesCarryOfferings {
		q = withOffering(q)
	}
	return json.Marshal(q)
}

// readNotified reads from billing the record a webhook named, when the
// webhook's copy may not be acted on (fetchOnNotify); nil, with the
// outcome recorded, when billing no longer has it or the read failed.
func (e *Engine) readNotified(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, id string) (billsync.Entity, bool) {
	cur, err := e.cfg.Billing.Get(ctx, t, id)
	switch {
	case notFound(err):
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonNotFound, "read", "", "billing no longer has the record the webhook named", "", "")
		return nil, false
	case err != nil:
		a.FailOp(err, "read", "", "")
		return nil, false
	}
	return cur, true
}

// stillInBilling reports whether billing still holds a record a delete
// webhook named, when such a webhook may not be acted on as it is; a
// failed read is recorded and reported as held, so nothing is deleted.
func (e *Engine) stillInBilling(ctx context.Context, a *attempt.Attempt, t billsync.ObjectType, id, sfID string) bool {
	if !e.fetchOnNotify() {
		return false
	}
	_, err := e.cfg.Billing.Get(ctx, t, id)
	switch {
	case notFound(err):
		return false
	case err != nil:
		a.FailOp(err, "read", "", sfID)
	default:
		a.Finish(billsync.OutcomeSkipped, billsync.ReasonStale, "delete", "", "billing still has the record, so the delete notice is out of date or not billing's own", "", sfID)
	}
	return true
}
