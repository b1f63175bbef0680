package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync/bench"
)

// TestBenchCommandTiny runs `billsync bench` end to end with tiny sizes,
// billsync as a child process (this test binary, re-executed), and checks
// that every figure was measured. It asserts nothing about speed.
func TestBenchCommandTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes: skipped in -short mode")
	}
	benchChildIsTestBinary(t)

	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	rep := runBench(t, "--records", "20", "--rate", "40", "--duration", "1s", "--sf-latency", "5ms",
		"--backlog", "100,300", "--backlog-window", "300ms", "--backlog-ops", "20",
		"--ingest-clients", "4", "--ingest-duration", "300ms", "--workers", "4",
		"--real-accounts", "3", "--real-balances", "1", "--real-transactions", "2", "--real-rounds", "1", "--real-clients", "2",
		"--initial-accounts", "50", "--drain-timeout", "30s", "--cpuprofile", profile)
	if len(rep.Errors) > 0 {
		t.Errorf("errors: %v", rep.Errors)
	}
	if rep.Burst == nil || rep.Burst.Synced != 20 || rep.Burst.APICalls == 0 || rep.Burst.RecordsPerSec <= 0 {
		t.Errorf("create burst: %+v", rep.Burst)
	}
	if rep.Update == nil || rep.Update.Synced != 20 || rep.Update.APICalls == 0 {
		t.Errorf("update burst: %+v", rep.Update)
	}
	if l := rep.Latency; l == nil || l.Offered == 0 || l.Synced != l.Offered || l.P99Ms < l.P50Ms || l.P50Ms < 5 {
		// Every call waits 5 ms, so no record is written sooner.
		t.Errorf("latency: %+v", l)
	}
	checkRealistic(t, rep.Realistic)
	if rep.Ingest == nil || rep.Ingest.Accepted == 0 || rep.Ingest.Failed != 0 {
		t.Errorf("ingest: %+v", rep.Ingest)
	}
	if in := rep.Initial; in == nil || in.Records != 200 || in.Bulk.BulkJobs != 3 || in.Collections.APICalls == 0 || in.Bulk.RecordsPerSec <= 0 {
		t.Errorf("initial load: %+v", in)
	} else if b := in.Billsync; b == nil || b.Bulk.RecordsPerSec <= 0 || b.Collections.RecordsPerSec <= 0 || b.Collections.BulkJobs != 0 || b.Bulk.APICalls == 0 {
		// 200 records are under salesforce.bulkIngestThreshold: billsync
		// keeps them on collections either way.
		t.Errorf("initial load through billsync: %+v", b)
	}
	var queued []int64
	for _, b := range rep.Backlog {
		queued = append(queued, b.Queued)
		if b.EnqueueUs <= 0 || b.ClaimCompleteUs <= 0 || b.DBBytes <= 0 || b.AppStartSeconds <= 0 {
			t.Errorf("backlog %d: %+v", b.Queued, b)
		}
	}
	if diff := cmp.Diff([]int64{100, 300}, queued); diff != "" {
		t.Errorf("backlog sizes (-want +got):\n%s", diff)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && rep.PeakRSSBytes == 0 {
		t.Error("no peak RSS although /proc is there")
	}
	var names []string
	for _, tr := range rep.Targets {
		names = append(names, tr.Name)
	}
	want := []string{
		"create burst: API calls per 1,000 records", "create burst: end-to-end records/s",
		"update burst: API calls per 1,000 records", "update burst: end-to-end records/s",
		"webhook→Salesforce p99",
		"realistic: API calls per 1,000 changes", "realistic: convergence after the last write",
		"realistic: records/s over a per-record integration", "realistic: billsync CPU per 1,000 changes",
		"initial load (transport): Bulk records/s over collections", "initial load (transport): Bulk API calls per 1,000 records",
		"initial load through billsync: Bulk records/s over collections", "initial load through billsync: Bulk API calls per 1,000 records",
		"durable webhook ingest", "billsync RSS with 1 M queued",
		"enqueue cost flat (100 → 300)", "claim+complete cost flat (100 → 300)",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}
	if fi, err := os.Stat(profile); err != nil || fi.Size() == 0 {
		t.Errorf("CPU profile: %v", err)
	}

	// The table form of the same report.
	var table bytes.Buffer
	if err := bench.WriteReport(&table, &rep, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"machine", "create burst", "realistic", "per-record", "target", "MISS", "n/a", "backlog"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

// benchChildIsTestBinary makes the bench run billsync as this test
// binary, re-executed.
func benchChildIsTestBinary(t *testing.T) {
	old := benchChildCommand
	benchChildCommand = func(args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BILLSYNC_E2E_CHILD_ARGS="+strings.Join(args, " "))
		return cmd, nil
	}
	t.Cleanup(func() { benchChildCommand = old })
}

// TestBenchCommandTinyStripe runs `billsync bench --billing stripe` end
// to end with tiny sizes: the workloads written through Stripe's API
// reach Salesforce, the realistic figures count billsync's Stripe calls,
// and the contract's own workloads do not run. Nothing about speed.
func TestBenchCommandTinyStripe(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes: skipped in -short mode")
	}
	benchChildIsTestBinary(t)
	rep := runBench(t, "--billing", "stripe",
		"--records", "10", "--rate", "10", "--duration", "1s", "--sf-latency", "5ms", "--workers", "4",
		"--real-accounts", "3", "--real-balances", "1", "--real-transactions", "2", "--real-rounds", "1", "--real-clients", "2",
		"--drain-timeout", "60s")
	if rep.Billing != "stripe" || len(rep.Errors) > 0 {
		t.Errorf("billing %q, errors: %v", rep.Billing, rep.Errors)
	}
	if rep.Burst == nil || rep.Burst.Synced != 10 || rep.Burst.APICalls == 0 {
		t.Errorf("create burst: %+v", rep.Burst)
	}
	if rep.Update == nil || rep.Update.Synced != 10 || rep.Update.APICalls == 0 {
		t.Errorf("update burst: %+v", rep.Update)
	}
	if l := rep.Latency; l == nil || l.Offered == 0 || l.Synced != l.Offered {
		t.Errorf("latency: %+v", l)
	}
	r := rep.Realistic
	if r == nil {
		t.Fatal("no realistic figures")
	}
	// 3 accounts × (customer + 1 opening credit + 2 transactions), then a
	// round of (rename + 1 top-up + 2 descriptions): the contract shape's 24.
	if r.Changes != 24 || r.Landed != 24 || r.WriteCalls == 0 || r.StripeCalls == 0 || r.StripeCallsPer1000 <= 0 {
		t.Errorf("realistic: %+v", r.RunFigures)
	}
	if r.PerRecord != nil || rep.Ingest != nil || len(rep.Backlog) > 0 {
		t.Errorf("the contract's own workloads ran with Stripe: per-record %v, ingest %v, backlog %v", r.PerRecord, rep.Ingest, rep.Backlog)
	}
	var table bytes.Buffer
	if err := bench.WriteReport(&table, &rep, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"billing  stripe", "Stripe: ", "calls by billsync"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

// checkRealistic checks that the realistic workload's figures agree with
// what it wrote: 3 accounts × (account + 1 balance + 2 transactions),
// created and then updated once, is 24 changes. Nothing about speed.
func checkRealistic(t *testing.T, r *bench.RealisticResult) {
	t.Helper()
	if r == nil {
		t.Fatal("no realistic figures")
	}
	const changes = 24
	if r.Changes != changes || r.Landed != changes {
		t.Errorf("realistic: %d changes written, %d reached Salesforce; want %d of each", r.Changes, r.Landed, changes)
	}
	if r.WriteCalls == 0 || r.APICalls < r.WriteCalls || r.Seconds <= 0 || r.RecordsPerSec <= 0 || r.ConvergenceMs < 0 {
		t.Errorf("realistic: %+v", r.RunFigures)
	}
	// Every Salesforce call waits 5 ms, so no write lands sooner.
	if r.P50Ms < 5 || r.P99Ms < r.P50Ms || r.MaxMs < r.P99Ms {
		t.Errorf("realistic: write→Salesforce p50 %v, p99 %v, max %v", r.P50Ms, r.P99Ms, r.MaxMs)
	}
	if _, err := os.Stat("/proc/self/stat"); err == nil && (!r.CPUMeasured || r.CPUSeconds < 0) {
		t.Errorf("realistic: billsync's CPU not measured although /proc is there: %+v", r)
	}
	// The per-record integration makes exactly one call per change.
	if p := r.PerRecord; p == nil || p.Changes != changes || p.Landed != changes || p.WriteCalls != changes || p.RecordsPerSec <= 0 {
		t.Errorf("realistic, per-record integration: %+v", p)
	} else if r.Speedup <= 0 {
		t.Errorf("realistic: speedup %v", r.Speedup)
	}
}

// TestBenchCommandTinyM3ter runs `billsync bench --billing m3ter` end to
// end with tiny sizes: the workloads written as a person in m3ter's
// console reach Salesforce, the realistic figures count billsync's m3ter
// calls, and the contract's own workloads do not run. Nothing about
// speed; --m3ter-rate only keeps the test short on a busy machine.
func TestBenchCommandTinyM3ter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes: skipped in -short mode")
	}
	benchChildIsTestBinary(t)
	rep := runBench(t, "--billing", "m3ter", "--m3ter-rate", "200",
		"--records", "10", "--rate", "10", "--duration", "1s", "--sf-latency", "5ms", "--workers", "4",
		"--real-accounts", "3", "--real-balances", "1", "--real-transactions", "2", "--real-rounds", "1", "--real-clients", "2",
		"--drain-timeout", "60s")
	if rep.Billing != "m3ter" || len(rep.Errors) > 0 {
		t.Errorf("billing %q, errors: %v", rep.Billing, rep.Errors)
	}
	if rep.Burst == nil || rep.Burst.Synced != 10 || rep.Burst.APICalls == 0 {
		t.Errorf("create burst: %+v", rep.Burst)
	}
	if rep.Update == nil || rep.Update.Synced != 10 || rep.Update.APICalls == 0 {
		t.Errorf("update burst: %+v", rep.Update)
	}
	if l := rep.Latency; l == nil || l.Offered == 0 || l.Synced != l.Offered {
		t.Errorf("latency: %+v", l)
	}
	r := rep.Realistic
	if r == nil {
		t.Fatal("no realistic figures")
	}
	// 3 accounts × (account + 1 balance + 2 transactions), then a round
	// of (rename + balance rename + 2 new transactions): the contract
	// shape's 24.
	if r.Changes != 24 || r.Landed != 24 || r.WriteCalls == 0 || r.M3terCalls == 0 || r.M3terCallsPer1000 <= 0 || r.StripeCalls != 0 {
		t.Errorf("realistic: %+v", r.RunFigures)
	}
	if r.PerRecord != nil || rep.Ingest != nil || len(rep.Backlog) > 0 {
		t.Errorf("the contract's own workloads ran with m3ter: per-record %v, ingest %v, backlog %v", r.PerRecord, rep.Ingest, rep.Backlog)
	}
	var table bytes.Buffer
	if err := bench.WriteReport(&table, &rep, false); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"billing  m3ter", "m3ter: ", "calls by billsync"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

// runBench runs `billsync bench --json` with args and a fresh --data
// directory, and returns the report it printed.
func runBench(t *testing.T, args ...string) bench.Report {
	t.Helper()
	var out, errw bytes.Buffer
	root := newRootCmd(&out, &errw)
	root.AddCommand(newBenchCmd(&globals{out: &out, err: &errw, logLevel: "warn"}))
	root.SetArgs(append([]string{"bench", "--json", "--log-level", "warn", "--data", t.TempDir()}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, errw.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &rep); err != nil {
		t.Fatalf("--json printed %q: %v", out.String(), err)
	}
	return rep
}
