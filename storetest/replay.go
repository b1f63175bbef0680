package storetest

import (
	"testing"

	"github.com/billsync/billsync"
)

// testQueueStreamEvent: a stream event's change and its replay checkpoint
// are stored together, and the checkpoint keeps a replay id byte for byte.
func testQueueStreamEvent(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	const ch = "/event/BillSync_Change__e"
	_, ok, err := s.ReplayID(ctx, ch)
	must(t, err)
	if ok {
		t.Fatal("new store has a checkpoint")
	}

	c := change(billsync.RecordPartition("001A"), "001A")
	c.Source = billsync.SideSalesforce
	dup, err := s.EnqueueStreamEvent(ctx, ch, billsync.ReplayInt(100), c)
	must(t, err)
	if dup || c.ID == 0 {
		t.Fatalf("dup %v, id %d", dup, c.ID)
	}
	wantReplay := func(want billsync.ReplayID) {
		t.Helper()
		got, ok, err := s.ReplayID(ctx, ch)
		must(t, err)
		if !ok || !got.Equal(want) {
			t.Fatalf("ReplayID = %v, %v; want %v", got, ok, want)
		}
	}
	wantReplay(billsync.ReplayInt(100))

	// A replayed event is not queued twice, but the checkpoint moves.
	again := *c
	again.ID = 0
	dup, err = s.EnqueueStreamEvent(ctx, ch, billsync.ReplayInt(101), &again)
	must(t, err)
	if !dup {
		t.Error("replayed event not reported duplicate")
	}
	wantReplay(billsync.ReplayInt(101))

	// An event needing no work moves the checkpoint only. A Pub/Sub
	// replay id is opaque bytes of any length, zero bytes at either end
	// included: it is kept byte for byte.
	wide := billsync.ReplayID{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}
	dup, err = s.EnqueueStreamEvent(ctx, ch, wide, nil)
	must(t, err)
	if dup {
		t.Error("nil change reported duplicate")
	}
	wantReplay(wide)

	// Nothing moves when the change or the replay id cannot be stored.
	_, err = s.EnqueueStreamEvent(ctx, ch, billsync.ReplayInt(103), &billsync.Change{EventID: "bad"})
	if err == nil {
		t.Fatal("invalid change accepted")
	}
	if _, err := s.EnqueueStreamEvent(ctx, ch, nil, nil); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("empty replay id: %v, want EINVALID", err)
	}
	wantReplay(wide)

	st, err := s.Stats(ctx)
	must(t, err)
	if st.Pending != 1 {
		t.Errorf("pending = %d, want 1", st.Pending)
	}

	// Channels are independent; SetReplayID rewinds.
	must(t, s.SetReplayID(ctx, "/data/AccountChangeEvent", billsync.ReplayAll))
	must(t, s.SetReplayID(ctx, ch, billsync.ReplayNew))
	wantReplay(billsync.ReplayNew)
	got, ok, err := s.ReplayID(ctx, "/data/AccountChangeEvent")
	must(t, err)
	if !ok || !got.IsAll() {
		t.Errorf("other channel = %v, %v", got, ok)
	}
}
