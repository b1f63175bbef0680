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
	old := benchChildCommand
	benchChildCommand = func(args ...string) (*exec.Cmd, error) {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "BILLSYNC_E2E_CHILD_ARGS="+strings.Join(args, " "))
		return cmd, nil
	}
	t.Cleanup(func() { benchChildCommand = old })

	var out, errw bytes.Buffer
	root := newRootCmd(&out, &errw)
	root.AddCommand(newBenchCmd(&globals{out: &out, err: &errw, logLevel: "warn"}))
	profile := filepath.Join(t.TempDir(), "cpu.pprof")
	root.SetArgs([]string{"bench", "--json", "--log-level", "warn", "--data", t.TempDir(),
		"--records", "20", "--rate", "40", "--duration", "1s", "--sf-latency", "5ms",
		"--backlog", "100,300", "--backlog-window", "300ms", "--backlog-ops", "20",
		"--ingest-clients", "4", "--ingest-duration", "300ms", "--workers", "4",
		"--drain-timeout", "30s", "--cpuprofile", profile})
	if err := root.Execute(); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, errw.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &rep); err != nil {
		t.Fatalf("--json printed %q: %v", out.String(), err)
	}
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
	if rep.Ingest == nil || rep.Ingest.Accepted == 0 || rep.Ingest.Failed != 0 {
		t.Errorf("ingest: %+v", rep.Ingest)
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
		"webhook→Salesforce p99", "durable webhook ingest", "billsync RSS with 1 M queued",
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
	for _, s := range []string{"machine", "create burst", "target", "MISS", "n/a", "backlog"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}
