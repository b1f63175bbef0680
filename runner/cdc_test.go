package runner

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

const integrationUser = "005000000000001AAA"

// cdcEvent is a change event as salesforce/cometd decodes it: numbers
// are json.Number, lists []any.
func cdcEvent(replay int64, object, changeType, user, txKey string, records ...string) billsync.StreamEvent {
	ids := make([]any, 0, len(records))
	for _, r := range records {
		ids = append(ids, r)
	}
	return billsync.StreamEvent{Channel: CDCChannel(object), ReplayID: billsync.ReplayInt(replay), Payload: map[string]any{
		"ChangeEventHeader": map[string]any{"entityName": object, "recordIds": ids, "changeType": changeType,
			"changeOrigin": "", "transactionKey": txKey, "sequenceNumber": json.Number("1"),
			"commitTimestamp": json.Number("1796119200000"), "commitNumber": json.Number("11657372702432"),
			"commitUser": user, "changedFields": []any{"Name", "LastModifiedDate"}},
		"Name": "Edited",
	}}
}

// unmappedOnly makes ev an update of fields billsync does not sync.
func unmappedOnly(ev billsync.StreamEvent) billsync.StreamEvent {
	ev.Payload["ChangeEventHeader"].(map[string]any)["changedFields"] = []any{"Description", "LastModifiedDate"}
	delete(ev.Payload, "Name")
	return ev
}

func TestCDCChannelNames(t *testing.T) {
	for in, want := range map[string]string{"BillingAccount__c": "/data/BillingAccount__ChangeEvent", "Account": "/data/AccountChangeEvent"} {
		if got := CDCChannel(in); got != want {
			t.Errorf("CDCChannel(%s) = %s, want %s", in, got, want)
		}
	}
	chs := CDCChannels(mapping.Default())
	if len(chs) != len(mapping.Default().Objects) || chs[0] != "/data/BillingAccount__ChangeEvent" {
		t.Errorf("channels of the default mapping %v", chs)
	}
}

// In CDC mode the listener subscribes to each synced object's channel
// with that channel's own checkpoint; a merged event queues one change
// per record; a gap event queues a re-read like an ordinary one; the
// integration user's commits are logged own_write and queue nothing; an
// overflow resyncs the object it names.
func TestListenerCDC(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mock.NewStore()
	acct := CDCChannel("BillingAccount__c")
	must(t, store.SetReplayID(ctx, acct, billsync.ReplayInt(10)))
	var mu sync.Mutex
	subscribed := map[string]int64{}
	var overflowed []billsync.ObjectType
	src := &mock.ChangeSource{SubscribeFn: func(ctx context.Context, channel string, from billsync.ReplayID, handle func(context.Context, billsync.StreamEvent) error) error {
		n, _ := from.Int()
		mu.Lock()
		subscribed[channel] = n
		mu.Unlock()
		if channel == acct {
			for _, ev := range []billsync.StreamEvent{
				cdcEvent(11, "BillingAccount__c", "UPDATE", "005000000000002AAA", "tx1", "a01000000000001AAA", "a01000000000002AAA"),
				cdcEvent(12, "BillingAccount__c", "UPDATE", integrationUser[:15], "tx2", "a01000000000003AAA"),
				cdcEvent(13, "BillingAccount__c", "GAP_UPDATE", "005000000000002AAA", "tx3", "a01000000000004AAA"),
				cdcEvent(14, "BillingAccount__c", "GAP_OVERFLOW", "005000000000002AAA", "tx4"),
				cdcEvent(15, "BillingAccount__c", "DELETE", "005000000000002AAA", "tx5", "a01000000000005AAA"),
				unmappedOnly(cdcEvent(16, "BillingAccount__c", "UPDATE", "005000000000002AAA", "tx6", "a01000000000006AAA")),
			} {
				if err := handle(ctx, ev); err != nil {
					return err
				}
			}
		}
		<-ctx.Done()
		return ctx.Err()
	}}
	l := NewListener(ListenerConfig{Source: src, Queue: store, State: store, Log: store, Clock: func() time.Time { return listenNow },
		CDC: &CDCConfig{IntegrationUserID: integrationUser, OnOverflow: func(_ context.Context, o billsync.ObjectType) {
			mu.Lock()
			overflowed = append(overflowed, o)
			mu.Unlock()
		}}})
	runListener(t, l)
	eventually(t, "the account channel's checkpoint at 16", func() bool {
		id, ok, _ := store.ReplayID(ctx, acct)
		n, _ := id.Int()
		return ok && n == 16
	})
	mu.Lock()
	if len(subscribed) != len(mapping.Default().Objects) || subscribed[acct] != 10 {
		t.Errorf("subscriptions %v, want every synced object's channel, the account's from its stored 10", subscribed)
	}
	if len(overflowed) != 1 || overflowed[0] != billsync.ObjectAccount {
		t.Errorf("overflow resyncs %v, want account", overflowed)
	}
	mu.Unlock()
	q := store.Queued()
	want := []struct {
		rec string
		op  billsync.Op
	}{{"a01000000000001AAA", billsync.OpUpdated}, {"a01000000000002AAA", billsync.OpUpdated},
		{"a01000000000004AAA", billsync.OpUpdated}, {"a01000000000005AAA", billsync.OpDeleted}}
	if len(q) != len(want) {
		t.Fatalf("%d changes queued, want %d: %+v", len(q), len(want), q)
	}
	for i, w := range want {
		if q[i].RecordID != w.rec || q[i].Op != w.op || q[i].Object != billsync.ObjectAccount || q[i].Source != billsync.SideSalesforce {
			t.Errorf("change %d = %+v, want %s %s", i, q[i], w.op, w.rec)
		}
	}
	if q[0].EventID == q[1].EventID {
		t.Errorf("a merged event's records share the event id %s", q[0].EventID)
	}
	logs, _, err := store.Logs(ctx, billsync.LogFilter{Reason: billsync.ReasonOwnWrite})
	if err != nil || len(logs) != 1 || logs[0].SalesforceID != "a01000000000003AAA" || logs[0].Outcome != billsync.OutcomeSkipped {
		t.Errorf("own_write log %+v %v, want one skipped entry for a01000000000003AAA", logs, err)
	}
	logs, _, err = store.Logs(ctx, billsync.LogFilter{Reason: billsync.ReasonNoChange})
	if err != nil || len(logs) != 1 || logs[0].SalesforceID != "a01000000000006AAA" {
		t.Errorf("no_change log %+v %v, want one entry for the update of unsynced fields", logs, err)
	}
}

// One CDC channel down makes the whole subscription down, even while the
// others are up.
func TestListenerCDCOneChannelDown(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	down := CDCChannel("BillingBalance__c")
	src := &mock.ChangeSource{SubscribeFn: func(ctx context.Context, channel string, _ billsync.ReplayID, _ func(context.Context, billsync.StreamEvent) error) error {
		if channel == down {
			return errors.New("403::Unknown client")
		}
		<-ctx.Done()
		return ctx.Err()
	}}
	l := NewListener(ListenerConfig{Source: src, Queue: store, State: store, Log: store, RetryWait: time.Minute,
		Clock: func() time.Time { return listenNow }, CDC: &CDCConfig{IntegrationUserID: integrationUser}})
	runListener(t, l)
	eventually(t, "the subscription reported down", func() bool {
		err := l.Err()
		return err != nil && strings.Contains(err.Error(), "Unknown client")
	})
	if st := l.Status(); st.Connected {
		t.Errorf("status %+v: connected with a channel down", st)
	}
}

// CDCEventIDs names the changes the listener queues for an event: one per
// record for another user's edit of a synced field, none for billsync's
// own write, an update of unsynced fields, an unmapped object or an
// overflow.
func TestCDCEventIDs(t *testing.T) {
	m := mapping.Default()
	sales := "005000000000002AAA"
	got := CDCEventIDs(m, integrationUser, cdcEvent(7, "BillingAccount__c", "UPDATE", sales, "tx9", "a00000000000001AAA", "a00000000000002AAA"))
	want := []string{"event:cdc:tx9:1:BillingAccount__c:a00000000000001AAA", "event:cdc:tx9:1:BillingAccount__c:a00000000000002AAA"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("ids %v, want %v", got, want)
	}
	for name, ev := range map[string]billsync.StreamEvent{
		"own write":       cdcEvent(8, "BillingAccount__c", "UPDATE", integrationUser, "tx1", "a00000000000001AAA"),
		"unsynced fields": unmappedOnly(cdcEvent(9, "BillingAccount__c", "UPDATE", sales, "tx2", "a00000000000001AAA")),
		"unmapped object": cdcEvent(10, "Contact", "UPDATE", sales, "tx3", "003000000000001AAA"),
		"overflow":        cdcEvent(11, "BillingAccount__c", "GAP_OVERFLOW", sales, "tx4"),
		"wildcard":        cdcEvent(12, "BillingAccount__c", "GAP_UPDATE", sales, "tx5", "a00*"),
	} {
		if got := CDCEventIDs(m, integrationUser, ev); len(got) != 0 {
			t.Errorf("%s: ids %v, want none", name, got)
		}
	}
}
