package billing

import (
	"bytes"
	"encoding/json"
	"github.com/billsync/billsync/internal/heapmeter"
	"runtime"
	"strconv"
	"testing"

	"github.com/billsync/billsync"
	"github.com/google/go-cmp/cmp"
)

// The snapshot streamed a record at a time holds what the one encoded
// whole does.
func TestSnapshotStreamedMatchesEncoded(t *testing.T) {
	e, err := New(Options{Token: persistToken, WebhookSecret: persistSecret, DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	writeMix(t, e)
	e.SetWebhookURL("") // held: the outbox is not empty
	if _, err := e.Create(billsync.ObjectAccount, billsync.Entity{"name": "Held", "code": "HELD"}); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	whole, err := e.state.Encode(7)
	var streamed bytes.Buffer
	serr := e.state.EncodeTo(&streamed, 7)
	e.mu.Unlock()
	if err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	var a, b map[string]any
	if err := json.Unmarshal(whole, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(streamed.Bytes(), &b); err != nil {
		t.Fatalf("streamed snapshot %s: %v", streamed.Bytes(), err)
	}
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("streamed snapshot differs (-encoded +streamed):\n%s", diff)
	}
	if len(a["outbox"].([]any)) == 0 {
		t.Error("no held webhook in the outbox")
	}
}

// BenchmarkCreateMemory creates accounts with a balance and two
// transactions each, webhooks held as a platform billsync has not heard
// of holds them, and reports the live heap per record: the records and
// their queued webhooks.
func BenchmarkCreateMemory(b *testing.B) {
	const accounts = 2500
	var perRecord, peakPerRecord float64
	for range b.N {
		e, err := New(Options{Token: persistToken, WebhookSecret: persistSecret, DataDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		before := heapmeter.Live()
		peak := heapmeter.Peak()
		for i := range accounts {
			s := strconv.Itoa(i)
			acc, err := e.Create(billsync.ObjectAccount, billsync.Entity{"code": "IL" + s, "name": "Initial " + s, "currency": "USD"})
			if err != nil {
				b.Fatal(err)
			}
			bal, err := e.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": "PREPAID", "name": "Prepaid", "amount": s + ".25", "currency": "USD"})
			if err != nil {
				b.Fatal(err)
			}
			for _, amt := range []string{"250.00", "-" + s + ".05"} {
				if _, err := e.Create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": amt, "description": "Transaction", "appliedDate": "2026-11-01"}); err != nil {
					b.Fatal(err)
				}
			}
		}
		e.journal.WaitFolds()
		peakPerRecord += float64(peak()-before) / float64(4*accounts)
		perRecord += float64(heapmeter.Live()-before) / float64(4*accounts)
		runtime.KeepAlive(e)
		if err := e.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perRecord/float64(b.N), "heap-B/record")
	b.ReportMetric(peakPerRecord/float64(b.N), "peak-heap-B/record")
}
