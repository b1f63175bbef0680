package main

import (
	"os"
	"path/filepath"
	"testing"
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
	profile := filepath.Join(t.TempDir(), "heap.pprof")
	rep := runBench(t, "--sf-latency", "1ms",
		"--skip", "ingest,burst,latency,realistic,backlog,initial-transport,initial-collections",
		"--initial-accounts", "20", "--drain-timeout", "60s", "--memprofile", profile)
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
