package billing

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
	"github.com/google/go-cmp/cmp"
)

const (
	persistToken  = "tok_persist"
	persistSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

// image is the whole persisted state of an emulator, as JSON, for an
// exact comparison across a restart.
func image(t *testing.T, e *Emulator) map[string]any {
	t.Helper()
	e.mu.Lock()
	b, err := json.Marshal(e.state.snapshot(0))
	e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// writeMix writes creates, updates, deletes (a cascading one included),
// an idempotent create, and delivers webhooks of which some fail: every
// kind of change the journal records.
func writeMix(t *testing.T, e *Emulator) {
	t.Helper()
	var calls atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1)%3 == 0 {
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	ctx, cancel := context.WithCancel(context.Background())
	e.SetWebhookURL(hook.URL)
	e.Start(ctx)
	defer cancel()

	must := func(ent billsync.Entity, err error) billsync.Entity {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ent
	}
	acc := must(e.Create(billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME"}))
	gone := must(e.Create(billsync.ObjectAccount, billsync.Entity{"name": "Gone", "code": "GONE"}))
	bal := must(e.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "name": "P", "amount": "10.10", "currency": "EUR"}))
	bal2 := must(e.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "name": "Q", "amount": "1.00", "currency": "EUR"}))
	must(e.Create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal2.ID(), "amount": "0.50"}))
	must(e.Create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "2.25"}))
	for v := int64(1); v <= 3; v++ {
		if _, aerr := e.update(billsync.ObjectAccount, acc.ID(), billsync.Entity{"name": "Acme v" + string(rune('0'+v)), "code": "ACME", "version": json.Number(string(rune('0' + v)))}); aerr != nil {
			t.Fatal(aerr)
		}
	}
	if aerr := e.remove(billsync.ObjectBalance, bal2.ID()); aerr != nil {
		t.Fatal(aerr)
	}
	if aerr := e.remove(billsync.ObjectAccount, gone.ID()); aerr != nil {
		t.Fatal(aerr)
	}
	if _, _, aerr := e.createIdempotent(billsync.ObjectAccount, billsync.Entity{"name": "Idem", "code": "IDEM"}, "key-1"); aerr != nil {
		t.Fatal(aerr)
	}
	// Some webhooks delivered, some failed at least once: wait until the
	// receiver has answered a few failures and successes.
	deadline := time.Now().Add(15 * time.Second)
	for e.Delivered() < 4 || calls.Load() < 6 {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries did not happen: %d delivered, %d calls", e.Delivered(), calls.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	e.wg.Wait() // delivery stopped; the state is what the journal holds
}

func TestRestartRestoresExactState(t *testing.T) {
	for _, clean := range []bool{true, false} {
		name := "crash"
		if clean {
			name = "close"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			opts := Options{Token: persistToken, WebhookSecret: persistSecret, DataDir: dir,
				RetryBackoff: func(int) time.Duration { return time.Millisecond }}
			e1, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			writeMix(t, e1)
			before := image(t, e1)
			if clean {
				if err := e1.Close(); err != nil {
					t.Fatal(err)
				}
			}
			// Without Close, e1 is a process that died: only what it
			// journaled before answering remains.
			e2, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e2.Close()
			if diff := cmp.Diff(before, image(t, e2)); diff != "" {
				t.Fatalf("state after restart (-before +after)\n%s", diff)
			}
			// Counters go on from where they were: the next record and
			// webhook follow the last ones.
			e2.mu.Lock()
			seq, evSeq := e2.seq, e2.evSeq
			e2.mu.Unlock()
			if _, err := e2.Create(billsync.ObjectAccount, billsync.Entity{"name": "After", "code": "AFTER"}); err != nil {
				t.Fatal(err)
			}
			e2.mu.Lock()
			defer e2.mu.Unlock()
			if e2.seq != seq+1 || e2.evSeq != evSeq+1 {
				t.Fatalf("counters after restart: seq %d→%d, event seq %d→%d", seq, e2.seq, evSeq, e2.evSeq)
			}
		})
	}
}

// A line cut short by a crash mid-write was never acknowledged: the
// reload drops it and keeps everything before it.
func TestTornJournalLineIsDropped(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Token: persistToken, WebhookSecret: persistSecret, DataDir: dir}
	e1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := e1.Create(billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME"})
	if err != nil {
		t.Fatal(err)
	}
	before := image(t, e1)
	path := e1.journal.ActivePath()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(`{"put":{"type":"account","seq":99,"data":{"id":"acc_torn"`); err != nil {
		t.Fatal(err)
	}
	f.Close()
	e2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if diff := cmp.Diff(before, image(t, e2)); diff != "" {
		t.Fatalf("state after restart (-before +after)\n%s", diff)
	}
	if _, ok := e2.Get(billsync.ObjectAccount, acc.ID()); !ok {
		t.Fatal("account lost")
	}
}

// The journal folds into the snapshot in the background once it outgrows
// it, and a restart after folds restores the same state.
func TestJournalFoldsInBackground(t *testing.T) {
	dir := t.TempDir()
	opts := Options{Token: persistToken, WebhookSecret: persistSecret, DataDir: dir}
	e1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e1.journal.SetFoldThreshold(2 << 10) // fold every few writes
	for i := range 200 {
		if _, err := e1.Create(billsync.ObjectAccount, billsync.Entity{"name": "A", "code": "A" + string(rune('a'+i%26))}); err != nil {
			t.Fatal(err)
		}
	}
	e1.journal.WaitFolds()
	seg := e1.journal.Segment()
	if seg < 3 {
		t.Fatalf("journal at segment %d: it never folded", seg)
	}
	segs, err := journal.ListSegments(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(segs) > 2 {
		t.Fatalf("folded segments left behind: %v", segs)
	}
	before := image(t, e1)
	e2, err := New(opts) // e1 never closed: a crash after folds
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if diff := cmp.Diff(before, image(t, e2)); diff != "" {
		t.Fatalf("state after restart (-before +after)\n%s", diff)
	}
}
