package runner

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// CDC change types carried in ChangeEventHeader.changeType. Gap events
// carry record ids but no field values; an overflow event names only the
// object, for a transaction past Salesforce's per-transaction threshold.
const (
	cdcGapPrefix   = "GAP_"
	cdcGapOverflow = "GAP_OVERFLOW"
)

// CDCChannel is the Change Data Capture channel of a Salesforce object:
// /data/AccountChangeEvent for a standard object, and for a custom one
// the name without its "c" suffix, /data/Employee__ChangeEvent for
// Employee__c.
func CDCChannel(sobject string) string {
	return "/data/" + CDCEntity(sobject)
}

// CDCEntity is the change event's name for a Salesforce object, as
// PlatformEventChannelMember.SelectedEntity names it.
func CDCEntity(sobject string) string {
	if base, ok := strings.CutSuffix(sobject, "__c"); ok {
		return base + "__ChangeEvent"
	}
	return sobject + "ChangeEvent"
}

// CDCChannels are the channels of every object m syncs, in mapping order.
func CDCChannels(m *mapping.Mapping) []string {
	out := make([]string, 0, len(m.Objects))
	for _, o := range m.Objects {
		out = append(out, CDCChannel(o.SObject))
	}
	return out
}

// CDCConfig switches a Listener from the trigger's platform event to
// Change Data Capture.
type CDCConfig struct {
	// IntegrationUserID is billsync's own Salesforce user: a change it
	// committed is its own write and is not synced back.
	IntegrationUserID string
	// OnOverflow is called for an overflow event: changes to object were
	// lost beyond the event's threshold, so the object is resynced.
	OnOverflow func(ctx context.Context, object billsync.ObjectType)
}

// cdcHeader is the part of ChangeEventHeader billsync reads.
type cdcHeader struct {
	EntityName     string   `json:"entityName"`
	RecordIDs      []string `json:"recordIds"`
	ChangeType     string   `json:"changeType"`
	ChangeOrigin   string   `json:"changeOrigin"`
	TransactionKey string   `json:"transactionKey"`
	SequenceNumber int64    `json:"sequenceNumber"`
	CommitUser     string   `json:"commitUser"`
	ChangedFields  []string `json:"changedFields"`
}

func decodeCDCHeader(payload map[string]any) (cdcHeader, bool) {
	raw, ok := payload["ChangeEventHeader"].(map[string]any)
	if !ok {
		return cdcHeader{}, false
	}
	var h cdcHeader
	h.EntityName, _ = raw["entityName"].(string)
	h.ChangeType, _ = raw["changeType"].(string)
	h.ChangeOrigin, _ = raw["changeOrigin"].(string)
	h.TransactionKey, _ = raw["transactionKey"].(string)
	h.CommitUser, _ = raw["commitUser"].(string)
	if n, ok := raw["sequenceNumber"].(json.Number); ok {
		h.SequenceNumber, _ = n.Int64()
	}
	h.RecordIDs = stringList(raw["recordIds"])
	h.ChangedFields = stringList(raw["changedFields"])
	return h, h.EntityName != "" && h.ChangeType != ""
}

func stringList(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, x := range list {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// cdcOp maps a change type, with or without its GAP_ prefix, to a queue op.
func cdcOp(changeType string) billsync.Op {
	switch strings.TrimPrefix(changeType, cdcGapPrefix) {
	case "CREATE":
		return billsync.OpCreated
	case "DELETE":
		return billsync.OpDeleted
	case "UNDELETE":
		return billsync.OpUndeleted
	}
	return billsync.OpUpdated
}

// cdcChanges turns a change event into queued changes, one per record id:
// the engine reads each record itself, so a gap event (no field values)
// becomes the same targeted re-read as an ordinary event. It returns nil
// for an event that needs no work: billsync's own write, an unmapped
// object, or an overflow (handled by resyncing the object).
func (l *Listener) cdcChanges(ctx context.Context, ev billsync.StreamEvent) []*billsync.Change {
	h, headerOK := decodeCDCHeader(ev.Payload)
	om, verdict := cdcClassify(l.cfg.Mapping, l.cfg.CDC.IntegrationUserID, h, headerOK)
	switch verdict {
	case cdcNoHeader:
		l.cfg.Logger.Warn("ignoring a change event without a ChangeEventHeader", "channel", ev.Channel, "replayId", ev.ReplayID.String())
		return nil
	case cdcUnmapped:
		l.cfg.Logger.Warn("ignoring a change event for an unmapped object", "object", h.EntityName, "replayId", ev.ReplayID.String())
		return nil
	case cdcOverflow:
		l.cfg.Logger.Warn("change events overflowed; resyncing the object", "object", h.EntityName, "replayId", ev.ReplayID.String())
		l.logCDC(ctx, om.Type, "", billsync.OutcomeFailed, billsync.ReasonReplayGap, "changes beyond the change event threshold were not sent; resyncing "+string(om.Type))
		if l.cfg.CDC.OnOverflow != nil {
			l.cfg.CDC.OnOverflow(ctx, om.Type)
		}
		return nil
	case cdcOwnWrite:
		for _, rec := range h.RecordIDs {
			l.logCDC(ctx, om.Type, rec, billsync.OutcomeSkipped, billsync.ReasonOwnWrite, "change committed by billsync's integration user")
		}
		return nil
	case cdcUnsynced:
		for _, rec := range h.RecordIDs {
			l.logCDC(ctx, om.Type, rec, billsync.OutcomeSkipped, billsync.ReasonNoChange, "changed fields not synced: "+strings.Join(h.ChangedFields, ", "))
		}
		return nil
	}
	if strings.HasPrefix(h.ChangeType, cdcGapPrefix) {
		l.cfg.Logger.Info("gap event; re-reading the records", "object", h.EntityName, "changeType", h.ChangeType, "records", h.RecordIDs)
	}
	payload, _ := json.Marshal(ev.Payload)
	occurred := ev.CreatedDate
	if occurred.IsZero() {
		occurred = l.cfg.Clock()
	}
	var out []*billsync.Change
	for _, rec := range h.RecordIDs {
		if strings.HasSuffix(rec, "*") {
			// A wildcard (a field type conversion touched every record):
			// only a resync of the object catches that up.
			if l.cfg.CDC.OnOverflow != nil {
				l.cfg.CDC.OnOverflow(ctx, om.Type)
			}
			continue
		}
		part := billsync.RecordPartition(rec)
		if st, err := l.cfg.State.SyncStateBySalesforceID(ctx, rec); err == nil && st.AccountID != "" {
			part = billsync.AccountPartition(st.AccountID)
		}
		out = append(out, &billsync.Change{
			Partition: part, Source: billsync.SideSalesforce, Object: om.Type, Op: cdcOp(h.ChangeType), RecordID: rec,
			EventID: "event:" + cdcEventKey(ev, h, rec), Payload: payload, OccurredAt: occurred.UTC(), EnqueuedAt: l.cfg.Clock().UTC(),
		})
	}
	return out
}

// cdcVerdict is what a change event asks of the listener.
type cdcVerdict int

const (
	cdcQueue    cdcVerdict = iota // a change per record id, each read by the engine
	cdcNoHeader                   // not a change event: ignored
	cdcUnmapped                   // an object billsync does not sync: ignored
	cdcOverflow                   // changes were lost: resync the object
	cdcOwnWrite                   // committed by billsync's integration user
	cdcUnsynced                   // an update of fields billsync does not sync
)

// cdcClassify decides what a change event asks for. An update whose
// header names what changed, none of it synced, needs no read at all.
func cdcClassify(m *mapping.Mapping, integrationUserID string, h cdcHeader, headerOK bool) (*mapping.Object, cdcVerdict) {
	if !headerOK {
		return nil, cdcNoHeader
	}
	om, ok := m.BySObject(h.EntityName)
	switch {
	case !ok:
		return nil, cdcUnmapped
	case h.ChangeType == cdcGapOverflow:
		return om, cdcOverflow
	case integrationUserID != "" && sameUserID(h.CommitUser, integrationUserID):
		return om, cdcOwnWrite
	case h.ChangeType == "UPDATE" && len(h.ChangedFields) > 0 && !touchesMapping(om, h.ChangedFields):
		return om, cdcUnsynced
	}
	return om, cdcQueue
}

// CDCEventIDs are the event ids of the changes the listener queues for a
// change event under mapping m, one per record id (the sync log names
// each change's outcome by it), and none for an event that needs no
// change: billsync's own write, an unmapped object, an update of unsynced
// fields only, an overflow (a resync instead) or a wildcard record id.
// The chaos test checks every change event against the log with it.
func CDCEventIDs(m *mapping.Mapping, integrationUserID string, ev billsync.StreamEvent) []string {
	h, ok := decodeCDCHeader(ev.Payload)
	if _, v := cdcClassify(m, integrationUserID, h, ok); v != cdcQueue {
		return nil
	}
	var out []string
	for _, rec := range h.RecordIDs {
		if !strings.HasSuffix(rec, "*") {
			out = append(out, "event:"+cdcEventKey(ev, h, rec))
		}
	}
	return out
}

// touchesMapping reports whether any of an update's changed fields is one
// billsync reads: a mapped field, the external id, the parent lookup or
// one of billsync's own fields. A compound field's part ("BillingAddress.City")
// counts as touching, since the mapping names its flat fields.
func touchesMapping(om *mapping.Object, changed []string) bool {
	read := map[string]bool{strings.ToLower(om.ExternalID): true,
		strings.ToLower(mapping.FieldLastSystem): true, strings.ToLower(mapping.FieldDeleted): true}
	if om.Parent != nil {
		read[strings.ToLower(om.Parent.LookupField)] = true
	}
	for _, f := range om.Fields {
		read[strings.ToLower(f.Salesforce)] = true
	}
	for _, f := range changed {
		if strings.Contains(f, ".") || read[strings.ToLower(f)] {
			return true
		}
	}
	return false
}

// cdcEventKey identifies one record's change in one event: a transaction
// and its sequence number name an event uniquely, and a merged event
// names several records.
func cdcEventKey(ev billsync.StreamEvent, h cdcHeader, rec string) string {
	if h.TransactionKey == "" {
		return ev.Channel + ":" + ev.ReplayID.String() + ":" + rec
	}
	return "cdc:" + h.TransactionKey + ":" + strconv.FormatInt(h.SequenceNumber, 10) + ":" + h.EntityName + ":" + rec
}

// sameUserID compares Salesforce ids in their 15- or 18-character forms.
func sameUserID(a, b string) bool {
	if len(a) >= 15 && len(b) >= 15 {
		return a[:15] == b[:15]
	}
	return a == b
}

func (l *Listener) logCDC(ctx context.Context, obj billsync.ObjectType, rec string, outcome billsync.Outcome, reason, msg string) {
	if l.cfg.Log == nil {
		return
	}
	_ = l.cfg.Log.AppendLog(ctx, billsync.LogEntry{
		Time: l.cfg.Clock().UTC(), Direction: billsync.ToBilling, Object: obj, SalesforceID: rec,
		Operation: "listen", Outcome: outcome, Reason: reason, Message: msg,
	})
}
