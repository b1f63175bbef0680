package storetest

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// UpgradeEngine is an engine as the upgrade tests need it.
type UpgradeEngine struct {
	// Migrations is the engine's whole schema, in version order, as its
	// Open applies it.
	Migrations []sqlstore.Migration
	// Fresh returns an empty database and a function that opens the
	// store on it (migrating it to the latest version). The suite closes
	// the database before it calls open; open's store is closed by the
	// suite too.
	Fresh func(t *testing.T) (db *sql.DB, open func() (billsync.Store, error))
}

// fixtureTime is when the fixtures' rows were written: unix nanoseconds,
// as every schema version stores times.
const fixtureTime = int64(1_700_000_000_000_000_000)

// fixture is data written by the SQL of the schema version it first
// appeared in, and what the latest store must read back from it.
type fixture struct {
	since int // the schema version whose tables the rows need
	// until is the last version whose tables take the rows as written (a
	// later one changed a column's type); 0 for every version since.
	until  int
	name   string
	insert []string
	check  func(t *testing.T, s billsync.Store)
}

// at reports whether the fixture's rows go into a store at version k.
func (f fixture) at(k int) bool { return f.since <= k && (f.until == 0 || k <= f.until) }

// Upgrades builds a store at every earlier schema version with the
// older migrations themselves (1..k, recorded as Open records them), fills
// it with rows written in that version's SQL, opens it with this build,
// which migrates it to the latest version, and checks that every row reads
// back and the store works. A migration added without a fixture for its
// tables fails here, so the next upgrade is tested too.
func Upgrades(t *testing.T, e UpgradeEngine) {
	t.Helper()
	latest := len(e.Migrations)
	covered := map[int]bool{}
	for _, f := range fixtures {
		covered[f.since] = true
	}
	for v := 1; v <= latest; v++ {
		if !covered[v] {
			t.Errorf("schema version %d has no upgrade fixture: add one to storetest/upgrade.go with rows in its tables", v)
		}
	}
	// k = latest reopens a store at the latest version, so the newest
	// fixtures run before a newer migration exists.
	for k := 1; k <= latest; k++ {
		t.Run(fmt.Sprintf("from_version_%d", k), func(t *testing.T) {
			ctx := context.Background()
			db, open := e.Fresh(t)
			applyMigrations(t, db, e.Migrations[:k])
			for _, f := range fixtures {
				if !f.at(k) {
					continue
				}
				for _, q := range f.insert {
					if _, err := db.ExecContext(ctx, q); err != nil {
						t.Fatalf("fixture %s at version %d: %v\n%s", f.name, k, err, q)
					}
				}
			}
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			opened, err := open()
			s := Opened(t, opened, err)
			if v, err := s.(interface {
				SchemaVersion(context.Context) (int, error)
			}).SchemaVersion(ctx); err != nil || v != latest {
				t.Fatalf("after the upgrade: schema version %d, %v; want %d", v, err, latest)
			}
			for _, f := range fixtures {
				if f.at(k) {
					t.Run(f.name, func(t *testing.T) { f.check(t, s) })
				}
			}
			checkWorks(t, s)
		})
	}
}

// applyMigrations brings db to the version of ms's last migration as the
// store's own migrate does: the record table, then each file and its
// record.
func applyMigrations(t *testing.T, db *sql.DB, ms []sqlstore.Migration) {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, sqlstore.CreateMigrationsSQL); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			t.Fatalf("migration %s: %v", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, sqlstore.InsertMigrationSQL, m.Version, m.Name, fixtureTime); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

// checkWorks uses the upgraded store: a write and a claim on every
// version's tables.
func checkWorks(t *testing.T, s billsync.Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, &billsync.Change{Partition: "account:new", Source: billsync.SideBilling, Object: billsync.ObjectAccount,
		Op: billsync.OpUpdated, RecordID: "acc_new", EventID: "evt_after_upgrade"}); err != nil {
		t.Fatalf("enqueue after the upgrade: %v", err)
	}
	if ok, err := s.TryLease(ctx, "upgrade-test", "me", time.Minute); err != nil || !ok {
		t.Fatalf("lease after the upgrade: %v, %v", ok, err)
	}
	if err := s.PutSyncState(ctx, &billsync.SyncState{Object: billsync.ObjectAccount, BillingID: "acc_new", AccountID: "acc_new"}); err != nil {
		t.Fatalf("sync state after the upgrade: %v", err)
	}
}

// fixtures are written in the SQL of the version they name; strings are
// plain literals both engines read alike.
var fixtures = []fixture{
	{since: 1, name: "settings", insert: []string{
		fmt.Sprintf(`INSERT INTO settings (key, value, updated_at, updated_by) VALUES ('conflicts.account', '"manual"', %d, 'fixture')`, fixtureTime),
		fmt.Sprintf(`INSERT INTO settings_audit (at, actor, key, old_value, new_value) VALUES (%d, 'fixture', 'conflicts.account', NULL, '"manual"')`, fixtureTime),
	}, check: func(t *testing.T, s billsync.Store) {
		ss, err := s.Settings(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range ss {
			if st.Key == "conflicts.account" && string(st.Value) == `"manual"` && st.UpdatedBy == "fixture" {
				a, err := s.Audit(context.Background(), 10)
				if err != nil || len(a) != 1 || a[0].Actor != "fixture" {
					t.Fatalf("audit %+v, %v", a, err)
				}
				return
			}
		}
		t.Fatalf("settings %+v", ss)
	}},
	{since: 1, name: "sync_state", insert: []string{
		fmt.Sprintf(`INSERT INTO sync_state (object, billing_id, salesforce_id, account_id, billing_version, agreed, updated_at)
			VALUES ('account', 'acc_fix', 'a00000000000001AAA', 'acc_fix', 7, '{"name":"Fixture Inc"}', %d)`, fixtureTime),
		fmt.Sprintf(`INSERT INTO sync_state (object, billing_id, salesforce_id, account_id, updated_at)
			VALUES ('balance', 'bal_unmapped', NULL, 'acc_fix', %d)`, fixtureTime),
	}, check: func(t *testing.T, s billsync.Store) {
		st, err := s.SyncState(context.Background(), billsync.ObjectAccount, "acc_fix")
		if err != nil {
			t.Fatal(err)
		}
		if st.SalesforceID != "a00000000000001AAA" || st.BillingVersion != 7 || st.Agreed["name"] != "Fixture Inc" ||
			!st.UpdatedAt.Equal(time.Unix(0, fixtureTime)) {
			t.Fatalf("sync state %+v", st)
		}
		if st, err := s.SyncStateBySalesforceID(context.Background(), "a00000000000001AAA"); err != nil || st.BillingID != "acc_fix" {
			t.Fatalf("by Salesforce id: %+v, %v", st, err)
		}
		if st, err := s.SyncState(context.Background(), billsync.ObjectBalance, "bal_unmapped"); err != nil || st.SalesforceID != "" {
			t.Fatalf("unmapped: %+v, %v", st, err)
		}
	}},
	{since: 1, name: "sync_log", insert: []string{
		fmt.Sprintf(`INSERT INTO sync_log (at, direction, object, billing_id, salesforce_id, operation, outcome, reason, message, attempt, latency_ns, event_id, change_id)
			VALUES (%d, 'billing_to_salesforce', 'account', 'acc_fix', 'a00000000000001AAA', 'update', 'success', '', 'fixture log', 1, 1500, 'evt_logged', 3)`, fixtureTime),
	}, check: func(t *testing.T, s billsync.Store) {
		es, _, err := s.Logs(context.Background(), billsync.LogFilter{Record: "acc_fix"})
		if err != nil || len(es) != 1 {
			t.Fatalf("logs %+v, %v", es, err)
		}
		e := es[0]
		if e.Message != "fixture log" || e.Outcome != billsync.OutcomeSuccess || e.Latency != 1500 || e.EventID != "evt_logged" || e.ChangeID != 3 {
			t.Fatalf("log entry %+v", e)
		}
	}},
	{since: 4, name: "fences", insert: []string{
		// A change claimed four times before the upgrade, its lease run
		// out: its next claim's token is newer than any handed out, and a
		// write under the last one is refused. Due before the queue
		// fixture's changes, and listed before it, so this check claims it
		// first and alone.
		fmt.Sprintf(`INSERT INTO queue (partition_key, state, source, object, op, record_id, event_id, payload, occurred_at, enqueued_at, attempt, last_error, next_at, lease_until, due_at, fence)
			VALUES ('account:acc_fenced', 'running', 'billing', 'account', 'updated', 'acc_fenced', 'evt_fenced', NULL, %d, %d, 4, '', %d, %d, %d, 4)`,
			fixtureTime, fixtureTime, fixtureTime, fixtureTime-1, fixtureTime-1),
	}, check: func(t *testing.T, s billsync.Store) {
		ctx := context.Background()
		runs, err := s.ClaimRuns(ctx, 1, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got *billsync.Change
		for _, r := range runs {
			for i := range r {
				if r[i].EventID == "evt_fenced" {
					got = &r[i]
				}
			}
		}
		if got == nil || got.Fence != 5 || got.Attempt != 5 {
			t.Fatalf("re-claimed %+v, want evt_fenced with fence 5 on attempt 5", got)
		}
		stale := *got
		stale.Fence = 4
		if err := s.Complete(billsync.Fenced(ctx, stale), got.ID); !errors.Is(err, billsync.ErrLeaseLost) {
			t.Fatalf("Complete under the pre-upgrade claim's token: %v, want ErrLeaseLost", err)
		}
		if err := s.Complete(billsync.Fenced(ctx, *got), got.ID); err != nil {
			t.Fatal(err)
		}
	}},
	{since: 1, name: "queue", insert: []string{
		fmt.Sprintf(`INSERT INTO queue (partition_key, state, source, object, op, record_id, event_id, payload, occurred_at, enqueued_at, attempt, last_error, next_at, due_at)
			VALUES ('account:acc_fix', 'pending', 'billing', 'account', 'updated', 'acc_fix', 'evt_queued', NULL, %d, %d, 2, 'timeout', %d, %d)`,
			fixtureTime, fixtureTime, fixtureTime, fixtureTime),
		fmt.Sprintf(`INSERT INTO queue (partition_key, state, source, object, op, record_id, event_id, payload, occurred_at, enqueued_at, attempt, last_error, next_at)
			VALUES ('account:acc_fix', 'pending', 'billing', 'account', 'updated', 'acc_fix', 'evt_queued_2', NULL, %d, %d, 0, '', %d)`,
			fixtureTime, fixtureTime, fixtureTime),
		// Seen recently: older ids are pruned after the seen retention.
		fmt.Sprintf(`INSERT INTO seen_events (event_id, seen_at) VALUES ('evt_queued', %[1]d), ('evt_queued_2', %[1]d), ('evt_done', %[1]d)`, time.Now().UnixNano()),
	}, check: func(t *testing.T, s billsync.Store) {
		ctx := context.Background()
		runs, err := s.ClaimRuns(ctx, 10, 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range runs {
			for _, c := range r {
				if c.Partition == "account:acc_fix" {
					got = append(got, fmt.Sprintf("%s/%d/%s", c.EventID, c.Attempt, c.LastError))
				}
			}
		}
		if want := "[evt_queued/3/timeout evt_queued_2/1/]"; fmt.Sprint(got) != want {
			t.Fatalf("claimed %v, want %s", got, want)
		}
		dup, err := s.Enqueue(ctx, &billsync.Change{Partition: "account:acc_fix", Source: billsync.SideBilling, Object: billsync.ObjectAccount,
			Op: billsync.OpUpdated, RecordID: "acc_fix", EventID: "evt_done", Payload: json.RawMessage(`{}`)})
		if err != nil || len(dup) != 1 || !dup[0] {
			t.Fatalf("an event seen before the upgrade was enqueued again: %v, %v", dup, err)
		}
	}},
	{since: 1, name: "dead_letters", insert: []string{
		fmt.Sprintf(`INSERT INTO dead_letters (id, partition_key, source, object, op, record_id, event_id, payload, occurred_at, enqueued_at, attempt, last_error, dead_at, error_code, error_message)
			VALUES (900, 'account:acc_dead', 'salesforce', 'account', 'updated', 'a00000000000002AAA', 'evt_dead', NULL, %d, %d, 5, 'boom', %d, 'INVALID_FIELD', 'no such field')`,
			fixtureTime, fixtureTime, fixtureTime),
	}, check: func(t *testing.T, s billsync.Store) {
		ds, err := s.DeadLetters(context.Background(), 10)
		if err != nil || len(ds) != 1 || ds[0].ID != 900 || ds[0].ErrorCode != "INVALID_FIELD" || ds[0].Attempt != 5 {
			t.Fatalf("dead letters %+v, %v", ds, err)
		}
	}},
	{since: 1, until: 5, name: "integer_checkpoints", insert: []string{
		// Replay ids were integers until version 6: a CometD id, a
		// checkpoint reset to every retained event after a gap, and one
		// past 2^53. Each reads back as its 8 big-endian bytes.
		fmt.Sprintf(`INSERT INTO stream_checkpoints (channel, replay_id, updated_at) VALUES ('/event/BillingObjectChange__e', 4242, %d)`, fixtureTime),
		fmt.Sprintf(`INSERT INTO stream_checkpoints (channel, replay_id, updated_at) VALUES ('/event/Gap__e', -2, %d)`, fixtureTime),
		fmt.Sprintf(`INSERT INTO stream_checkpoints (channel, replay_id, updated_at) VALUES ('/event/Big__e', 9007199254740993, %d)`, fixtureTime),
	}, check: func(t *testing.T, s billsync.Store) {
		for ch, want := range map[string]billsync.ReplayID{"/event/BillingObjectChange__e": billsync.ReplayInt(4242),
			"/event/Gap__e": billsync.ReplayAll, "/event/Big__e": billsync.ReplayInt(9007199254740993)} {
			id, ok, err := s.ReplayID(context.Background(), ch)
			if err != nil || !ok || !id.Equal(want) {
				t.Fatalf("replay id of %s %v, %v, %v; want %v", ch, id, ok, err, want)
			}
		}
	}},
	{since: 1, name: "meta", insert: []string{
		`INSERT INTO meta (key, value) VALUES ('binding.salesforce_org', '00D000000000001AAA')`,
	}, check: func(t *testing.T, s billsync.Store) {
		v, ok, err := s.Meta(context.Background(), billsync.MetaSalesforceOrg)
		if err != nil || !ok || v != "00D000000000001AAA" {
			t.Fatalf("meta %q, %v, %v", v, ok, err)
		}
	}},
	{since: 2, name: "conflicts", insert: []string{
		fmt.Sprintf(`INSERT INTO conflicts (at, object, billing_id, salesforce_id, fields, policy, status, billing_changed_at, salesforce_changed_at, change_id, event_id)
			VALUES (%d, 'account', 'acc_fix', 'a00000000000001AAA', '[{"field":"name","agreed":"A","billing":"B","salesforce":"S"}]', 'manual', 'held', %d, %d, 3, 'evt_conflict')`,
			fixtureTime, fixtureTime, fixtureTime),
	}, check: func(t *testing.T, s billsync.Store) {
		c, err := s.HeldConflict(context.Background(), billsync.ObjectAccount, "acc_fix")
		if err != nil || c == nil {
			t.Fatalf("held conflict: %v", err)
		}
		if len(c.Fields) != 1 || c.Fields[0].Salesforce != "S" || c.Policy != "manual" || !c.ResolvedAt.IsZero() {
			t.Fatalf("conflict %+v", c)
		}
	}},
	{since: 3, name: "leases", insert: []string{
		fmt.Sprintf(`INSERT INTO leases (name, owner, expires_at) VALUES ('subscription', 'old-replica', %d)`, time.Now().Add(time.Hour).UnixNano()),
	}, check: func(t *testing.T, s billsync.Store) {
		if ok, err := s.TryLease(context.Background(), "subscription", "new-replica", time.Minute); err != nil || ok {
			t.Fatalf("a lease held before the upgrade was taken over: %v, %v", ok, err)
		}
	}},
	{since: 5, name: "held_runs", insert: []string{
		fmt.Sprintf(`INSERT INTO held_runs (created_at, kind, job, object, state, changes, summary)
			VALUES (%d, 'resync', 'rs_fix', 'balance', 'pending', 1, '{"guard":{"object":"balance","total":10,"deletes":8,"held":true},"sample":[{"op":"delete","billingId":"bal_fix","action":"delete in Salesforce"}]}')`, fixtureTime),
		`INSERT INTO held_changes (run_id, seq, change) SELECT id, 0, '{"partition":"sfrecord:a01000000000000009","source":"salesforce","object":"balance","op":"resync","recordId":"a01000000000000009","eventId":"resync:rs_fix:balance:a01000000000000009","payload":{"job":"rs_fix"}}' FROM held_runs WHERE job = 'rs_fix'`,
	}, check: func(t *testing.T, s billsync.Store) {
		ctx := context.Background()
		runs, err := s.HeldRuns(ctx, billsync.HeldRunFilter{State: billsync.HeldPending})
		if err != nil || len(runs) != 1 {
			t.Fatalf("held runs %+v, %v", runs, err)
		}
		r, err := s.HeldRun(ctx, runs[0].ID)
		if err != nil || r.State != billsync.HeldPending || r.Guard.Deletes != 8 || len(r.Sample) != 1 || r.Sample[0].BillingID != "bal_fix" ||
			!r.Created.Equal(time.Unix(0, fixtureTime)) {
			t.Fatalf("held run %+v, %v", r, err)
		}
		if _, err := s.ApproveHeldRun(ctx, r.ID, "upgrade-test"); err != nil {
			t.Fatalf("approving a run held before the upgrade: %v", err)
		}
		claimed, err := s.ClaimRuns(ctx, 100, 100, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, run := range claimed {
			for _, c := range run {
				if c.EventID == "resync:rs_fix:balance:a01000000000000009" && string(c.Payload) == `{"job":"rs_fix"}` {
					return
				}
			}
		}
		t.Fatalf("the approved run's change was not queued: %+v", claimed)
	}},
	{since: 6, name: "replay_bytes", insert: []string{
		// An opaque Pub/Sub replay id; printable bytes, so one literal
		// means the same bytes to both engines.
		fmt.Sprintf(`INSERT INTO stream_checkpoints (channel, replay_id, updated_at) VALUES ('/event/Opaque__e', 'replay:0001', %d)`, fixtureTime),
	}, check: func(t *testing.T, s billsync.Store) {
		ctx := context.Background()
		id, ok, err := s.ReplayID(ctx, "/event/Opaque__e")
		if err != nil || !ok || string(id) != "replay:0001" {
			t.Fatalf("replay id %q, %v, %v", id, ok, err)
		}
		next := billsync.ReplayID{0, 0, 0, 0, 0, 43, 167, 43, 0, 0}
		if _, err := s.EnqueueStreamEvent(ctx, "/event/Opaque__e", next, nil); err != nil {
			t.Fatal(err)
		}
		if id, _, err := s.ReplayID(ctx, "/event/Opaque__e"); err != nil || !id.Equal(next) {
			t.Fatalf("replay id after the upgrade %v, %v; want %v", id, err, next)
		}
	}},
}
