package engine

import (
	"context"
	"encoding/json"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

var fixedNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// bundle is an engine wired to in-memory fakes: one store (settings,
// state, conflicts, queue, log), an org and a billing platform.
type bundle struct {
	store   *mock.Store
	org     *mock.Org
	billing *mock.Billing
	engine  *Engine
	wakes   chan struct{} // one per OnEnqueue

	revMu sync.Mutex
	revs  map[string]int64 // Salesforce id → revision, as the trigger keeps it (revisionRule)
}

func setup(t *testing.T) *bundle {
	t.Helper()
	b := &bundle{store: mock.NewStore(), org: mock.NewOrg(), billing: mock.NewBilling(), wakes: make(chan struct{}, 100), revs: map[string]int64{}}
	b.store.Now = func() time.Time { return fixedNow }
	b.org.FailRecord = b.revisionRule
	e, err := New(Config{Settings: b.store, State: b.store, Conflicts: b.store, Queue: b.store, Held: b.store, CRM: b.org, Billing: b.billing,
		OnEnqueue: func() { b.wakes <- struct{}{} }, Logger: slog.New(slog.DiscardHandler),
		Clock: func() time.Time { return fixedNow }, MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Second }})
	if err != nil {
		t.Fatal(err)
	}
	b.engine = e
	return b
}

// revisionRule is BillingSyncTrigger's revision rule for the fake org
// (D4): an update carrying a revision other than the record's is refused
// with the trigger's text. The revisions are kept here rather than in the
// org because FailRecord runs under the org's lock; userEdit moves them on
// as a sales user's edit does.
func (b *bundle) revisionRule(_ string, r billsync.SObject) *billsync.FieldError {
	if _, ok := r[mapping.FieldRevision]; !ok || r.ID() == "" {
		return nil
	}
	b.revMu.Lock()
	cur := b.revs[r.ID()]
	b.revMu.Unlock()
	if mapping.Revision(r) != strconv.FormatInt(cur, 10) {
		return &billsync.FieldError{StatusCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION", Fields: []string{},
			Message: mapping.StaleRevision + ": the record changed after billsync read it; billsync reads it again and reconciles"}
	}
	return nil
}

// userEdit changes a field of a Salesforce record as a sales user does:
// the trigger stamps it sfdc and moves its revision on.
func (b *bundle) userEdit(id, field string, v any) {
	b.revMu.Lock()
	b.revs[id]++
	rev := b.revs[id]
	b.revMu.Unlock()
	b.org.Set(id, field, v)
	b.org.Set(id, mapping.FieldRevision, json.Number(strconv.FormatInt(rev, 10)))
	b.org.Set(id, mapping.FieldLastSystem, mapping.LastSystemSFDC)
}

// set stores a setting, as an operator would.
func (b *bundle) set(t *testing.T, key, value string) {
	t.Helper()
	if _, err := billsync.ValidateSetting(key, json.RawMessage(value)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.store.SetSetting(context.Background(), key, json.RawMessage(value), "test"); err != nil {
		t.Fatal(err)
	}
	b.engine.InvalidateSettings()
}

// putBilling stores a billing record as billing holds it.
func (b *bundle) putBilling(t *testing.T, obj billsync.ObjectType, js string) billsync.Entity {
	t.Helper()
	e := ent(t, js)
	b.billing.Put(obj, e)
	return e
}

// sf returns the Salesforce record of object carrying billingID.
func (b *bundle) sf(object, billingID string) billsync.SObject {
	return b.org.Find(object, "BillingId__c", billingID)
}

// state returns a record's sync state, nil when there is none.
func (b *bundle) state(t *testing.T, obj billsync.ObjectType, billingID string) *billsync.SyncState {
	t.Helper()
	st, err := b.store.SyncState(context.Background(), obj, billingID)
	if billsync.ErrorCode(err) == billsync.ENOTFOUND {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func ent(t *testing.T, js string) billsync.Entity {
	t.Helper()
	e, err := billsync.DecodeEntity([]byte(js))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func billingChange(t *testing.T, obj billsync.ObjectType, op billsync.Op, js string) billsync.Change {
	t.Helper()
	e := ent(t, js)
	part, err := billsync.PartitionOf(obj, e)
	if err != nil {
		t.Fatal(err)
	}
	return billsync.Change{ID: 1, Partition: part, Source: billsync.SideBilling, Object: obj, Op: op, RecordID: e.ID(),
		EventID: "webhook:x", Payload: json.RawMessage(js), Attempt: 1, EnqueuedAt: fixedNow}
}

// sfChange is a Salesforce change queued in its account's partition, as
// the listener queues an event of a record it knows (acc_1's for most
// tests; the engine reads a partition only to move a change out of a
// record's own partition, partition_test.go).
func sfChange(obj billsync.ObjectType, id string) billsync.Change {
	return billsync.Change{ID: 2, Partition: billsync.AccountPartition("acc_1"), Source: billsync.SideSalesforce, Object: obj,
		Op: billsync.OpUpdated, RecordID: id, EventID: "event:y", Attempt: 1, EnqueuedAt: fixedNow}
}

func sfOp(obj billsync.ObjectType, op billsync.Op, id string) billsync.Change {
	c := sfChange(obj, id)
	c.Op = op
	return c
}

// only returns the attempt's last log entry: the change's own outcome.
func only(t *testing.T, r attempt.Result) billsync.LogEntry {
	t.Helper()
	if len(r.Entries) == 0 {
		t.Fatal("no log entry")
	}
	return r.Entries[len(r.Entries)-1]
}

func jsonString(t *testing.T, e billsync.Entity) string {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

const acc1 = `{"id":"acc_1","code":"ACME","name":"Acme","currency":"USD","version":1}`
