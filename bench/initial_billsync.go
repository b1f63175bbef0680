package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/sandbox"
)

// InitialBillsyncFigure is one initial load through billsync itself:
// `resync --initial` of a billing platform holding the accounts, their
// balances and transactions into an empty org, from the resync's start
// until every repair was applied, all records verified in Salesforce.
type InitialBillsyncFigure struct {
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
	APICalls      int     `json:"apiCalls"`
	CallsPer1000  float64 `json:"callsPer1000"`
	BulkJobs      int     `json:"bulkJobs"`
	PeakRSSBytes  int64   `json:"peakRssBytes"`
	// CPUSeconds is billsync's CPU time over the load (child process
	// only; 0 in-process).
	CPUSeconds float64 `json:"cpuSeconds,omitempty"`
	// EmulatorHeapInuseBytes is the bench process's live heap after a
	// GC at the end of the load, the emulators still holding it all;
	// EmulatorPeakRSSBytes is the bench process's VmHWM so far. Both
	// include billsync when it runs in-process.
	EmulatorHeapInuseBytes int64 `json:"emulatorHeapInuseBytes,omitempty"`
	EmulatorPeakRSSBytes   int64 `json:"emulatorPeakRssBytes,omitempty"`
}

// InitialBillsyncResult compares the load with Bulk ingest on
// (salesforce.bulkIngestThreshold at its default) and off.
type InitialBillsyncResult struct {
	Bulk        InitialBillsyncFigure `json:"bulk"`
	Collections InitialBillsyncFigure `json:"collections"`
	Speedup     float64               `json:"speedup"`
}

// initialRecords is what one account brings to an initial load: itself,
// a balance and two transactions.
const initialRecords = 4

// benchInitialThroughBillsync runs the initial load through billsync
// with Bulk ingest on, then off, each against fresh emulators.
func benchInitialThroughBillsync(ctx context.Context, dir string, opts Options, bs Billsync, log *slog.Logger) (*InitialBillsyncResult, error) {
	res := &InitialBillsyncResult{}
	var err error
	log.Info("bench: initial load through billsync (resync --initial), Bulk ingest on", "accounts", opts.InitialAccounts)
	if res.Bulk, err = initialThroughBillsyncOnce(ctx, filepath.Join(dir, "initial-bulk"), opts, bs, log, 0); err != nil {
		return res, fmt.Errorf("through billsync, bulk: %w", err)
	}
	if !opts.runs("initial-collections") {
		return res, nil
	}
	log.Info("bench: initial load through billsync (resync --initial), Bulk ingest off", "accounts", opts.InitialAccounts)
	if opts.MemProfile != "" {
		opts.MemProfile += ".collections"
	}
	if res.Collections, err = initialThroughBillsyncOnce(ctx, filepath.Join(dir, "initial-collections"), opts, bs, log, -1); err != nil {
		return res, fmt.Errorf("through billsync, collections: %w", err)
	}
	if res.Collections.RecordsPerSec > 0 {
		res.Speedup = res.Bulk.RecordsPerSec / res.Collections.RecordsPerSec
	}
	return res, nil
}

// initialThroughBillsyncOnce loads opts.InitialAccounts accounts (with a
// balance and two transactions each) from the billing emulator into an
// empty Salesforce emulator through a billsync started with
// salesforce.bulkIngestThreshold bulkIngest and its default workers. The
// billing platform is the contract's emulator whatever --billing says.
func initialThroughBillsyncOnce(ctx context.Context, dir string, opts Options, bs Billsync, log *slog.Logger, bulkIngest int) (InitialBillsyncFigure, error) {
	var fig InitialBillsyncFigure
	// billsync as shipped: its own workers and bulk workers, whatever
	// --workers says for the other workloads.
	opts.Workers = 0
	sb, err := sandbox.Start(ctx, sandbox.Options{Addr: "127.0.0.1:0", SalesforceAddr: "127.0.0.1:0", BillingAddr: "127.0.0.1:0",
		Data: dir, NoApp: true, Workers: opts.Workers}, log.With("bench", "sandbox"))
	if err != nil {
		return fig, fmt.Errorf("starting the emulators: %w", err)
	}
	defer sb.Close()
	env := &benchEnv{sb: sb, opts: opts, bs: bs, log: log, dir: dir, bulkIngest: bulkIngest}
	want, err := seedInitialBilling(sb, opts.InitialAccounts)
	if err != nil {
		return fig, err
	}
	restore, err := env.sfLatency(opts.SFLatency)
	if err != nil {
		return fig, err
	}
	defer restore()
	app, err := env.startApp(ctx, filepath.Join(dir, "billsync"))
	if err != nil {
		return fig, err
	}
	defer app.Stop()
	admin := adminclient.New(app.URL(), sandbox.AdminToken, nil)
	calls0, jobs0 := sb.SF.APIUsage(), sb.SF.BulkJobs()["ingest"]
	cpu0, cpuOK := app.CPU()
	start := time.Now()
	if err := resyncAndDrain(ctx, admin, env.drainTimeout(len(want))); err != nil {
		return fig, err
	}
	fig.Seconds = time.Since(start).Seconds()
	fig.APICalls = sb.SF.APIUsage() - calls0
	fig.BulkJobs = sb.SF.BulkJobs()["ingest"] - jobs0
	fig.RecordsPerSec = float64(len(want)) / fig.Seconds
	fig.CallsPer1000 = float64(fig.APICalls) * 1000 / float64(len(want))
	fig.PeakRSSBytes, _ = app.Memory()
	if cpu, ok := app.CPU(); ok && cpuOK {
		fig.CPUSeconds = (cpu - cpu0).Seconds()
	}
	if err := verifyInitial(sb, want); err != nil {
		return fig, err
	}
	// Measured here, with the emulators still open and holding the load.
	var err2 error
	fig.EmulatorHeapInuseBytes, fig.EmulatorPeakRSSBytes, err2 = emulatorMemory(opts.MemProfile)
	log.Info("bench: emulators' memory after the load", "heap_inuse", fig.EmulatorHeapInuseBytes, "peak_rss", fig.EmulatorPeakRSSBytes)
	return fig, err2
}

// emulatorMemory collects garbage and reads this process's heap in use
// and peak RSS; with a file name it also writes a heap profile there.
func emulatorMemory(profile string) (heapInuse, peakRSS int64, err error) {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	peakRSS, _ = procField("/proc/self/status", "VmHWM")
	if profile != "" {
		f, ferr := os.Create(profile)
		if ferr != nil {
			return int64(ms.HeapInuse), peakRSS, fmt.Errorf("--memprofile: %w", ferr)
		}
		defer f.Close()
		if err = pprof.WriteHeapProfile(f); err != nil {
			err = fmt.Errorf("--memprofile: %w", err)
		}
	}
	return int64(ms.HeapInuse), peakRSS, err
}

// seedInitialBilling creates the accounts, balances and transactions in
// the billing emulator with its webhooks held (an existing platform
// billsync has not heard of), and returns what each Salesforce record
// must hold: object → billing id → the amount (or name) and parent.
func seedInitialBilling(sb *sandbox.Sandbox, accounts int) (map[string]initialWant, error) {
	sb.Billing.SetWebhookURL("")
	want := make(map[string]initialWant, initialRecords*accounts)
	for i := range accounts {
		acc, err := sb.Billing.Create(billsync.ObjectAccount, billsync.Entity{"code": "IL" + strconv.Itoa(i), "name": "Initial " + strconv.Itoa(i), "currency": "USD"})
		if err != nil {
			return nil, err
		}
		want[acc.ID()] = initialWant{object: "BillingAccount__c", value: acc.Str("name")}
		bal, err := sb.Billing.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": "PREPAID", "name": "Prepaid",
			"amount": strconv.Itoa(i%1000) + ".25", "currency": "USD"})
		if err != nil {
			return nil, err
		}
		want[bal.ID()] = initialWant{object: "BillingBalance__c", value: bal.Str("amount"), parent: acc.ID()}
		for j, amt := range []string{"250.00", "-" + strconv.Itoa(i%100) + ".05"} {
			tx, err := sb.Billing.Create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": amt,
				"description": "Transaction " + strconv.Itoa(j+1), "appliedDate": "2026-11-01"})
			if err != nil {
				return nil, err
			}
			want[tx.ID()] = initialWant{object: "BillingBalanceTransaction__c", value: amt, parent: bal.ID()}
		}
	}
	return want, nil
}

// initialWant is what one Salesforce record of the load must hold.
type initialWant struct {
	object string
	value  string // the account's name, or the amount
	parent string // the parent's billing id
}

// resyncAndDrain starts `resync --initial` and waits until it finished
// and the queue holds nothing: every repair applied.
func resyncAndDrain(ctx context.Context, admin *adminclient.Client, timeout time.Duration) error {
	rep, err := admin.StartResync(ctx, billsync.ResyncRequest{Initial: true})
	if err != nil {
		return fmt.Errorf("starting resync --initial: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		if rep.State != "running" {
			st, err := admin.Queue(ctx)
			if err != nil {
				return err
			}
			if st.DeadLetters > 0 {
				return fmt.Errorf("%d changes of the load were dead-lettered", st.DeadLetters)
			}
			if st.Pending == 0 && st.Running == 0 {
				if rep.State != "done" {
					return fmt.Errorf("resync --initial ended %s: %s", rep.State, rep.Error)
				}
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the initial load was not done after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
		if rep.State == "running" {
			if rep, err = admin.Resync(ctx, rep.ID); err != nil {
				return err
			}
		}
	}
}

// verifyInitial checks every record of the load in Salesforce: there,
// once, with its name or amount and under its parent. It reads the
// records one at a time and keeps only what it compares: at 100,000
// accounts the org rendered whole would be gigabytes in this process.
func verifyInitial(sb *sandbox.Sandbox, want map[string]initialWant) error {
	type seen struct{ sfID, value, parentSFID string }
	got := make(map[string]seen, len(want)) // billing id → what Salesforce holds
	parentField := map[string]string{"BillingBalance__c": "BillingAccount__c", "BillingBalanceTransaction__c": "BillingBalance__c"}
	var dup error
	for _, object := range []string{"BillingAccount__c", "BillingBalance__c", "BillingBalanceTransaction__c"} {
		value := "Amount__c"
		if object == "BillingAccount__c" {
			value = "Name"
		}
		fields := []string{"Id", "BillingId__c", value}
		if p := parentField[object]; p != "" {
			fields = append(fields, p)
		}
		sb.SF.EachRecord(object, fields, func(r billsync.SObject) {
			ext := r.Str("BillingId__c")
			if _, ok := got[ext]; ok && dup == nil {
				dup = fmt.Errorf("%s %s is in Salesforce twice", object, ext)
			}
			got[ext] = seen{sfID: r.Str("Id"), value: r.Str(value), parentSFID: r.Str(parentField[object])}
		})
	}
	if dup != nil {
		return dup
	}
	if len(got) != len(want) {
		return fmt.Errorf("%d records in Salesforce, want %d", len(got), len(want))
	}
	for id, w := range want {
		r, ok := got[id]
		if !ok {
			return fmt.Errorf("%s %s is not in Salesforce", w.object, id)
		}
		if w.object == "BillingAccount__c" {
			if r.value != w.value {
				return fmt.Errorf("account %s: Name %q, want %q", id, r.value, w.value)
			}
			continue
		}
		amt, err := billsync.ParseMoney(r.value)
		if wantAmt, err2 := billsync.ParseMoney(w.value); err != nil || err2 != nil || !amt.Equal(wantAmt) {
			return fmt.Errorf("%s %s: Amount__c %v, want %s", w.object, id, r.value, w.value)
		}
		if r.parentSFID != got[w.parent].sfID {
			return fmt.Errorf("%s %s: parent %s, want %s", w.object, id, r.parentSFID, got[w.parent].sfID)
		}
	}
	return nil
}
