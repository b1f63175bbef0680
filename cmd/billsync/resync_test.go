package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminview"
)

// scriptedResyncer plays a resync through a fixed series of reports, one
// per poll, the last one repeated.
type scriptedResyncer struct {
	mu       sync.Mutex
	reqs     []billsync.ResyncRequest
	steps    []billsync.ResyncReport
	polls    int
	failFrom int   // polls from this one (1-based) fail with failErr...
	failN    int   // ...this many times
	failErr  error // e.g. EUNAVAILABLE
	onPoll   func(n int)
}

func (r *scriptedResyncer) StartResync(_ context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return &billsync.ResyncReport{ID: "rs-1", Request: req, State: adminview.ResyncRunning, Started: time.Now()}, nil
}

func (r *scriptedResyncer) Resync(_ context.Context, id string) (*billsync.ResyncReport, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if id != "rs-1" {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no resync %q", id)
	}
	r.polls++
	if r.onPoll != nil {
		r.onPoll(r.polls)
	}
	if r.failErr != nil && r.polls >= r.failFrom && r.polls < r.failFrom+r.failN {
		return nil, r.failErr
	}
	rep := r.steps[min(r.polls, len(r.steps))-1]
	rep.ID = "rs-1"
	if len(r.reqs) > 0 {
		rep.Request = r.reqs[len(r.reqs)-1]
	}
	return &rep, nil
}

func (r *scriptedResyncer) requests() []billsync.ResyncRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]billsync.ResyncRequest(nil), r.reqs...)
}

var (
	resyncStarted = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	resyncDiffs   = []billsync.ResyncDiff{
		{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Kind: billsync.DiffFields, Fields: []string{"name", "phone"}, Action: "would update Salesforce"},
		{Object: billsync.ObjectAccount, BillingID: "acc_9", Kind: billsync.DiffMissingInSalesforce, Action: "would create in Salesforce"},
	}
)

func resyncScript(final billsync.ResyncReport) []billsync.ResyncReport {
	run := billsync.ResyncReport{State: adminview.ResyncRunning, Started: resyncStarted}
	listing := run
	half := run
	half.Total, half.Compared, half.Differences, half.APICalls = 4, 2, 1, 3
	final.Started, final.Finished = resyncStarted, resyncStarted.Add(3*time.Second)
	return []billsync.ResyncReport{listing, half, final}
}

// fast makes the command poll and report at every chance.
var fast = []string{"--poll-interval", "5ms", "--progress-interval", "1ns"}

func TestResyncCmdDryRun(t *testing.T) {
	rs := &scriptedResyncer{steps: resyncScript(billsync.ResyncReport{
		State: adminview.ResyncDone, Total: 4, Compared: 4, Differences: 2, APICalls: 7, Diffs: resyncDiffs,
	})}
	url := startAdminAPI(t, newCLIStore(), nil, rs)

	out, _, err := runCLI(t, newResyncCmd, url, append([]string{"--object", "account", "--dry-run", "--initial"}, fast...)...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := []billsync.ResyncRequest{{Object: billsync.ObjectAccount, DryRun: true, Initial: true}}
	if diff := cmp.Diff(want, rs.requests()); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
	for _, w := range []string{
		"resync rs-1 running: accounts (initial load, dry run, nothing is changed)\n",
		"resync rs-1: listing records, compared 0, 0 differences, 0 API calls",
		"resync rs-1: compared 2/4 (50%), 1 differences, 3 API calls",
		"resync rs-1 done: accounts (initial load, dry run, nothing is changed) in 3s\n",
		"dry run: nothing was changed",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	// The figures and the differences are tables.
	var figures, diffs [][]string
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 4 && f[0] == "4":
			figures = append(figures, f)
		case len(f) > 0 && f[0] == "account":
			diffs = append(diffs, f)
		}
	}
	if d := cmp.Diff([][]string{{"4", "2", "0", "7"}}, figures); d != "" || !strings.Contains(out, "COMPARED  DIFFERENCES  REPAIRS  API CALLS") {
		t.Errorf("figures (-want +got):\n%s\n%s", d, out)
	}
	wantDiffs := [][]string{
		{"account", "acc_1", "001A", "fields_differ", "name,phone", "would", "update", "Salesforce"},
		{"account", "acc_9", "-", "missing_in_salesforce", "-", "would", "create", "in", "Salesforce"},
	}
	if d := cmp.Diff(wantDiffs, diffs); d != "" || !strings.Contains(out, "OBJECT   BILLING ID  SALESFORCE ID  KIND") {
		t.Errorf("differences (-want +got):\n%s\n%s", d, out)
	}
}

func TestResyncCmdJSONKeepsStdoutClean(t *testing.T) {
	rs := &scriptedResyncer{steps: resyncScript(billsync.ResyncReport{
		State: adminview.ResyncDone, Total: 4, Compared: 4, Differences: 2, Repairs: 2, APICalls: 9, Diffs: resyncDiffs,
	})}
	url := startAdminAPI(t, newCLIStore(), nil, rs)

	out, errOut, err := runCLI(t, newResyncCmd, url, append([]string{"--json"}, fast...)...)
	if err != nil {
		t.Fatal(err)
	}
	var rep billsync.ResyncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not one JSON report: %v\n%s", err, out)
	}
	if rep.State != adminview.ResyncDone || rep.Repairs != 2 || len(rep.Diffs) != 2 || rep.Request != (billsync.ResyncRequest{}) {
		t.Errorf("report: %+v", rep)
	}
	if !strings.Contains(errOut, "compared 2/4") {
		t.Errorf("progress should go to stderr with --json:\n%s", errOut)
	}
}

func TestResyncCmdFailedExitsNonZero(t *testing.T) {
	rs := &scriptedResyncer{steps: resyncScript(billsync.ResyncReport{
		State: adminview.ResyncFailed, Total: 4, Compared: 2, Differences: 1, APICalls: 3, Error: "salesforce 503: Service Unavailable",
	})}
	url := startAdminAPI(t, newCLIStore(), nil, rs)

	out, _, err := runCLI(t, newResyncCmd, url, append([]string{"--object", "balance", "--record", "bal_1"}, fast...)...)
	if err == nil || !strings.Contains(err.Error(), "resync rs-1 failed: salesforce 503") {
		t.Fatalf("err %v, want the failure", err)
	}
	for _, w := range []string{"resync rs-1 failed: balance bal_1", "error: salesforce 503", "2 of 4"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
}

func TestResyncCmdRidesOutBriefOutages(t *testing.T) {
	final := billsync.ResyncReport{State: adminview.ResyncDone, Total: 4, Compared: 4}
	rs := &scriptedResyncer{steps: resyncScript(final), failFrom: 2, failN: adminview.MaxPollFailures - 1,
		failErr: billsync.Errorf(billsync.EUNAVAILABLE, "restarting")}
	url := startAdminAPI(t, newCLIStore(), nil, rs)
	out, _, err := runCLI(t, newResyncCmd, url, fast...)
	if err != nil || !strings.Contains(out, "no differences: both sides agree") {
		t.Fatalf("%v\n%s", err, out)
	}

	// A longer outage ends the follow, naming the resync to follow again.
	rs = &scriptedResyncer{steps: resyncScript(final), failFrom: 2, failN: 100,
		failErr: billsync.Errorf(billsync.EUNAVAILABLE, "restarting")}
	url = startAdminAPI(t, newCLIStore(), nil, rs)
	if _, _, err = runCLI(t, newResyncCmd, url, fast...); billsync.ErrorCode(err) != billsync.EUNAVAILABLE || !strings.Contains(err.Error(), "rs-1") {
		t.Errorf("long outage: %v", err)
	}
}

func TestResyncCmdFollow(t *testing.T) {
	rs := &scriptedResyncer{steps: resyncScript(billsync.ResyncReport{State: adminview.ResyncDone, Total: 4, Compared: 4, Repairs: 1, Differences: 1, Diffs: resyncDiffs[:1]})}
	url := startAdminAPI(t, newCLIStore(), nil, rs)
	out, _, err := runCLI(t, newResyncCmd, url, append([]string{"--follow", "rs-1"}, fast...)...)
	if err != nil || !strings.Contains(out, "1 repairs queued") {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := len(rs.requests()); n != 0 {
		t.Errorf("--follow started %d resyncs", n)
	}
	if _, _, err := runCLI(t, newResyncCmd, url, "--follow", "rs-7"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("unknown resync: %v", err)
	}
	if _, _, err := runCLI(t, newResyncCmd, url, "--follow", "rs-1", "--dry-run"); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("--follow with request flags: %v", err)
	}
}

func TestResyncCmdRefusesBadInput(t *testing.T) {
	rs := &scriptedResyncer{steps: resyncScript(billsync.ResyncReport{State: adminview.ResyncDone})}
	url := startAdminAPI(t, newCLIStore(), nil, rs)
	for _, args := range [][]string{
		{"--record", "acc_1"},
		{"--object", "invoice"},
		{"--progress", "fancy"},
		{"--poll-interval", "0s"},
	} {
		if _, _, err := runCLI(t, newResyncCmd, url, args...); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%v: %v, want invalid", args, err)
		}
	}
	if n := len(rs.requests()); n != 0 {
		t.Errorf("bad input started %d resyncs", n)
	}

	// A server without an engine.
	url = startAdminAPI(t, newCLIStore(), nil, nil)
	if _, _, err := runCLI(t, newResyncCmd, url); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("no engine: %v", err)
	}
}

func TestResyncCmdInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	// Interrupt once the command is following a resync that never ends.
	rs := &scriptedResyncer{steps: []billsync.ResyncReport{{State: adminview.ResyncRunning, Started: resyncStarted}},
		onPoll: func(n int) {
			if n == 3 {
				cancel()
			}
		}}
	url := startAdminAPI(t, newCLIStore(), nil, rs)
	var out bytes.Buffer
	g := &globals{out: &out, err: &out}
	cmd := newResyncCmd(g)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetArgs(append([]string{"--server", url, "--token", cliTestToken}, fast...))
	err := cmd.ExecuteContext(ctx)
	if err == nil || !strings.Contains(err.Error(), "billsync resync --follow rs-1") {
		t.Errorf("interrupted: %v", err)
	}
}
