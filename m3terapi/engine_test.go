package m3terapi

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

// These tests run the engine on this client and the fake m3ter, with
// in-memory Salesforce and store: what the adapter declares and
// translates is what the engine needs to sync m3ter both ways.

type rig struct {
	fk    *fakeM3ter
	c     *Client
	store *mock.Store
	org   *mock.Org
	eng   *engine.Engine
	rev   map[string]int64
}

func newRig(t *testing.T, opts map[string]string) *rig {
	t.Helper()
	fk := newFake(t)
	c, _ := fk.client(t, opts)
	if _, err := c.Tenant(ctx(t)); err != nil {
		t.Fatal(err)
	}
	r := &rig{fk: fk, c: c, store: mock.NewStore(), org: mock.NewOrg(), rev: map[string]int64{}}
	eng, err := engine.New(engine.Config{Settings: r.store, State: r.store, Conflicts: r.store, Queue: r.store, CRM: r.org, Billing: c,
		Logger: slog.New(slog.DiscardHandler), MaxAttempts: 3, Backoff: func(int) time.Duration { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	r.eng = eng
	return r
}

// drain applies every queued change until the queue is empty; a change
// that fails is retried by draining again, up to a bound.
func (r *rig) drain(t *testing.T) []billsync.LogEntry {
	t.Helper()
	var log []billsync.LogEntry
	for range 50 {
		cs, err := r.store.Claim(ctx(t), 10, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) == 0 {
			return log
		}
		for _, c := range cs {
			res := r.eng.Process(ctx(t), c)
			log = append(log, res.Entries...)
			if err := r.store.Complete(ctx(t), c.ID, res.Entries...); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Fatal("the queue does not drain")
	return nil
}

// poll queues what the events poll finds after checkpoint.
func (r *rig) poll(t *testing.T, checkpoint string) string {
	t.Helper()
	cs, next, err := r.c.Poll(ctx(t), checkpoint)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) > 0 {
		if _, err := r.store.Enqueue(ctx(t), cs...); err != nil {
			t.Fatal(err)
		}
	}
	return next
}

// edit changes a Salesforce field as a sales user does, and queues its
// change.
func (r *rig) edit(t *testing.T, obj billsync.ObjectType, id, field string, v any) {
	t.Helper()
	r.rev[id]++
	r.org.Set(id, field, v)
	r.org.Set(id, mapping.FieldRevision, json.Number(itoa(int(r.rev[id]))))
	r.org.Set(id, mapping.FieldLastSystem, mapping.LastSystemSFDC)
	r.queueSF(t, obj, billsync.OpUpdated, id)
}

func (r *rig) queueSF(t *testing.T, obj billsync.ObjectType, op billsync.Op, id string) {
	t.Helper()
	r.rev[id+"#event"]++
	c := &billsync.Change{Partition: billsync.RecordPartition(id), Source: billsync.SideSalesforce, Object: obj, Op: op, RecordID: id,
		EventID: "sf:" + id + ":" + itoa(int(r.rev[id+"#event"])), EnqueuedAt: time.Now()}
	if _, err := r.store.Enqueue(ctx(t), c); err != nil {
		t.Fatal(err)
	}
}

func failures(log []billsync.LogEntry) []billsync.LogEntry {
	var out []billsync.LogEntry
	for _, le := range log {
		if le.Outcome == billsync.OutcomeFailed || le.Outcome == billsync.OutcomeDead || le.Outcome == billsync.OutcomeRetrying {
			out = append(out, le)
		}
	}
	return out
}

func TestEngineSyncsM3terBothWays(t *testing.T) {
	r := newRig(t, nil)
	acct := r.fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test", "currency": "USD"})
	bid := seedBalance(r.fk, acct.str("id")).str("id")
	r.fk.addTxn(bid, "10.00", "opening credit")

	// m3ter → Salesforce, from the events: the account, the balance, and
	// the transaction found by scanning the balance.
	cp := r.poll(t, startCheckpoint)
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("failures: %+v", f)
	}
	sfAcct := r.org.Find("BillingAccount__c", "BillingId__c", acct.str("id"))
	sfBal := r.org.Find("BillingBalance__c", "BillingId__c", bid)
	txns := r.org.All("BillingBalanceTransaction__c")
	if sfAcct == nil || sfBal == nil || len(txns) != 1 {
		t.Fatalf("Salesforce: account %v, balance %v, transactions %v", sfAcct, sfBal, txns)
	}
	if sfAcct.Str("Name") != "Acme" || !billsync.MustMoney(sfBal.Str("Amount__c")).Equal(billsync.MustMoney("10")) ||
		sfBal.Str("StartDate__c") != "2026-01-01" {
		t.Errorf("Salesforce balance %v", sfBal)
	}

	// Salesforce → m3ter: a rename is a whole-object PUT at the version
	// read; an amount edit is a transaction for the difference.
	r.edit(t, billsync.ObjectAccount, sfAcct.ID(), "Name", "Acme Corp")
	r.edit(t, billsync.ObjectBalance, sfBal.ID(), "Amount__c", json.Number("25.5"))
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("failures: %+v", f)
	}
	if got := r.fk.account(acct.str("id")); got.str("name") != "Acme Corp" || got.str("lastModifiedBy") != fakeUser {
		t.Errorf("m3ter account %v", got)
	}
	mt := r.fk.transactions(bid)
	if len(mt) != 2 || mt[1].str("amount") != "15.50" {
		t.Fatalf("m3ter transactions %v, want one for 15.50", mt)
	}
	if amt := r.fk.balance(bid).str("amount"); !billsync.MustMoney(amt).Equal(billsync.MustMoney("25.5")) {
		t.Errorf("m3ter balance %s, want 25.5", amt)
	}

	// The events of billsync's own writes come back: the account's is an
	// echo and dropped; the balance's finds billsync's transaction, which
	// Salesforce then shows; nothing is written back to m3ter.
	puts := r.fk.count(http.MethodPut, "")
	r.poll(t, cp)
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("failures: %+v", f)
	}
	if got := r.org.Get(sfAcct.ID()).Str("Name"); got != "Acme Corp" {
		t.Errorf("Salesforce account name %q", got)
	}
	if got := len(r.org.All("BillingBalanceTransaction__c")); got != 2 {
		t.Errorf("Salesforce transactions %d, want 2", got)
	}
	if r.fk.count(http.MethodPut, "") != puts || len(r.fk.transactions(bid)) != 2 {
		t.Error("echoes were written back to m3ter")
	}
}

func TestEngineCreatesASalesforceTransactionOnceAcrossACrash(t *testing.T) {
	r := newRig(t, nil)
	acct := r.fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test", "currency": "USD"})
	bid := seedBalance(r.fk, acct.str("id")).str("id")
	r.poll(t, startCheckpoint)
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("failures: %+v", f)
	}
	sfBal := r.org.Find("BillingBalance__c", "BillingId__c", bid)

	txSF := r.org.Put("BillingBalanceTransaction__c", billsync.SObject{"BillingBalance__c": sfBal.ID(),
		"Amount__c": json.Number("-7.25"), "Description__c": "Goodwill", "AppliedDate__c": "2026-03-02",
		mapping.FieldLastSystem: mapping.LastSystemSFDC})
	// m3ter makes the transaction but its answer is lost: billsync cannot
	// tell, and tries the change again.
	r.fk.addFault(fault{method: http.MethodPost, suffix: "/transactions", status: 502, body: `{"message":"bad gateway"}`, apply: true})
	r.queueSF(t, billsync.ObjectBalanceTransaction, billsync.OpCreated, txSF)
	if f := failures(r.drain(t)); len(f) != 1 || f[0].Outcome != billsync.OutcomeRetrying {
		t.Fatalf("first attempt: %+v, want the create to be retried", f)
	}
	if got := len(r.fk.transactions(bid)); got != 1 || r.org.Get(txSF).Str("BillingId__c") != "" {
		t.Fatalf("m3ter transactions = %d, want 1 with no id in Salesforce yet", got)
	}
	// The change is tried again (as after a crash before anything was
	// saved): it finds the transaction its first try made.
	r.queueSF(t, billsync.ObjectBalanceTransaction, billsync.OpCreated, txSF)
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("retry: %+v", f)
	}
	billingID := r.org.Get(txSF).Str("BillingId__c")
	if n := r.fk.count(http.MethodPost, "/transactions"); n != 1 {
		t.Errorf("transaction POSTs = %d, want 1", n)
	}
	if got := len(r.fk.transactions(bid)); got != 1 {
		t.Fatalf("m3ter transactions = %d after the retry, want 1", got)
	}
	if want := transactionID(bid, r.fk.transactions(bid)[0].str("id")); billingID != want {
		t.Errorf("Salesforce BillingId__c = %q, want %q", billingID, want)
	}
	if amt := r.fk.balance(bid).str("amount"); !billsync.MustMoney(amt).Equal(billsync.MustMoney("-7.25")) {
		t.Errorf("m3ter balance %s, want -7.25", amt)
	}
	// Its balance event comes back; the scan knows the transaction.
	r.poll(t, startCheckpoint)
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("failures: %+v", f)
	}
	if got := len(r.org.All("BillingBalanceTransaction__c")); got != 1 {
		t.Errorf("Salesforce transactions = %d, want 1", got)
	}
}

// PROVISIONAL (409 on a stale version): m3ter refusing billsync's PUT as
// stale makes the engine read both sides again, not repeat the PUT.
func TestEngineProvisionalStaleVersionIsReadAgain(t *testing.T) {
	r := newRig(t, nil)
	acct := r.fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test", "currency": "USD"})
	r.poll(t, startCheckpoint)
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("failures: %+v", f)
	}
	sfAcct := r.org.Find("BillingAccount__c", "BillingId__c", acct.str("id"))
	r.fk.addFault(fault{method: http.MethodPut, suffix: acct.str("id"), status: 409, body: `{"message":"version 1 is stale"}`})
	r.edit(t, billsync.ObjectAccount, sfAcct.ID(), "Email__c", "billing@acme.test")
	log := r.drain(t)
	if f := failures(log); len(f) != 1 || f[0].Outcome != billsync.OutcomeRetrying {
		t.Fatalf("first attempt: %+v, want a retry that reads again", f)
	}
	if n := r.fk.count(http.MethodPut, acct.str("id")); n != 1 {
		t.Fatalf("PUTs = %d, want 1: a conflict is not repeated blindly", n)
	}
	r.queueSF(t, billsync.ObjectAccount, billsync.OpUpdated, sfAcct.ID())
	if f := failures(r.drain(t)); len(f) > 0 {
		t.Fatalf("retry: %+v", f)
	}
	if got := r.fk.account(acct.str("id")).str("emailAddress"); got != "billing@acme.test" {
		t.Errorf("m3ter email %q", got)
	}
}
