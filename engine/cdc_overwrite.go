package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
)

// An edit billsync overwrote, in an org without BillingSyncTrigger
// (Config.Unguarded, salesforce.changeSource cdc). billsync reads a
// record before it updates it, but nothing in Salesforce refuses the
// update when a person's edit of the same field commits between that read
// and the write: the write overwrites the edit. The edit's change event
// still arrives, carrying the values the person saved; the record billsync
// then reads holds billsync's value, equal to the agreed one, and would be
// skipped as an echo — the edit lost without a trace.
//
// So every unguarded write of a field leaves a window in the sync state
// (windowPrefix): when the read that decided it was taken (the record's
// LastModifiedDate) and the value it found. The window stays while every
// later read finds the field at its agreed value (billsync has seen no
// person's value of it since), and closes when a read finds another value.
// A change event whose value for the field differs from the value the
// window's read found, saved at or after that read, while the record
// still holds the agreed value, is an edit billsync did not see and then
// overwrote. Its value counts as Salesforce's side, against the value the
// window's read found as the base, and meets the conflict policy like any
// edit of both sides; a value that wins goes back to Salesforce too.

// windowPrefix starts the Agreed keys of the windows, one per billing
// path, holding a window in JSON. "@" keeps them apart from mapped
// fields, as mapping.AgreedRevision.
const windowPrefix = "@cdcWindow:"

// window is an open window of one field.
type window struct {
	// At is the record's LastModifiedDate as the deciding read found it
	// (unix ms), Observed the field's canonical value then.
	At       int64  `json:"at"`
	Observed string `json:"observed"`
	// Seen and SeenAt are what the latest read found and its
	// LastModifiedDate, when a later write kept the window open (that
	// read found billsync's own value): an edit saved since was made
	// against Seen, not Observed.
	Seen   *string `json:"seen,omitempty"`
	SeenAt int64   `json:"seenAt,omitempty"`
	// Done and DoneValue are the save time (unix ms) and value of the
	// last overwritten edit reconciled: that edit and those saved before
	// it are settled, and a redelivery of its event changes nothing.
	Done      int64  `json:"done,omitempty"`
	DoneValue string `json:"doneValue,omitempty"`
}

func parseWindow(s string) (window, bool) {
	var w window
	return w, s != "" && json.Unmarshal([]byte(s), &w) == nil
}

func (w window) String() string {
	b, _ := json.Marshal(w)
	return string(b)
}

// base is the value an edit saved at ms was made against: what the
// latest read before it found.
func (w window) base(ms int64) string {
	if w.Seen != nil && ms >= w.SeenAt {
		return *w.Seen
	}
	return w.Observed
}

// settled reports whether an edit saved at saved with value v is one the
// window's deciding read saw, or one already reconciled.
func (w window) settled(saved time.Time, v string) bool {
	ms := saved.UnixMilli()
	return v == w.base(ms) || ms < w.At || w.Done != 0 && (ms < w.Done || ms == w.Done && v == w.DoneValue)
}

// trackWindows keeps the windows of a plan about to be applied in an org
// without the trigger: a field written opens a window at rec's read
// unless one is open and the read found the field unmoved (billsync has
// seen no person's value since the earlier one opened); a field the read
// found moved and that is not written closes its window.
func (e *Engine) trackWindows(om *mapping.Object, st *billsync.SyncState, p *plan, rec billsync.SObject) {
	if !e.cfg.Unguarded || rec == nil {
		return
	}
	read, err := om.AllSalesforceValues(rec)
	if err != nil {
		return
	}
	at := timeOf(rec.Str("LastModifiedDate"))
	for _, f := range om.Fields {
		k := f.Billing
		old, known := "", false
		if st != nil {
			old, known = st.Agreed[k]
		}
		moved := !known || read[k] != old
		_, writes := p.toSF[k]
		_, open := p.agreed[windowPrefix+k]
		switch {
		case writes && (moved || !open):
			p.agreed[windowPrefix+k] = window{At: at.UnixMilli(), Observed: read[k]}.String()
		case writes:
			// Open and unmoved: the window keeps its start and base (an
			// edit overwritten by the earlier write may not be heard of
			// yet), but what this read found is what it saw: a person's
			// later edit back to the value the earlier read found is no
			// edit seen.
			if w, ok := parseWindow(p.agreed[windowPrefix+k]); ok {
				v := read[k]
				w.Seen, w.SeenAt = &v, at.UnixMilli()
				p.agreed[windowPrefix+k] = w.String()
			}
		case !writes && moved:
			delete(p.agreed, windowPrefix+k)
		}
	}
}

// cdcUpdate is what a change event of an update says: when the edit was
// saved and the values of the fields it changed (nil: cleared).
type cdcUpdate struct {
	commit time.Time // commitTimestamp
	saved  time.Time // the edit's LastModifiedDate; commit when absent
	values billsync.SObject
}

// parseCDCUpdate reads a queued change's payload; nil unless it is a
// change event of an update naming its changed fields. Over CometD dates
// are strings; over the Pub/Sub API epoch milliseconds (the subscriber
// gives the rest the CometD shape).
func parseCDCUpdate(payload json.RawMessage) *cdcUpdate {
	if len(payload) == 0 {
		return nil
	}
	var body map[string]any
	d := json.NewDecoder(bytes.NewReader(payload))
	d.UseNumber()
	if d.Decode(&body) != nil {
		return nil
	}
	h, _ := body["ChangeEventHeader"].(map[string]any)
	if h == nil || h["changeType"] != "UPDATE" {
		return nil
	}
	ms, err := strconv.ParseInt(billsync.ValueString(h["commitTimestamp"]), 10, 64)
	if err != nil {
		return nil
	}
	u := &cdcUpdate{commit: time.UnixMilli(ms).UTC(), values: billsync.SObject{}}
	u.saved = u.commit
	if t := eventTime(body["LastModifiedDate"]); !t.IsZero() {
		u.saved = t
	}
	for _, list := range []string{"changedFields", "nulledFields"} {
		names, _ := h[list].([]any)
		for _, n := range names {
			name, _ := n.(string)
			if v, ok := body[name]; ok && name != "" && !strings.Contains(name, ".") {
				u.values[name] = v
			}
		}
	}
	if len(u.values) == 0 {
		return nil
	}
	return u
}

// eventTime reads a change event's datetime: a string, or epoch
// milliseconds.
func eventTime(v any) time.Time {
	if n, ok := v.(json.Number); ok {
		if ms, err := n.Int64(); err == nil {
			return time.UnixMilli(ms).UTC()
		}
		return time.Time{}
	}
	s, _ := v.(string)
	return timeOf(s)
}

// value is the canonical value the event gives field f, if it changed it.
func (u *cdcUpdate) value(f mapping.Field) (string, bool) {
	for k, v := range u.values {
		if !strings.EqualFold(k, f.Salesforce) {
			continue
		}
		if n, ok := v.(json.Number); ok && f.Kind == mapping.KindDate {
			v = eventTime(n).Format(time.DateOnly) // a date over the Pub/Sub API
		}
		c, _, err := f.Canonical(v)
		return c, err == nil
	}
	return "", false
}

// lostEdit is an edit billsync overwrote: the value the person saved,
// and the base to reconcile it against.
// window is the field's window with the edit marked reconciled, to be
// stored with the outcome.
type lostEdit struct{ value, base, window string }

// overwritten finds the fields whose edit, carried by the change event
// being applied, billsync overwrote; read are the record's values now.
func (e *Engine) overwritten(a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, read mapping.Values) (map[string]lostEdit, *cdcUpdate) {
	if !e.cfg.Unguarded || st == nil {
		return nil, nil
	}
	u := parseCDCUpdate(a.Change.Payload)
	if u == nil {
		return nil, nil
	}
	out := map[string]lostEdit{}
	for _, f := range om.Fields {
		k := f.Billing
		w, open := parseWindow(st.Agreed[windowPrefix+k])
		v, changed := u.value(f)
		if !open || !changed || !f.ToBill() {
			// A field billing owns takes billing's value whoever edits it.
			continue
		}
		agreed := st.Agreed[k]
		if read[k] != agreed || v == agreed || w.settled(u.saved, v) {
			// The record holds a newer value, the edit left the field at
			// the agreed value, or billsync's read saw it: nothing lost.
			continue
		}
		base := w.base(u.saved.UnixMilli())
		w.Done, w.DoneValue = u.saved.UnixMilli(), v
		out[k] = lostEdit{value: v, base: base, window: w.String()}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, u
}

// reconcileOverwritten reconciles a record whose edit billsync overwrote:
// the edit's values stand for Salesforce's side, each against the value
// billsync's read found before it wrote, and meet the policy; a value
// that wins is written back to Salesforce, where billsync's write
// replaced it.
func (e *Engine) reconcileOverwritten(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, rec billsync.SObject, read mapping.Values, ov map[string]lostEdit, u *cdcUpdate) {
	cur, ok := e.billingOf(ctx, a, om, st)
	if !ok {
		return
	}
	edited := maps.Clone(rec)
	base := *st
	base.Agreed = maps.Clone(st.Agreed)
	for k, o := range ov {
		f, _ := om.Field(k)
		setFold(edited, f.Salesforce, f.SalesforceValue(o.value))
		base.Agreed[k] = o.base
		base.Agreed[windowPrefix+k] = o.window
	}
	// The edit's own time is Salesforce's change time (latest-wins), not
	// that of billsync's write over it.
	edited["LastModifiedDate"] = u.saved.Format("2006-01-02T15:04:05.000-0700")
	p, err := e.decide(a, om, &base, cur, edited, "")
	if err != nil {
		a.Fail(err, st.BillingID, rec.ID())
		return
	}
	p.note = "a Salesforce edit saved while billsync was writing was overwritten by that write (nothing in an org without the trigger refuses it): "
	if p.held {
		e.holdOverwritten(ctx, a, om, st, p, cur, rec, ov)
		return
	}
	for k := range ov {
		if p.agreed[k] != read[k] {
			p.toSF[k] = p.agreed[k]
		} else {
			delete(p.toSF, k)
		}
	}
	e.settle(ctx, a, om, st, p, cur, rec)
}

// holdOverwritten holds a conflict between billing and an edit billsync
// overwrote (manual policy). billsync's own write is undone first: the
// person's values go back to Salesforce, as they would stand had the
// write been refused, and the agreed values go back to the base, so that
// either decision the operator makes settles the fields.
func (e *Engine) holdOverwritten(ctx context.Context, a *attempt.Attempt, om *mapping.Object, st *billsync.SyncState, p *plan, cur billsync.Entity, rec billsync.SObject, ov map[string]lostEdit) {
	up := billsync.SObject{"Id": rec.ID()}
	ns := *st
	ns.Agreed = maps.Clone(st.Agreed)
	for k, o := range ov {
		f, _ := om.Field(k)
		up[f.Salesforce] = f.SalesforceValue(o.value)
		ns.Agreed[k] = o.base
		ns.Agreed[windowPrefix+k] = o.window
	}
	if err := e.updateOne(ctx, om, up); err != nil {
		a.FailOp(err, "update", cur.ID(), rec.ID())
		return
	}
	ns.UpdatedAt = e.now()
	if err := e.cfg.State.PutSyncState(ctx, &ns); err != nil {
		a.Fail(err, cur.ID(), rec.ID())
		return
	}
	e.hold(ctx, a, om, p, cur.ID(), rec.ID())
}

// setFold sets field k of r, replacing a key that differs only in case.
func setFold(r billsync.SObject, k string, v any) {
	for old := range r {
		if strings.EqualFold(old, k) {
			delete(r, old)
		}
	}
	r[k] = v
}
