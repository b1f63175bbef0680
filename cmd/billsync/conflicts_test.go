package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/mock"
)

// These tests run the admin commands against the real admin API, built
// from httpserver over an in-memory store, with no sandbox behind it.

const cliTestToken = "cli-test-token"

var cliTestNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// startAdminAPI serves the admin API over st, with the given engine parts
// (either may be nil).
func startAdminAPI(t *testing.T, st *mock.Store, res billsync.ConflictResolver, rs billsync.Resyncer) string {
	t.Helper()
	srv, err := httpserver.New(httpserver.Config{
		Webhooks: refuseWebhooks{}, Queue: st,
		Settings: st, Logs: st, DeadLetters: st, Conflicts: st,
		AdminTokens: map[string]string{cliTestToken: "ops"},
		Resolver:    res,
		Resyncer:    rs,
		Clock:       func() time.Time { return cliTestNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return ts.URL
}

type refuseWebhooks struct{}

func (refuseWebhooks) Verify(http.Header, []byte) (string, error) {
	return "", billsync.Errorf(billsync.EUNAUTHORIZED, "no webhooks in this test")
}

func (refuseWebhooks) Decode(string, []byte, time.Time) ([]*billsync.Change, error) {
	return nil, billsync.Errorf(billsync.EINVALID, "no webhooks in this test")
}

// runCLI runs one command as the user would, with --server and --token
// added, and returns what it printed.
func runCLI(t *testing.T, newCmd func(*globals) *cobra.Command, url string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errw bytes.Buffer
	g := &globals{out: &out, err: &errw}
	cmd := newCmd(g)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	cmd.SetOut(&out)
	cmd.SetErr(&errw)
	cmd.SetArgs(append(args, "--server", url, "--token", cliTestToken))
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = cmd.ExecuteContext(ctx)
	return out.String(), errw.String(), err
}

// newCLIStore is an empty store on the tests' clock.
func newCLIStore() *mock.Store {
	return &mock.Store{Now: func() time.Time { return cliTestNow }}
}

// cliResolver plays the engine's part in resolving a held conflict.
func cliResolver(st *mock.Store) billsync.ConflictResolver {
	return &mock.ConflictResolver{ResolveConflictFn: func(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
		return st.ResolveConflict(ctx, id, winner, actor, cliTestNow)
	}}
}

func seededCLIStore(t *testing.T) *mock.Store {
	t.Helper()
	st := newCLIStore()
	for i, c := range []billsync.Conflict{
		{Object: billsync.ObjectAccount, BillingID: "acc_1", SalesforceID: "001A", Status: billsync.ConflictResolved, Policy: "latest-wins",
			Winner: billsync.SideBilling, ResolvedBy: "policy:latest-wins",
			Fields: []billsync.ConflictField{{Field: "name", Agreed: "Acme", Billing: "Acme Ltd", Salesforce: "ACME"}}},
		{Object: billsync.ObjectBalance, BillingID: "bal_1", SalesforceID: "a01B", Status: billsync.ConflictHeld, Policy: "manual",
			Fields: []billsync.ConflictField{{Field: "limit", Agreed: "100.00", Billing: "150.00", Salesforce: "120.00"}}},
		{Object: billsync.ObjectAccount, BillingID: "acc_2", SalesforceID: "001C", Status: billsync.ConflictHeld, Policy: "manual",
			Fields: []billsync.ConflictField{
				{Field: "name", Agreed: "Globex", Billing: "Globex Corp", Salesforce: ""},
				{Field: "phone", Agreed: "1", Billing: "2", Salesforce: "3"},
			}},
	} {
		c.Time = cliTestNow.Add(time.Duration(i) * time.Minute) // ids 1 to 3
		if err := st.AddConflict(context.Background(), &c); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// tableRows splits a table's output into rows of fields.
func tableRows(out string) [][]string {
	var rows [][]string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		rows = append(rows, strings.Fields(line))
	}
	return rows
}

func TestConflictsListCmd(t *testing.T) {
	st := seededCLIStore(t)
	url := startAdminAPI(t, st, nil, nil)

	out, _, err := runCLI(t, newConflictsCmd, url, "list")
	if err != nil {
		t.Fatal(err)
	}
	rows := tableRows(out)
	if len(rows) != 4 || rows[0][0] != "ID" {
		t.Fatalf("table:\n%s", out)
	}
	var ids []string
	for _, r := range rows[1:] {
		ids = append(ids, r[0])
	}
	if diff := cmp.Diff([]string{"3", "2", "1"}, ids); diff != "" {
		t.Errorf("newest first (-want +got):\n%s", diff)
	}
	if want := []string{"3", "2026-03-04T12:02:00.000Z", "account", "acc_2", "001C", "name,phone", "manual", "held", "-", "-"}; !cmp.Equal(want, rows[1]) {
		t.Errorf("row for 3:\n got %q\nwant %q", rows[1], want)
	}

	out, _, err = runCLI(t, newConflictsCmd, url, "list", "--held", "--object", "account")
	if err != nil {
		t.Fatal(err)
	}
	if rows := tableRows(out); len(rows) != 2 || rows[1][0] != "3" {
		t.Errorf("held accounts:\n%s", out)
	}

	out, _, err = runCLI(t, newConflictsCmd, url, "list", "--record", "a01B", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []billsync.Conflict
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out)
	}
	if len(list) != 1 || list[0].ID != 2 || list[0].Fields[0].Billing != "150.00" {
		t.Errorf("by record: %+v", list)
	}

	// Paging with --all collects every page.
	out, _, err = runCLI(t, newConflictsCmd, url, "list", "--limit", "1", "--all", "--json")
	if err != nil {
		t.Fatal(err)
	}
	list = nil
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 {
		t.Errorf("--all: %d conflicts, %v", len(list), err)
	}

	// No match is an empty JSON list, not null.
	out, _, err = runCLI(t, newConflictsCmd, url, "list", "--record", "nobody", "--json")
	if err != nil || strings.TrimSpace(out) != "[]" {
		t.Errorf("no match: %q, %v", out, err)
	}

	for _, args := range [][]string{
		{"list", "--object", "invoice"},
		{"list", "--limit", "0"},
	} {
		if _, _, err := runCLI(t, newConflictsCmd, url, args...); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%v: %v, want invalid", args, err)
		}
	}
}

func TestConflictsShowCmd(t *testing.T) {
	url := startAdminAPI(t, seededCLIStore(t), nil, nil)

	out, _, err := runCLI(t, newConflictsCmd, url, "show", "3")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Billing ID          acc_2",
		"Status              held",
		`name   "Globex"  "Globex Corp"  ""`,
		`phone  "1"       "2"            "3"`,
		"billsync conflicts resolve 3 --winner billing|salesforce",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	out, _, err = runCLI(t, newConflictsCmd, url, "show", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Resolved by         policy:latest-wins") || strings.Contains(out, "conflicts resolve") {
		t.Errorf("a resolved conflict:\n%s", out)
	}

	out, _, err = runCLI(t, newConflictsCmd, url, "show", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var c billsync.Conflict
	if err := json.Unmarshal([]byte(out), &c); err != nil || c.ID != 2 || c.Object != billsync.ObjectBalance {
		t.Errorf("JSON: %+v, %v", c, err)
	}

	if _, _, err := runCLI(t, newConflictsCmd, url, "show", "99"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("missing: %v", err)
	}
	if _, _, err := runCLI(t, newConflictsCmd, url, "show", "x"); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad id: %v", err)
	}
	if _, _, err := runCLI(t, newConflictsCmd, url, "show"); err == nil {
		t.Error("show without an id succeeded")
	}
}

func TestConflictsResolveCmd(t *testing.T) {
	st := seededCLIStore(t)
	url := startAdminAPI(t, st, cliResolver(st), nil)

	out, _, err := runCLI(t, newConflictsCmd, url, "resolve", "3", "--winner", "salesforce")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "conflict 3: salesforce wins") {
		t.Errorf("output: %s", out)
	}
	c, _ := st.Conflict(context.Background(), 3)
	if c.Status != billsync.ConflictResolved || c.Winner != billsync.SideSalesforce || c.ResolvedBy != "ops" {
		t.Errorf("stored: %+v", c)
	}

	out, _, err = runCLI(t, newConflictsCmd, url, "resolve", "2", "--winner", "billing", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got billsync.Conflict
	if err := json.Unmarshal([]byte(out), &got); err != nil || got.Winner != billsync.SideBilling {
		t.Errorf("JSON: %+v, %v", got, err)
	}

	for _, tc := range []struct {
		args []string
		code string
	}{
		{[]string{"resolve", "3", "--winner", "billing"}, billsync.ECONFLICT},
		{[]string{"resolve", "42", "--winner", "billing"}, billsync.ENOTFOUND},
		{[]string{"resolve", "1", "--winner", "both"}, billsync.EINVALID},
		{[]string{"resolve", "0", "--winner", "billing"}, billsync.EINVALID},
	} {
		if _, _, err := runCLI(t, newConflictsCmd, url, tc.args...); billsync.ErrorCode(err) != tc.code {
			t.Errorf("%v: %v, want %s", tc.args, err, tc.code)
		}
	}
	if _, _, err := runCLI(t, newConflictsCmd, url, "resolve", "1"); err == nil || !strings.Contains(err.Error(), "winner") {
		t.Errorf("no --winner: %v", err)
	}

	// A server without an engine says so.
	url = startAdminAPI(t, seededCLIStore(t), nil, nil)
	if _, _, err := runCLI(t, newConflictsCmd, url, "resolve", "2", "--winner", "billing"); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("no engine: %v", err)
	}
}
