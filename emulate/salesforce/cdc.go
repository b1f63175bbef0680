package salesforce

import (
	"encoding/json"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/billsync/billsync/emulate/salesforce/streaming"
	"github.com/google/uuid"
)

// Change Data Capture. Every write to an object selected for CDC publishes
// a change event on /data/<Entity>ChangeEvent when its transaction
// commits, whoever wrote it: unlike BillingSyncTrigger's platform event,
// CDC has no rule that leaves the integration user's writes out, so a
// subscriber recognises its own writes by the header's commitUser. The
// synced (triggered) objects are selected by default, as an admin
// setting up CDC for billsync would; SelectCDC deselects one.
//
// Over CometD a change event's header names changed fields, and its body
// holds only the changed fields (explicit nulls included); CREATE and
// UNDELETE carry every field set, DELETE none.

// cdcState is the org's CDC setup and the test hooks that force gap
// events; guarded by Emulator.mu.
type cdcState struct {
	deselected   map[string]bool // object name → not selected
	gap          map[string]bool // object name → writes publish GAP_ events
	commitNumber int64
	// noTrigger: BillingSyncTrigger is not deployed (Options.NoTrigger).
	noTrigger bool
}

// cdcPending is a change event waiting for its transaction's commit.
type cdcPending struct {
	channel string
	payload map[string]any
}

// cdcEntity is the change event name of an object: AccountChangeEvent,
// and for a custom object Employee__ChangeEvent for Employee__c.
func cdcEntity(object string) string {
	if base, ok := strings.CutSuffix(object, "__c"); ok {
		return base + "__ChangeEvent"
	}
	return object + "ChangeEvent"
}

// cdcChannel is the single-entity CDC channel of an object.
func cdcChannel(object string) string { return "/data/" + cdcEntity(object) }

// cdcSelectedLocked reports whether o publishes change events.
func (e *Emulator) cdcSelectedLocked(o *objectDef) bool {
	return o.Triggered && !e.cdc.deselected[o.Name]
}

// declareCDC makes the CDC channels of the synced objects subscribable
// before anything was written to them.
func (e *Emulator) declareCDC(b *streaming.Bus) {
	for _, o := range e.schema.objects {
		if o.Triggered {
			b.Declare(cdcChannel(o.Name))
		}
	}
}

// SetTrigger deploys or removes BillingSyncTrigger. Without it, as in an
// org billsync hears through Change Data Capture only, no write publishes
// the trigger's platform event and nothing keeps or checks the revision
// billsync's updates carry: a write decided before a person's edit is not
// refused.
func (e *Emulator) SetTrigger(deployed bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cdc.noTrigger = !deployed
}

// SelectCDC selects or deselects an object for Change Data Capture, as an
// admin does on Setup's Change Data Capture page.
func (e *Emulator) SelectCDC(object string, selected bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cdc.deselected == nil {
		e.cdc.deselected = map[string]bool{}
	}
	e.cdc.deselected[object] = !selected
}

// CDCSelectedEntities are the change event names selected on the
// standard ChangeEvents channel (PlatformEventChannelMember.SelectedEntity),
// sorted.
func (e *Emulator) CDCSelectedEntities() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, o := range e.schema.objects {
		if e.cdcSelectedLocked(o) {
			out = append(out, cdcEntity(o.Name))
		}
	}
	sort.Strings(out)
	return out
}

// ForceCDCGap is a test hook: while on, writes to object publish gap
// events (GAP_CREATE, GAP_UPDATE, …: record ids, no field values) instead
// of ordinary ones, as Salesforce does for an event over its size limit or
// a change made directly in the database.
func (e *Emulator) ForceCDCGap(object string, on bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cdc.gap == nil {
		e.cdc.gap = map[string]bool{}
	}
	e.cdc.gap[object] = on
}

// PublishCDCOverflow is a test hook: it publishes the GAP_OVERFLOW event
// a transaction of more than 100,000 changes ends with, for object, as
// the given user. It names the entity and no records.
func (e *Emulator) PublishCDCOverflow(object, userID string) streaming.Event {
	e.mu.Lock()
	e.cdc.commitNumber++
	h := e.cdcHeaderLocked(object, "GAP_OVERFLOW", uuid.NewString(), 1, userID)
	h["recordIds"] = []any{}
	e.mu.Unlock()
	return e.bus.Publish(cdcChannel(object), map[string]any{"ChangeEventHeader": h})
}

// cdcHeaderLocked builds a ChangeEventHeader. changeOrigin is left empty:
// Salesforce fills it only for API calls that name a client in the
// Sforce-Call-Options header, which the emulator does not read.
func (e *Emulator) cdcHeaderLocked(object, changeType, txKey string, seq int, userID string) map[string]any {
	now := e.clock()
	return map[string]any{
		"entityName":      object,
		"changeType":      changeType,
		"changeOrigin":    "",
		"transactionKey":  txKey,
		"sequenceNumber":  json.Number(strconv.Itoa(seq)),
		"commitTimestamp": json.Number(strconv.FormatInt(now.UnixMilli(), 10)),
		"commitNumber":    json.Number(strconv.FormatInt(e.cdc.commitNumber, 10)),
		"commitUser":      userID,
		"changedFields":   []any{},
	}
}

// cdcFieldsSkipped are left out of change event bodies.
var cdcFieldsSkipped = map[string]bool{"Id": true, "IsDeleted": true, "SystemModstamp": true}

// cdcEvent records the change event of one write to o; it is published
// when the transaction commits. changeType is the trigger's name for the
// operation (INSERT, UPDATE, DELETE, UNDELETE).
func (t *tx) cdcEvent(o *objectDef, id, changeType string) {
	e := t.e
	if !e.cdcSelectedLocked(o) {
		return
	}
	if changeType == "INSERT" {
		changeType = "CREATE"
	}
	if t.txKey == "" {
		t.txKey = uuid.NewString()
		e.cdc.commitNumber++
	}
	gap := e.cdc.gap[o.Name]
	ct := changeType
	if gap {
		ct = "GAP_" + changeType
	}
	h := e.cdcHeaderLocked(o.Name, ct, t.txKey, len(t.cdc)+1, t.user.ID)
	h["recordIds"] = []any{id}
	if gap {
		// A gap event's sequenceNumber is always 1.
		h["sequenceNumber"] = json.Number("1")
	}
	payload := map[string]any{"ChangeEventHeader": h}
	cur := e.records[id]
	switch {
	case gap || changeType == "DELETE" || cur == nil:
	case changeType == "UPDATE":
		var changed []any
		old := t.undo[id]
		for k, v := range cur.Fields {
			if cdcFieldsSkipped[k] || (old != nil && reflect.DeepEqual(old.Fields[k], v)) {
				continue
			}
			payload[k] = v
			changed = append(changed, k)
		}
		if v, ok := cur.Fields["LastModifiedDate"]; ok && payload["LastModifiedDate"] == nil {
			// Every update stamps LastModifiedDate, so Salesforce names it
			// among the changed fields even when the stamp reads the same
			// (two writes within one clock tick).
			payload["LastModifiedDate"] = v
			changed = append(changed, "LastModifiedDate")
		}
		sort.Slice(changed, func(i, j int) bool { return changed[i].(string) < changed[j].(string) })
		if changed != nil {
			h["changedFields"] = changed
		}
	default: // CREATE, UNDELETE: every field that holds a value
		for k, v := range cur.Fields {
			if !cdcFieldsSkipped[k] && v != nil {
				payload[k] = v
			}
		}
	}
	t.cdc = append(t.cdc, cdcPending{channel: cdcChannel(o.Name), payload: payload})
}

// publishCDC publishes the committed transaction's change events.
func (t *tx) publishCDC() {
	for _, p := range t.cdc {
		t.e.bus.Publish(p.channel, p.payload)
	}
	t.cdc = nil
}
