package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/billsync/billsync/bench"
)

// TestBenchInitialMemprofile runs only the initial load through billsync
// with Bulk ingest on (the transport figures and the load with Bulk ingest
// off skipped) and --memprofile: the heap profile is written and the
// emulators' heap and peak RSS are reported.
func TestBenchInitialMemprofile(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes: skipped in -short mode")
	}
	benchChildIsTestBinary(t)
	var out, errw bytes.Buffer
	root := newRootCmd(&out, &errw)
	root.AddCommand(newBenchCmd(&globals{out: &out, err: &errw, logLevel: "warn"}))
	profile := filepath.Join(t.TempDir(), "heap.pprof")
	root.SetArgs([]string{"bench", "--json", "--log-level", "warn", "--data", t.TempDir(), "--sf-latency", "1ms",
		"--skip", "ingest,burst,latency,realistic,backlog,initial-transport,initial-collections",
		"--initial-accounts", "20", "--drain-timeout", "60s", "--memprofile", profile})
	if err := root.Execute(); err != nil {
		t.Fatalf("bench: %v\nstderr:\n%s", err, errw.String())
	}
	var rep bench.Report
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &rep); err != nil {
		t.Fatalf("--json printed %q: %v", out.String(), err)
	}
	in := rep.Initial
	if in == nil || in.Billsync == nil || len(rep.Errors) > 0 {
		t.Fatalf("initial load: %+v, errors %v", in, rep.Errors)
	}
	if in.Collections.APICalls != 0 || in.Billsync.Collections.Seconds != 0 {
		t.Errorf("skipped legs ran: transport %+v, through billsync with Bulk ingest off %+v", in.Collections, in.Billsync.Collections)
	}
	if f := in.Billsync.Bulk; f.Seconds <= 0 || f.EmulatorHeapInuseBytes <= 0 {
		t.Errorf("through billsync with Bulk ingest on: %+v", f)
	}
	if st, err := os.Stat(profile); err != nil || st.Size() == 0 {
		t.Errorf("heap profile: %v", err)
	}
}
