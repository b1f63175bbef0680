package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
	"github.com/billsync/billsync/pgstore"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/sqlitestore"
	"github.com/billsync/billsync/storetest"
)

// The benchmarks here are the store's share of one change's path: the
// webhook's Enqueue, the runner's ClaimRuns and Complete, the engine's
// SyncState and PutSyncState, and AppendLog. Besides ns/op they report
// cpu-ns/op, the process's CPU time per operation (user and system), which
// is what the store costs a busy instance: ns/op of a commit is mostly
// waiting for fsync. Calls get a context that can be cancelled, as the
// callers' (a request's, the runner's with its timeout) can.

// benchEngines opens a fresh store of each engine; the second value is the
// shared store underneath, for ReleaseLeases.
var benchEngines = []struct {
	name string
	open func(b *testing.B) (billsync.Store, *sqlstore.Store)
}{
	{"sqlite", func(b *testing.B) (billsync.Store, *sqlstore.Store) {
		s, err := sqlitestore.Open(context.Background(), filepath.Join(b.TempDir(), "b.db"), sqlitestore.Options{})
		s = storetest.Opened(b, s, err)
		return s, s.Store
	}},
	{"postgres", func(b *testing.B) (billsync.Store, *sqlstore.Store) {
		s, err := pgstore.Open(context.Background(), pgtest.DSN(b), pgstore.Options{})
		s = storetest.Opened(b, s, err)
		return s, s.Store
	}},
}

func forBenchEngines(b *testing.B, bench func(b *testing.B, s billsync.Store, shared *sqlstore.Store)) {
	for _, e := range benchEngines {
		b.Run(e.name, func(b *testing.B) {
			s, shared := e.open(b)
			bench(b, s, shared)
		})
	}
}

// cpuMeter adds up the process's CPU time over the timed parts of a
// benchmark, started and stopped beside b's timer.
type cpuMeter struct {
	total, at time.Duration
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *cpuMeter) start() { m.at = cpuNow() }
func (m *cpuMeter) stop()  { m.total += cpuNow() - m.at }

// report gives cpu-ns per op (n ops), and per change when perOp > 1.
func (m *cpuMeter) report(b *testing.B, n int) {
	if n > 0 {
		b.ReportMetric(float64(m.total.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}

// webhookPayload is about the size of a billing webhook's record.
const webhookPayload = `{"id":"acct_0001","object":"account","version":7,"name":"Acme Industrial Supply Ltd",` +
	`"email":"billing@acme.example","currency":"EUR","balance":"1234.56","status":"active",` +
	`"address":{"line1":"12 Harbour Road","city":"Rotterdam","postalCode":"3011AA","country":"NL"},` +
	`"taxId":"NL123456789B01","paymentTerms":"net30","createdAt":"2026-11-02T09:14:03Z","updatedAt":"2026-12-05T11:40:27Z"}`

func benchChange(i int64) *billsync.Change {
	return &billsync.Change{Partition: fmt.Sprintf("account:%d", i%64), Source: billsync.SideBilling,
		Object: billsync.ObjectAccount, Op: billsync.OpUpdated, RecordID: fmt.Sprintf("acct_%d", i%64),
		EventID: fmt.Sprintf("evt_%d", i), Payload: []byte(webhookPayload), OccurredAt: time.Now()}
}

// BenchmarkEnqueue enqueues one change per call from several goroutines
// at once, as concurrent webhook requests do, so that group commit
// batches them.
func BenchmarkEnqueue(b *testing.B) {
	forBenchEngines(b, func(b *testing.B, s billsync.Store, _ *sqlstore.Store) {
		var seq atomic.Int64
		var m cpuMeter
		b.SetParallelism(8)
		b.ReportAllocs()
		b.ResetTimer()
		m.start()
		b.RunParallel(func(pb *testing.PB) {
			ctx := b.Context()
			for pb.Next() {
				if _, err := s.Enqueue(ctx, benchChange(seq.Add(1))); err != nil {
					b.Error(err)
					return
				}
			}
		})
		m.stop()
		m.report(b, b.N)
	})
}

// BenchmarkClaimRuns claims 16 partitions' runs of 8 changes each; an op
// is one ClaimRuns call (128 changes). The claims are handed back between
// calls, untimed.
func BenchmarkClaimRuns(b *testing.B) {
	forBenchEngines(b, func(b *testing.B, s billsync.Store, shared *sqlstore.Store) {
		benchClaimRuns(b, s, shared, 32, 16)
	})
}

// BenchmarkClaimRunsDeep is BenchmarkClaimRuns with 1,000 changes queued in
// each partition, as after a resync or a burst on a few accounts: a claim
// should cost the same whatever waits behind its runs.
func BenchmarkClaimRunsDeep(b *testing.B) {
	forBenchEngines(b, func(b *testing.B, s billsync.Store, shared *sqlstore.Store) {
		benchClaimRuns(b, s, shared, 16, 1000)
	})
}

// benchClaimRuns queues depth changes in each of parts partitions and
// times ClaimRuns(16, 8).
func benchClaimRuns(b *testing.B, s billsync.Store, shared *sqlstore.Store, parts, depth int) {
	const heads, perRun = 16, 8
	ctx := b.Context()
	var changes []*billsync.Change
	for i := range int64(parts * depth) {
		c := benchChange(i)
		c.Partition = fmt.Sprintf("account:%d", i%int64(parts))
		changes = append(changes, c)
	}
	if _, err := s.Enqueue(ctx, changes...); err != nil {
		b.Fatal(err)
	}
	var m cpuMeter
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		m.start()
		runs, err := s.ClaimRuns(ctx, heads, perRun, time.Minute)
		m.stop()
		if err != nil || len(runs) != heads || len(runs[0]) != perRun {
			b.Fatalf("ClaimRuns: %d runs, %v", len(runs), err)
		}
		n++
		b.StopTimer()
		if _, err := sqlstore.ReleaseLeases(ctx, shared); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	m.report(b, n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*heads*perRun), "ns/change")
}

func benchState(i int) *billsync.SyncState {
	agreed := make(map[string]string, 8)
	for _, f := range []string{"name", "email", "currency", "status", "address.line1", "address.city", "address.country", "taxId"} {
		agreed[f] = fmt.Sprintf("%s of record %d", f, i)
	}
	return &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: fmt.Sprintf("acct_%d", i),
		SalesforceID: fmt.Sprintf("001%015d", i), AccountID: fmt.Sprintf("acct_%d", i), BillingVersion: int64(i), Agreed: agreed}
}

// BenchmarkSyncState reads one record's sync state, as the engine does
// first for every change.
func BenchmarkSyncState(b *testing.B) {
	const records = 1000
	forBenchEngines(b, func(b *testing.B, s billsync.Store, _ *sqlstore.Store) {
		ctx := b.Context()
		for i := range records {
			if err := s.PutSyncState(ctx, benchState(i)); err != nil {
				b.Fatal(err)
			}
		}
		var m cpuMeter
		b.ReportAllocs()
		i := 0
		m.start()
		for b.Loop() {
			i++
			st, err := s.SyncState(ctx, billsync.ObjectAccount, fmt.Sprintf("acct_%d", i%records))
			if err != nil || len(st.Agreed) != 8 {
				b.Fatal(st, err)
			}
		}
		m.stop()
		m.report(b, i)
	})
}

// BenchmarkPutSyncState stores one record's new sync state, as the engine
// does after every applied change.
func BenchmarkPutSyncState(b *testing.B) {
	const records = 1000
	forBenchEngines(b, func(b *testing.B, s billsync.Store, _ *sqlstore.Store) {
		ctx := b.Context()
		states := make([]*billsync.SyncState, records)
		for i := range states {
			states[i] = benchState(i)
		}
		var m cpuMeter
		b.ReportAllocs()
		i := 0
		m.start()
		for b.Loop() {
			i++
			st := states[i%records]
			st.BillingVersion++
			st.UpdatedAt = time.Time{}
			if err := s.PutSyncState(ctx, st); err != nil {
				b.Fatal(err)
			}
		}
		m.stop()
		m.report(b, i)
	})
}

func benchEntries(id int64) []billsync.LogEntry {
	e := billsync.LogEntry{Direction: billsync.ToSalesforce, Object: billsync.ObjectAccount, BillingID: fmt.Sprintf("acct_%d", id%64),
		SalesforceID: "001000000000042", Operation: "update", Outcome: billsync.OutcomeSuccess, Attempt: 1, Latency: 52 * time.Millisecond}
	out := []billsync.LogEntry{e, e, e}
	out[1].Operation, out[2].Operation = "read", "upsert"
	return out[:1+id%3]
}

// BenchmarkComplete finishes one claimed change with 1 to 3 log entries,
// as the runner does after every change. Changes are enqueued and claimed
// 512 at a time, untimed.
func BenchmarkComplete(b *testing.B) {
	forBenchEngines(b, func(b *testing.B, s billsync.Store, _ *sqlstore.Store) {
		ctx := b.Context()
		var claimed []int64
		var seq int64
		refill := func() {
			b.StopTimer()
			defer b.StartTimer()
			changes := make([]*billsync.Change, 512)
			for i := range changes {
				seq++
				changes[i] = benchChange(seq)
				changes[i].Partition = fmt.Sprintf("account:%d", seq)
			}
			if _, err := s.Enqueue(ctx, changes...); err != nil {
				b.Fatal(err)
			}
			runs, err := s.ClaimRuns(ctx, len(changes), 1, time.Hour)
			if err != nil || len(runs) != len(changes) {
				b.Fatalf("claim: %d, %v", len(runs), err)
			}
			for _, r := range runs {
				claimed = append(claimed, r[0].ID)
			}
		}
		var m cpuMeter
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			if len(claimed) == 0 {
				refill()
			}
			id := claimed[len(claimed)-1]
			claimed = claimed[:len(claimed)-1]
			m.start()
			err := s.Complete(ctx, id, benchEntries(id)...)
			m.stop()
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		m.report(b, n)
	})
}

// BenchmarkAppendLog appends two entries, as a webhook that is refused or
// a listener's note does.
func BenchmarkAppendLog(b *testing.B) {
	forBenchEngines(b, func(b *testing.B, s billsync.Store, _ *sqlstore.Store) {
		ctx := b.Context()
		var m cpuMeter
		b.ReportAllocs()
		n := 0
		m.start()
		for b.Loop() {
			n++
			if err := s.AppendLog(ctx, benchEntries(1)...); err != nil {
				b.Fatal(err)
			}
		}
		m.stop()
		m.report(b, n)
	})
}
