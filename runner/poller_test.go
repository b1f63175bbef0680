package runner

import (
	"context"
	"errors"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

type fakePoller struct {
	from    []string
	changes map[string][]*billsync.Change // by checkpoint
	next    map[string]string
	err     error
}

func (f *fakePoller) Poll(_ context.Context, checkpoint string) ([]*billsync.Change, string, error) {
	f.from = append(f.from, checkpoint)
	if f.err != nil {
		return nil, "", f.err
	}
	return f.changes[checkpoint], f.next[checkpoint], nil
}

func pollChange(id string) *billsync.Change {
	return &billsync.Change{Partition: "quote:" + id, Source: billsync.SideBilling, Object: billsync.ObjectQuote,
		Op: billsync.OpUpdated, RecordID: id, EventID: "poll:" + id, Payload: []byte(`{"id":"` + id + `"}`)}
}

// A poll starts from the stored checkpoint, queues what it brings once
// (a change already queued by a webhook is not queued again), and stores
// the next checkpoint; a failed poll leaves the checkpoint where it was.
func TestPollerQueuesOnceAndMovesTheCheckpoint(t *testing.T) {
	ctx := context.Background()
	st := mock.NewStore()
	src := &fakePoller{
		changes: map[string][]*billsync.Change{"evt_1": {pollChange("qt_1"), pollChange("qt_2")}},
		next:    map[string]string{"": "evt_1", "evt_1": "evt_5", "evt_5": "evt_5"},
	}
	woken := 0
	p := NewPoller(PollerConfig{Source: src, Queue: st, Meta: st, OnEnqueue: func() { woken++ }})

	if n, err := p.PollOnce(ctx); err != nil || n != 0 {
		t.Fatalf("first poll: %d, %v", n, err)
	}
	if _, err := st.Enqueue(ctx, pollChange("qt_1")); err != nil { // a webhook brought qt_1 first
		t.Fatal(err)
	}
	if n, err := p.PollOnce(ctx); err != nil || n != 1 {
		t.Fatalf("second poll queued %d new, %v; want 1 (qt_1 was queued already)", n, err)
	}
	if got := len(st.Queued()); got != 2 || woken != 1 {
		t.Fatalf("queued %d, woken %d", got, woken)
	}
	src.err = errors.New("stripe down")
	if _, err := p.PollOnce(ctx); err == nil {
		t.Fatal("a failed poll reported no error")
	}
	if cp, _, _ := st.Meta(ctx, MetaPollCheckpoint); cp != "evt_5" {
		t.Fatalf("checkpoint %q after a failed poll, want evt_5", cp)
	}
	if want := []string{"", "evt_1", "evt_5"}; len(src.from) != 3 || src.from[0] != want[0] || src.from[1] != want[1] || src.from[2] != want[2] {
		t.Fatalf("polled from %q, want %q", src.from, want)
	}
}
