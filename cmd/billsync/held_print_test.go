package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// A burst run of live overwrites prints as one: its kind names what it
// holds, its counts and limits, each limit's reason, and each sample
// field with the side written and its old and new value.
func TestPrintHeldBurstOfOverwrites(t *testing.T) {
	r := &billsync.HeldRun{ID: 7, Kind: billsync.HeldKindBurst, Object: billsync.ObjectBalance, State: billsync.HeldPending,
		Created: time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC), Changes: 3,
		Guard: billsync.GuardCheck{Object: billsync.ObjectBalance, Total: 40, Overwrites: 3, Held: true,
			DeleteLimit: billsync.DefaultGuardLimit, OverwriteLimit: billsync.GuardLimit{Percent: 5, Count: 2},
			Reasons: []string{"more than 2 overwrites of balance records within 10m0s, and more than 5% of those synced (guard.overwrites.balance)"}},
		Sample: []billsync.HeldRecord{{Op: billsync.GuardOverwrite, BillingID: "bal_1", SalesforceID: "a02",
			Action: "overwrite amount in salesforce (live change)",
			Fields: []billsync.HeldField{{Field: "amount", Side: billsync.SideSalesforce, Old: "10.00", New: "0.00"}}}}}
	var out bytes.Buffer
	if err := printHeldRun(&out, r, 5); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"held run 7: pending, burst of balance overwrites from live changes",
		"40       0        3           3",
		"10%, at most 500  5%, at most 2",
		"more than 2 overwrites of balance records within 10m0s",
		`overwrite  bal_1       a02            amount "10.00" → "0.00" (in salesforce)`,
		"approve: billsync held approve 7",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in\n%s", want, out.String())
		}
	}
	r.Guard.Deletes = 1
	out.Reset()
	if err := printHeldRun(&out, r, 5); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "burst of balance deletes and overwrites from live changes") {
		t.Errorf("a burst of both:\n%s", out.String())
	}
}

// billsync held with nothing to list says so in words for every state.
func TestHeldNoneToList(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"heldRuns":[]}`))
	}))
	defer srv.Close()
	for state, want := range map[string]string{"all": "no held runs\n", "pending": "no pending held runs\n", "approved": "no approved held runs\n"} {
		var out bytes.Buffer
		g := &globals{out: &out, err: &out}
		cmd := newHeldCmd(g)
		cmd.SetArgs([]string{"--state", state, "--server", srv.URL, "--token", "t"})
		cmd.SetOut(&out)
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		if out.String() != want {
			t.Errorf("--state %s: %q, want %q", state, out.String(), want)
		}
	}
}
