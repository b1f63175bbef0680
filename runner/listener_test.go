package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

var listenNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func event(replay int64, object, record, changeType string, created time.Time) billsync.StreamEvent {
	return billsync.StreamEvent{Channel: ChannelBillingObjectChange, ReplayID: billsync.ReplayInt(replay), EventUUID: fmt.Sprintf("uuid-%d", replay), CreatedDate: created,
		Payload: map[string]any{"ObjectType__c": object, "RecordId__c": record, "ChangeType__c": changeType}}
}

// replayAll is billsync.ReplayAll as an integer, as source records it.
const replayAll = -2

// checkpoint is the stored replay id as an integer (-99 when none).
func checkpoint(ctx context.Context, q billsync.Queue) int64 {
	id, ok, err := q.ReplayID(ctx, ChannelBillingObjectChange)
	if err != nil || !ok {
		return -99
	}
	n, _ := id.Int()
	return n
}

// source is a ChangeSource that delivers scripted events on each
// subscription and then holds it until its context ends (or fails it, as
// the script says). It records what each subscription asked for.
type source struct {
	mu     sync.Mutex
	from   []int64 // each subscription's position as an integer (CometD's)
	script []func(ctx context.Context, handle func(context.Context, billsync.StreamEvent) error) error
}

func (s *source) mock() *mock.ChangeSource {
	return &mock.ChangeSource{SubscribeFn: func(ctx context.Context, channel string, from billsync.ReplayID, handle func(context.Context, billsync.StreamEvent) error) error {
		s.mu.Lock()
		n := len(s.from)
		n64, _ := from.Int()
		s.from = append(s.from, n64)
		var step func(context.Context, func(context.Context, billsync.StreamEvent) error) error
		if n < len(s.script) {
			step = s.script[n]
		}
		s.mu.Unlock()
		if step != nil {
			if err := step(ctx, handle); err != nil {
				return err
			}
		}
		<-ctx.Done()
		return ctx.Err()
	}}
}

func (s *source) subscriptions() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.from...)
}

func deliver(evs ...billsync.StreamEvent) func(context.Context, func(context.Context, billsync.StreamEvent) error) error {
	return func(ctx context.Context, handle func(context.Context, billsync.StreamEvent) error) error {
		for _, ev := range evs {
			if err := handle(ctx, ev); err != nil {
				return err
			}
		}
		return nil
	}
}

func fail(err error) func(context.Context, func(context.Context, billsync.StreamEvent) error) error {
	return func(context.Context, func(context.Context, billsync.StreamEvent) error) error { return err }
}

func runListener(t *testing.T, l *Listener) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- l.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(waitFor):
				err = errors.New("Run did not return after its context ended")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// C1, C5, B2: events become changes in the record's account partition
// (or a partition of their own for a record billsync does not know),
// stored with their replay checkpoint; an event for an unmapped object
// only moves the checkpoint.
func TestListenerQueuesEventsWithCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mock.NewStore()
	must(t, store.SetReplayID(ctx, ChannelBillingObjectChange, billsync.ReplayInt(41)))
	must(t, store.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectBalance, BillingID: "bal_1", SalesforceID: "a02000000000001AAA", AccountID: "acc_1"}))
	unnamed := event(44, "BillingAccount__c", "a01000000000009AAA", "UPDATE", time.Time{})
	unnamed.EventUUID = ""
	src := &source{script: []func(context.Context, func(context.Context, billsync.StreamEvent) error) error{deliver(
		event(42, "BillingBalance__c", "a02000000000001AAA", "UPDATE", listenNow.Add(-3*time.Second)),
		event(43, "Contact", "003000000000001AAA", "UPDATE", listenNow),
		unnamed,
		event(45, "BillingAccount__c", "a01000000000010AAA", "DELETE", listenNow.Add(-time.Second)),
	)}}
	wakes := make(chan struct{}, 10)
	l := NewListener(ListenerConfig{Source: src.mock(), Queue: store, State: store, Clock: func() time.Time { return listenNow },
		OnEnqueue: func() { wakes <- struct{}{} }})
	if err := l.Err(); err == nil {
		t.Fatal("Err before Run reports a running subscription")
	}
	runListener(t, l)
	// The wake-up follows the stored change: the third one means the last
	// event was handled.
	eventually(t, "three wake-ups", func() bool { return len(wakes) == 3 })
	if id := checkpoint(ctx, store); id != 45 {
		t.Fatalf("checkpoint %d, want 45", id)
	}
	if got := src.subscriptions(); len(got) != 1 || got[0] != 41 {
		t.Fatalf("subscribed from %v, want the stored 41", got)
	}
	q := store.Queued()
	if len(q) != 3 {
		t.Fatalf("%d changes queued: %+v", len(q), q)
	}
	want := []struct{ part, eventID string }{
		{"account:acc_1", "event:uuid-42"},
		{"sfrecord:a01000000000009AAA", "event:" + ChannelBillingObjectChange + ":44"},
		{"sfrecord:a01000000000010AAA", "event:uuid-45"},
	}
	for i, w := range want {
		if q[i].Partition != w.part || q[i].EventID != w.eventID || q[i].Source != billsync.SideSalesforce {
			t.Errorf("change %d = %+v, want partition %s, event %s", i, q[i], w.part, w.eventID)
		}
	}
	if q[0].Object != billsync.ObjectBalance || q[0].Op != billsync.OpUpdated || !q[1].OccurredAt.Equal(listenNow) || q[2].Op != billsync.OpDeleted {
		t.Errorf("changes %+v", q)
	}
	var payload map[string]any
	if err := json.Unmarshal(q[0].Payload, &payload); err != nil || payload["RecordId__c"] != "a02000000000001AAA" {
		t.Errorf("payload %s", q[0].Payload)
	}
	if l.Lag() != time.Second || l.Err() != nil || !l.Leader() {
		t.Errorf("lag %v, err %v, leader %v", l.Lag(), l.Err(), l.Leader())
	}
}

// C5: on the very first start (no checkpoint) every retained event is
// replayed, and those published before the first start only move the
// checkpoint; the first start's time is kept across restarts.
func TestListenerFirstStartSkipsOlderEvents(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mock.NewStore()
	since := listenNow.Add(-time.Minute)
	src := &source{script: []func(context.Context, func(context.Context, billsync.StreamEvent) error) error{deliver(
		event(1, "BillingAccount__c", "a01000000000001AAA", "UPDATE", since.Add(-time.Second)),
		event(2, "BillingAccount__c", "a01000000000002AAA", "UPDATE", since),
	)}}
	l := NewListener(ListenerConfig{Source: src.mock(), Queue: store, State: store, Meta: store, Clock: func() time.Time { return listenNow }})
	stop := runListener(t, l)
	eventually(t, "checkpoint 2", func() bool { id := checkpoint(ctx, store); return id == 2 })
	stop()
	if got := src.subscriptions(); len(got) != 1 || got[0] != replayAll {
		t.Fatalf("first subscription from %v, want every retained event", got)
	}
	if q := store.Queued(); len(q) != 1 || q[0].RecordID != "a01000000000002AAA" {
		t.Fatalf("queued %+v, want only the event published since the first start", q)
	}
	if v, _, _ := store.Meta(ctx, billsync.MetaListenSince); v != since.Format(time.RFC3339Nano) {
		t.Fatalf("stored first start %q", v)
	}

	// Without a checkpoint again (say it was lost), the stored first start
	// still holds, not the new clock.
	store2 := mock.NewStore()
	must(t, store2.SetMeta(ctx, billsync.MetaListenSince, since.Format(time.RFC3339Nano)))
	src2 := &source{script: src.script}
	l2 := NewListener(ListenerConfig{Source: src2.mock(), Queue: store2, State: store2, Meta: store2, Clock: func() time.Time { return listenNow.Add(time.Hour) }})
	runListener(t, l2)
	eventually(t, "checkpoint 2 again", func() bool { id := checkpoint(ctx, store2); return id == 2 })
	if q := store2.Queued(); len(q) != 1 {
		t.Fatalf("queued %+v", q)
	}
}

// C5: a replay id the org no longer holds is logged, the subscription
// restarts from every retained event, and a resync is started.
func TestListenerReplayGap(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mock.NewStore()
	must(t, store.SetReplayID(ctx, ChannelBillingObjectChange, billsync.ReplayInt(500)))
	src := &source{script: []func(context.Context, func(context.Context, billsync.StreamEvent) error) error{
		fail(fmt.Errorf("handshake: %w", billsync.ErrReplayGap)),
		deliver(event(7, "BillingAccount__c", "a01000000000001AAA", "UPDATE", listenNow)),
	}}
	gaps := make(chan struct{}, 1)
	l := NewListener(ListenerConfig{Source: src.mock(), Queue: store, State: store, Log: store, Clock: func() time.Time { return listenNow },
		OnGap: func(context.Context) { gaps <- struct{}{} }})
	runListener(t, l)
	select {
	case <-gaps:
	case <-time.After(waitFor):
		t.Fatal("no resync started after the gap")
	}
	eventually(t, "the replayed event queued", func() bool { return len(store.Queued()) == 1 })
	if got := src.subscriptions(); len(got) != 2 || got[0] != 500 || got[1] != replayAll {
		t.Fatalf("subscriptions from %v, want 500 then every retained event", got)
	}
	logs := store.LogEntries()
	if len(logs) != 1 || logs[0].Reason != "replay_gap" || logs[0].ErrorCode != "REPLAY_ID_INVALID" || logs[0].Outcome != billsync.OutcomeFailed {
		t.Fatalf("sync log %+v", logs)
	}
}

// C5: a Pub/Sub replay id is opaque bytes of any length; the listener
// stores it byte for byte with its change and resubscribes from exactly
// those bytes, never from an integer cut out of them.
func TestListenerKeepsOpaqueReplayIDs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mock.NewStore()
	wide := billsync.ReplayID{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}
	must(t, store.SetReplayID(ctx, ChannelBillingObjectChange, billsync.ReplayID{0, 0, 0, 0, 0, 16, 219, 76, 0, 0}))
	ev := event(0, "BillingAccount__c", "a01000000000001AAA", "UPDATE", listenNow)
	ev.ReplayID, ev.EventUUID = wide, ""
	var mu sync.Mutex
	var froms []billsync.ReplayID
	src := &mock.ChangeSource{SubscribeFn: func(ctx context.Context, _ string, from billsync.ReplayID, handle func(context.Context, billsync.StreamEvent) error) error {
		mu.Lock()
		froms = append(froms, from)
		n := len(froms)
		mu.Unlock()
		if n == 1 {
			if err := handle(ctx, ev); err != nil {
				return err
			}
			return errors.New("stream dropped") // the listener resubscribes
		}
		<-ctx.Done()
		return ctx.Err()
	}}
	l := NewListener(ListenerConfig{Source: src, Queue: store, State: store, Clock: func() time.Time { return listenNow }, RetryWait: time.Millisecond})
	runListener(t, l)
	eventually(t, "the resubscription", func() bool { mu.Lock(); defer mu.Unlock(); return len(froms) == 2 })
	if got, _, _ := store.ReplayID(ctx, ChannelBillingObjectChange); !got.Equal(wide) {
		t.Fatalf("checkpoint %x, want %x", []byte(got), []byte(wide))
	}
	mu.Lock()
	again := froms[1]
	mu.Unlock()
	if !again.Equal(wide) {
		t.Fatalf("resubscribed from %x, want %x", []byte(again), []byte(wide))
	}
	q := store.Queued()
	if len(q) != 1 || q[0].EventID != "event:"+ChannelBillingObjectChange+":0x000000000010db4d0000" {
		t.Fatalf("queued %+v", q)
	}
}

// G4: a failed subscription is reported by Err (readyz fails) and
// retried after a wait.
func TestListenerReportsAndRetriesFailures(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	store := mock.NewStore()
	src := &source{script: []func(context.Context, func(context.Context, billsync.StreamEvent) error) error{fail(down)}}
	logs := &logRecorder{}
	l := NewListener(ListenerConfig{Source: src.mock(), Queue: store, State: store, RetryWait: time.Hour, Logger: slog.New(logs)})
	stop := runListener(t, l)
	eventually(t, "the failure reported", func() bool { return errors.Is(l.Err(), down) })
	if !logs.has("event subscription ended; resubscribing") || l.Leader() {
		t.Fatalf("logs %v, leader %v", logs.messages(), l.Leader())
	}
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v while waiting to resubscribe", err)
	}

	src2 := &source{script: src.script}
	l2 := NewListener(ListenerConfig{Source: src2.mock(), Queue: store, State: store, RetryWait: time.Millisecond})
	runListener(t, l2)
	eventually(t, "a second subscription", func() bool { return len(src2.subscriptions()) == 2 })
	eventually(t, "the subscription up again", func() bool { return l2.Err() == nil && l2.Leader() })
}

// With leases, one replica holds the subscription; another stands by and
// takes over when the holder stops.
func TestListenerLeaseHandOver(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	srcA, srcB := &source{}, &source{}
	cfg := func(owner string, src *source) ListenerConfig {
		return ListenerConfig{Source: src.mock(), Queue: store, State: store, Leases: store, Owner: owner, LeaseTTL: time.Second}
	}
	a, b := NewListener(cfg("a", srcA)), NewListener(cfg("b", srcB))
	name := "subscription:" + ChannelBillingObjectChange
	stopA := runListener(t, a)
	eventually(t, "a subscribed", func() bool { return len(srcA.subscriptions()) == 1 && a.Leader() })
	runListener(t, b)
	eventually(t, "b standing by", func() bool { return b.Err() == nil && !b.Leader() })
	if len(srcB.subscriptions()) != 0 || store.LeaseHolder(name) != "a" {
		t.Fatalf("b subscribed while a holds the lease (holder %q)", store.LeaseHolder(name))
	}
	if err := stopA(); !errors.Is(err, context.Canceled) {
		t.Fatalf("a's Run returned %v", err)
	}
	eventually(t, "b taking over", func() bool { return len(srcB.subscriptions()) == 1 && b.Leader() })
	if store.LeaseHolder(name) != "b" {
		t.Fatalf("lease holder %q", store.LeaseHolder(name))
	}
}

// A holder that loses its lease (it could not renew in time) ends its
// subscription and stands by.
func TestListenerLostLeaseStandsBy(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mock.NewStore()
	src := &source{}
	logs := &logRecorder{}
	l := NewListener(ListenerConfig{Source: src.mock(), Queue: store, State: store, Leases: store, Owner: "a", LeaseTTL: time.Second,
		Logger: slog.New(logs)})
	runListener(t, l)
	eventually(t, "a subscribed", func() bool { return l.Leader() })
	name := "subscription:" + ChannelBillingObjectChange
	must(t, store.ReleaseLease(ctx, name, "a"))
	if ok, err := store.TryLease(ctx, name, "intruder", time.Hour); !ok || err != nil {
		t.Fatalf("taking the lease: %v %v", ok, err)
	}
	eventually(t, "a standing by", func() bool { return !l.Leader() && l.Err() == nil })
	if !logs.has("lost the event subscription's lease; standing by") || len(src.subscriptions()) != 1 {
		t.Fatalf("logs %v, subscriptions %v", logs.messages(), src.subscriptions())
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// healthySource is a source that recovers from dropped connections inside
// Subscribe, as salesforce/cometd does, and says whether it is connected.
type healthySource struct {
	*mock.ChangeSource
	mu  sync.Mutex
	err error
}

func (s *healthySource) Health() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *healthySource) set(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

// A subscription whose source is reconnecting on its own is down, though
// Subscribe has not returned: Err and Status say so while the source
// does, and recover with it.
func TestListenerReportsSourceHealth(t *testing.T) {
	t.Parallel()
	store := mock.NewStore()
	src := &healthySource{ChangeSource: (&source{}).mock(), err: errors.New("handshaking")}
	l := NewListener(ListenerConfig{Source: src, Queue: store, State: store})
	runListener(t, l)
	eventually(t, "subscribed, not yet connected", func() bool {
		st := l.Status()
		return l.Leader() && !st.Connected && st.Err != nil && st.Err.Error() == "handshaking"
	})
	src.set(nil)
	if st := l.Status(); !st.Connected || st.Err != nil || l.Err() != nil {
		t.Fatalf("connected source: %+v", st)
	}
	dropped := errors.New("connection reset by peer")
	src.set(dropped)
	if st := l.Status(); st.Connected || !errors.Is(st.Err, dropped) || !errors.Is(l.Err(), dropped) {
		t.Fatalf("dropped source: %+v", st)
	}
	src.set(nil)
	if st := l.Status(); !st.Connected || l.Err() != nil {
		t.Fatalf("recovered source: %+v", st)
	}
}

// A replica standing by is ready and not connected, whatever its source
// says: its state is standby.
func TestListenerStandbyStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := mock.NewStore()
	name := "subscription:" + ChannelBillingObjectChange
	if ok, err := store.TryLease(ctx, name, "other", time.Hour); !ok || err != nil {
		t.Fatalf("lease: %v %v", ok, err)
	}
	src := &healthySource{ChangeSource: (&source{}).mock(), err: errors.New("never connected")}
	l := NewListener(ListenerConfig{Source: src, Queue: store, State: store, Leases: store, Owner: "a", LeaseTTL: time.Second})
	runListener(t, l)
	eventually(t, "standing by", func() bool {
		st := l.Status()
		return st.Standby && !st.Connected && st.Err == nil
	})
}
