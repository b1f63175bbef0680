package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/internal/sqlstore"
	"github.com/billsync/billsync/sandbox"
	"github.com/billsync/billsync/sqlitestore"
)

// run runs billsync with args in this process and returns its output.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRootCmd(&out, &errb)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String() + errb.String(), err
}

// TestBackupRestoreUnderLoad backs up the store while serve syncs a
// burst, lets more changes land after the backup, kills serve, restores
// the older backup and restarts: the Salesforce events since the backup
// replay, a resync finds what billing sent after it, and everything
// converges with nothing lost and nothing applied twice (no record
// created twice, no billing record written again).
func TestBackupRestoreUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped in -short mode")
	}
	t.Parallel()
	h := startHarness(t, sandbox.Options{NoApp: true})
	dir := t.TempDir()
	data := filepath.Join(dir, "billsync")
	c := h.startChild(data)
	ctx := context.Background()

	var accs []billsync.Entity
	sfIDs := map[string]string{} // billing id → Salesforce id
	wantName := map[string]string{}
	create := func(prefix string, n int) []billsync.Entity {
		var out []billsync.Entity
		for i := range n {
			a := h.create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("%s%02d", prefix, i), "name": fmt.Sprintf("%s %d", prefix, i), "currency": "USD"})
			wantName[a.ID()] = a.Str("name")
			out = append(out, a)
		}
		accs = append(accs, out...)
		return out
	}
	sfEdit := func(a billsync.Entity, name string) {
		h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": sfIDs[a.ID()], "Name": name})
		wantName[a.ID()] = name
	}
	waitAll := func() {
		for _, a := range accs {
			rec := h.sfRecord("BillingAccount__c", a.ID(), nil)
			sfIDs[a.ID()] = rec.ID()
		}
		for _, a := range accs {
			want := wantName[a.ID()]
			h.billingRecord(billsync.ObjectAccount, a.ID(), func(e billsync.Entity) bool { return e.Str("name") == want })
			h.sfRecord("BillingAccount__c", a.ID(), func(r billsync.SObject) bool { return r.Str("Name") == want })
		}
	}

	// Before the backup: synced, and edited in Salesforce once.
	before := create("Before", 6)
	waitAll()
	for i, a := range before {
		sfEdit(a, fmt.Sprintf("Before edited %d", i))
	}
	waitAll()

	// The backup runs while a burst is being synced.
	create("Burst", 20)
	for i, a := range before[:3] {
		sfEdit(a, fmt.Sprintf("During %d", i))
	}
	backup := filepath.Join(dir, "backup.db")
	if out, err := runCmd(t, "backup", backup, "--data", data); err != nil {
		t.Fatalf("backup: %v\n%s", err, out)
	}

	// After the backup: more creates and edits, all synced before the
	// crash, so the restored store is behind both sides.
	after := create("After", 6)
	waitAll()
	for i, a := range before[3:] {
		sfEdit(a, fmt.Sprintf("After edited %d", i))
	}
	waitAll()
	if out, err := runCmd(t, "restore", backup, "--data", data); err == nil || !strings.Contains(out+err.Error(), "stop it first") {
		t.Fatalf("restore while serve runs: %v\n%s", err, out)
	}
	writes := map[string]int{}
	for _, a := range accs {
		writes[a.ID()] = h.sb.Billing.Writes(a.ID())
	}
	c.kill()

	out, err := runCmd(t, "restore", backup, "--data", data)
	if err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if !strings.Contains(out, "replaced store is kept") {
		t.Errorf("restore output: %s", out)
	}
	// The restored store is the older one: it knows nothing of the
	// accounts created after the backup.
	restored, err := sqlitestore.Open(ctx, filepath.Join(data, "billsync.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := restored.SyncState(ctx, billsync.ObjectAccount, after[0].ID()); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("the restored store has the sync state of an account created after the backup: %+v, %v", st, err)
	}
	if st, err := restored.SyncState(ctx, billsync.ObjectAccount, before[0].ID()); err != nil || st == nil {
		t.Fatalf("the restored store lacks an account synced before the backup: %v", err)
	}
	restored.Close()

	c = h.startChild(data)
	admin := adminclient.New(c.url, sandbox.AdminToken, nil)
	// The first start after a restore resyncs by itself.
	var resyncID string
	h.eventually("the resync after the restore started", func() (bool, string) {
		st, err := sqlitestore.Open(ctx, filepath.Join(data, "billsync.db"), sqlitestore.Options{})
		if err != nil {
			return false, err.Error()
		}
		defer st.Close()
		resyncID, _, err = st.Meta(ctx, billsync.MetaRestoreResync)
		return resyncID != "", fmt.Sprint(err)
	})
	h.eventually("the resync", func() (bool, string) {
		r, err := admin.Resync(ctx, resyncID)
		if err != nil {
			return false, err.Error()
		}
		return r.State != "running", r.State
	})
	h.eventually("queue drained", func() (bool, string) {
		st, err := admin.Queue(ctx)
		if err != nil {
			return false, err.Error()
		}
		return h.sb.Billing.Pending() == 0 && st.Pending == 0 && st.Running == 0, fmt.Sprintf("webhooks %d, queue %+v", h.sb.Billing.Pending(), st)
	})
	waitAll()

	// Nothing doubled: one Salesforce record per account, and no billing
	// account written again by the replay or the resync.
	seen := map[string]int{}
	for _, r := range h.sb.SF.Records("BillingAccount__c") {
		seen[r.Str("BillingId__c")]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%d Salesforce records for billing account %s", n, id)
		}
	}
	if len(seen) != len(accs) {
		t.Errorf("%d accounts in Salesforce, want %d", len(seen), len(accs))
	}
	for _, a := range accs {
		if got := h.sb.Billing.Writes(a.ID()); got != writes[a.ID()] {
			t.Errorf("billing account %s (%s) written %d times after the restore", a.ID(), wantName[a.ID()], got-writes[a.ID()])
		}
	}
}

// TestServeRefusesNewerSchema: billsync does not start on a store a newer
// build migrated, and says which versions meet.
func TestServeRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	ctx := context.Background()
	s, err := sqlitestore.Open(ctx, filepath.Join(data, "billsync.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// A newer build's migration, recorded as it records its own.
	db, err := sql.Open("sqlite", filepath.Join(data, "billsync.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(sqlstore.InsertMigrationSQL, 99, "0099_future", 0); err != nil {
		t.Fatal(err)
	}
	db.Close()

	cfg := DefaultConfig()
	cfg.Addr, cfg.Data = "127.0.0.1:0", data
	cfg.Salesforce.ClientID, cfg.Salesforce.ClientSecret = "id", "secret"
	cfg.Salesforce.Username, cfg.Salesforce.Password = "user", "password"
	cfg.Billing.URL, cfg.Billing.Token, cfg.Billing.WebhookSecret = "http://127.0.0.1:1", "token", "whsec_c2VjcmV0"
	cfg.AdminTokens = map[string]string{"ops": "admin"}
	app, err := StartApp(ctx, cfg, testLogger(t))
	if err == nil {
		app.Close()
		t.Fatal("billsync started on a newer schema")
	}
	want := fmt.Sprintf("schema version 99, newer than this build knows (%d)", sqlitestore.LatestSchemaVersion())
	if !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to say %q", err, want)
	}
}
