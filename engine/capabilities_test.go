package engine

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/mock"
)

// setupCaps is setup with a billing platform whose capabilities are the
// contract's changed by edit.
func setupCaps(t *testing.T, edit func(*billsync.BillingCapabilities)) *bundle {
	t.Helper()
	b := setup(t)
	caps := billingapi.Capabilities
	edit(&caps)
	b.billing.Caps = caps
	e, err := New(b.engine.cfg)
	if err != nil {
		t.Fatal(err)
	}
	b.engine = e
	return b
}

// amountOf is a Salesforce record's Amount__c, padded to cents.
func amountOf(rec billsync.SObject) string {
	m, err := billsync.ParseMoney(rec.Str("Amount__c"))
	if err != nil {
		return "unreadable " + rec.Str("Amount__c")
	}
	return m.Pad(2).String()
}

func (b *bundle) billingCalls(method string, typ billsync.ObjectType) int {
	n := 0
	for _, c := range b.billing.Calls() {
		if c.Method == method && c.Type == typ {
			n++
		}
	}
	return n
}

// The contract's capabilities are what an engine on mock.NewBilling acts
// on, so every other engine test runs against them.
func TestContractCapabilitiesAreTheDefault(t *testing.T) {
	t.Parallel()
	b := setup(t)
	if got := b.engine.caps; got.Versioning != billsync.VersionInteger || !got.SignedWebhooks || !got.BalanceAmountWritable ||
		!got.TransactionsUpdatable || !got.TransactionsDeletable || !got.QuotesCarryOfferings {
		t.Fatalf("%+v", got)
	}
}

// Without versions, a billing edit between billsync's read and its write
// is caught by the content hash and meets the conflict policy.
func TestUnversionedWriteDetectsAChangeByContentHash(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		policy, wantName string
		wantUpdates      int
	}{
		{billsync.PolicyBillingWins, "Acme in billing", 0},
		{billsync.PolicySalesforceWins, "Acme in Salesforce", 1},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.Versioning = billsync.VersionNone })
			const unversioned = `{"id":"acc_1","code":"ACME","name":"Acme","currency":"USD"}`
			b.putBilling(t, billsync.ObjectAccount, unversioned)
			if le := only(t, b.engine.Process(ctx, billingChange(t, billsync.ObjectAccount, billsync.OpCreated, unversioned))); le.Outcome != billsync.OutcomeSuccess {
				t.Fatalf("setup: %+v", le)
			}
			sfID := b.sf("BillingAccount__c", "acc_1").ID()
			b.set(t, "conflicts.account", `"`+tc.policy+`"`)
			b.userEdit(sfID, "Name", "Acme in Salesforce")
			var gets atomic.Int32
			b.billing.Hook = func(_ context.Context, c mock.BillingCall) error {
				// The second read is the one just before the write: a
				// billing user has renamed the account in between.
				if c.Method == "get" && gets.Add(1) == 2 {
					b.billing.Put(billsync.ObjectAccount, ent(t, `{"id":"acc_1","code":"ACME","name":"Acme in billing","currency":"USD"}`))
				}
				return nil
			}
			le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectAccount, sfID)))
			if le.Outcome != billsync.OutcomeConflict || le.Reason != "policy:"+tc.policy || !strings.Contains(le.Message, "content hash") {
				t.Fatalf("%+v", le)
			}
			if got := b.billing.Entity(billsync.ObjectAccount, "acc_1"); got.Str("name") != tc.wantName || got["version"] != nil {
				t.Errorf("billing %v", got)
			}
			if got := b.org.Get(sfID).Str("Name"); got != tc.wantName {
				t.Errorf("Salesforce name %q, want %q", got, tc.wantName)
			}
			if n := b.billingCalls("update", billsync.ObjectAccount); n != tc.wantUpdates {
				t.Errorf("%d billing updates, want %d", n, tc.wantUpdates)
			}
		})
	}
}

// Without versions, a webhook's copy is not trusted: billing is read, so
// an out-of-order event carrying old values writes nothing, and a record
// billing has moved on is written as billing now holds it.
func TestUnversionedChangesAreReadFromBilling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.Versioning = billsync.VersionNone })
	sfID := b.synced(t)
	old := billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, `{"id":"acc_1","code":"ACME","name":"An older name","currency":"USD"}`)
	if le := only(t, b.engine.Process(ctx, old)); le.Reason != billsync.ReasonEcho || b.org.Get(sfID).Str("Name") != "Acme" {
		t.Fatalf("an older event: %+v, Salesforce %v", le, b.org.Get(sfID))
	}
	b.putBilling(t, billsync.ObjectAccount, `{"id":"acc_1","code":"ACME","name":"Renamed","currency":"USD"}`)
	if le := only(t, b.engine.Process(ctx, old)); le.Outcome != billsync.OutcomeSuccess || b.org.Get(sfID).Str("Name") != "Renamed" {
		t.Fatalf("billing moved on: %+v, Salesforce %v", le, b.org.Get(sfID))
	}
	// With versions the same payload is judged by its version and values.
	v := setup(t)
	v.synced(t)
	if le := only(t, v.engine.Process(ctx, old)); le.Reason != billsync.ReasonStale {
		t.Fatalf("versioned: %+v", le)
	}
}

// Unsigned webhooks are hints: the record is read from billing, and a
// delete is acted on only once billing no longer has the record.
func TestUnsignedWebhooksAreReadFromBilling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.SignedWebhooks = false })
	sfID := b.synced(t)
	forged := billingChange(t, billsync.ObjectAccount, billsync.OpUpdated, `{"id":"acc_1","code":"ACME","name":"Forged","version":9}`)
	if le := only(t, b.engine.Process(ctx, forged)); le.Outcome != billsync.OutcomeSkipped || b.org.Get(sfID).Str("Name") != "Acme" {
		t.Fatalf("forged update: %+v, Salesforce %v", le, b.org.Get(sfID))
	}
	unknown := billingChange(t, billsync.ObjectAccount, billsync.OpCreated, `{"id":"acc_404","code":"X","name":"Nobody","version":1}`)
	if le := only(t, b.engine.Process(ctx, unknown)); le.Reason != billsync.ReasonNotFound || b.sf("BillingAccount__c", "acc_404") != nil {
		t.Fatalf("unknown record: %+v", le)
	}
	b.set(t, "deletes.account", `"mirror"`)
	del := billingChange(t, billsync.ObjectAccount, billsync.OpDeleted, `{"id":"acc_1","version":9}`)
	if le := only(t, b.engine.Process(ctx, del)); le.Reason != billsync.ReasonStale || b.org.Get(sfID) == nil {
		t.Fatalf("delete of a record billing still has: %+v", le)
	}
	if err := b.billing.Delete(ctx, billsync.ObjectAccount, "acc_1"); err != nil {
		t.Fatal(err)
	}
	if le := only(t, b.engine.Process(ctx, del)); le.Outcome != billsync.OutcomeSuccess || b.org.Get(sfID) != nil {
		t.Fatalf("delete: %+v", le)
	}
	// A signed webhook of a new record is written as it comes.
	s := setup(t)
	if le := only(t, s.engine.Process(ctx, unknown)); le.Outcome != billsync.OutcomeSuccess || len(s.billing.Calls()) != 0 ||
		s.sf("BillingAccount__c", "acc_404").Str("Name") != "Nobody" {
		t.Fatalf("signed: %+v, billing calls %v", le, s.billing.Calls())
	}
}

// A balance amount the platform derives is never sent: the edit is
// restored from billing or flagged, per unsupported.action, and the
// fields the platform takes still go.
func TestBalanceAmountNotWritable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, action := range []string{billsync.UnsupportedRestore, billsync.UnsupportedFlag} {
		b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.BalanceAmountWritable = false })
		b.set(t, billsync.KeyUnsupportedAction, `"`+action+`"`)
		balSF := b.syncedTrio(t)["bal_1"]
		b.userEdit(balSF, "Amount__c", json.Number("150.00"))
		le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectBalance, balSF)))
		if le.Outcome != billsync.OutcomeSkipped || le.Reason != billsync.ReasonUnsupported || le.Operation != action ||
			!strings.Contains(le.Message, "amount (the billing platform derives") {
			t.Fatalf("%s: %+v", action, le)
		}
		if n := b.billingCalls("update", billsync.ObjectBalance); n != 0 {
			t.Fatalf("%s: %d billing updates", action, n)
		}
		rec := b.org.Get(balSF)
		want := "100.00"
		if action == billsync.UnsupportedFlag {
			want = "150.00"
		}
		if got := amountOf(rec); got != want || rec.Str(mapping.FieldSyncStatus) != billsync.ReasonUnsupported {
			t.Fatalf("%s: Salesforce %v", action, rec)
		}
		st := b.state(t, billsync.ObjectBalance, "bal_1")
		if _, known := st.Agreed[mapping.AgreedRevision]; st.Agreed["amount"] != "100" || known == (action == billsync.UnsupportedFlag) {
			t.Fatalf("%s: agreed %v", action, st.Agreed)
		}

		// An edit of a field the platform takes goes; a flagged amount is
		// refused again beside it.
		b.userEdit(balSF, "Description__c", "topped up")
		r := b.engine.Process(ctx, sfChange(billsync.ObjectBalance, balSF))
		flagged := action == billsync.UnsupportedFlag
		if len(r.Entries) != map[bool]int{false: 1, true: 2}[flagged] || flagged && r.Entries[0].Reason != billsync.ReasonUnsupported {
			t.Fatalf("%s: mixed: %+v", action, r.Entries)
		}
		if le := only(t, r); le.Outcome != billsync.OutcomeSuccess || !strings.Contains(le.Message, "to billing: description") {
			t.Fatalf("%s: mixed: %+v", action, r.Entries)
		}
		if got := b.billing.Entity(billsync.ObjectBalance, "bal_1"); got.Str("description") != "topped up" || got.Str("amount") != "100.00" {
			t.Fatalf("%s: billing %v", action, got)
		}
	}
	// A platform that takes the amount gets it.
	w := setup(t)
	balSF := w.syncedTrio(t)["bal_1"]
	w.userEdit(balSF, "Amount__c", json.Number("150.00"))
	if le := only(t, w.engine.Process(ctx, sfChange(billsync.ObjectBalance, balSF))); le.Outcome != billsync.OutcomeSuccess || w.billing.Entity(billsync.ObjectBalance, "bal_1").Str("amount") != "150.00" {
		t.Fatalf("writable: %+v", le)
	}
}

// Transactions that cannot change once created: an amount edit is never
// sent; the fields the platform leaves mutable are.
func TestTransactionsNotUpdatable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) {
		c.TransactionsUpdatable, c.TransactionMutableFields = false, []string{"description", "customFields."}
	})
	txSF := b.syncedTrio(t)["btx_1"]
	b.userEdit(txSF, "Amount__c", json.Number("-20.00"))
	le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectBalanceTransaction, txSF)))
	if le.Reason != billsync.ReasonUnsupported || le.Operation != "restore" || !strings.Contains(le.Message, "only in description, customFields.") {
		t.Fatalf("amount: %+v", le)
	}
	if got := amountOf(b.org.Get(txSF)); got != "-12.25" || b.billingCalls("update", billsync.ObjectBalanceTransaction) != 0 {
		t.Fatalf("amount: Salesforce %v, billing calls %v", b.org.Get(txSF), b.billing.Calls())
	}
	b.userEdit(txSF, "Description__c", "usage, November")
	if le := only(t, b.engine.Process(ctx, sfChange(billsync.ObjectBalanceTransaction, txSF))); le.Outcome != billsync.OutcomeSuccess ||
		b.billing.Entity(billsync.ObjectBalanceTransaction, "btx_1").Str("description") != "usage, November" {
		t.Fatalf("description: %+v", le)
	}

	// Create-only transactions take no edit at all.
	c := setupCaps(t, func(c *billsync.BillingCapabilities) { c.TransactionsUpdatable = false })
	txSF = c.syncedTrio(t)["btx_1"]
	c.userEdit(txSF, "Description__c", "usage, November")
	if le := only(t, c.engine.Process(ctx, sfChange(billsync.ObjectBalanceTransaction, txSF))); le.Reason != billsync.ReasonUnsupported ||
		c.org.Get(txSF).Str("Description__c") != "usage" || c.billingCalls("update", billsync.ObjectBalanceTransaction) != 0 {
		t.Fatalf("create-only: %+v", le)
	}
}

// Transactions that cannot be deleted: a Salesforce delete is never sent;
// under restore the record comes back in Salesforce from billing.
func TestTransactionsNotDeletable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, action := range []string{billsync.UnsupportedRestore, billsync.UnsupportedFlag} {
		b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.TransactionsDeletable = false })
		b.set(t, "deletes.balance_transaction", `"mirror"`)
		b.set(t, billsync.KeyUnsupportedAction, `"`+action+`"`)
		txSF := b.syncedTrio(t)["btx_1"]
		b.org.Remove(txSF)
		le := only(t, b.engine.Process(ctx, sfOp(billsync.ObjectBalanceTransaction, billsync.OpDeleted, txSF)))
		if le.Reason != billsync.ReasonUnsupported || le.Operation != action || b.billingCalls("delete", billsync.ObjectBalanceTransaction) != 0 {
			t.Fatalf("%s: %+v", action, le)
		}
		if b.billing.Entity(billsync.ObjectBalanceTransaction, "btx_1") == nil {
			t.Fatalf("%s: deleted in billing", action)
		}
		back := b.sf("BillingBalanceTransaction__c", "btx_1")
		if (back != nil) != (action == billsync.UnsupportedRestore) {
			t.Fatalf("%s: Salesforce record %v", action, back)
		}
		if back != nil && b.state(t, billsync.ObjectBalanceTransaction, "btx_1").SalesforceID != back.ID() {
			t.Fatalf("restored record not linked: %+v", b.state(t, billsync.ObjectBalanceTransaction, "btx_1"))
		}
	}
	// The flag delete policy writes billing, which create-only
	// transactions do not take either.
	f := setupCaps(t, func(c *billsync.BillingCapabilities) { c.TransactionsUpdatable = false })
	f.set(t, "deletes.balance_transaction", `"flag"`)
	txSF := f.syncedTrio(t)["btx_1"]
	f.org.Remove(txSF)
	if le := only(t, f.engine.Process(ctx, sfOp(billsync.ObjectBalanceTransaction, billsync.OpDeleted, txSF))); le.Reason != billsync.ReasonUnsupported ||
		f.billingCalls("update", billsync.ObjectBalanceTransaction) != 0 {
		t.Fatalf("flag policy: %+v", le)
	}
	// A platform that deletes them does.
	d := setup(t)
	d.set(t, "deletes.balance_transaction", `"mirror"`)
	txSF = d.syncedTrio(t)["btx_1"]
	d.org.Remove(txSF)
	if r := d.engine.Process(ctx, sfOp(billsync.ObjectBalanceTransaction, billsync.OpDeleted, txSF)); r.Disposition != attempt.Done ||
		d.billing.Entity(billsync.ObjectBalanceTransaction, "btx_1") != nil {
		t.Fatalf("deletable: %+v", r.Entries)
	}
}

// quoteSpy records the quote the engine hands on.
type quoteSpy struct{ got []json.RawMessage }

func (s *quoteSpy) SyncQuote(_ context.Context, a *attempt.Attempt) {
	s.got = append(s.got, a.Change.Payload)
	a.Finish(billsync.OutcomeSuccess, "", "upsert", "", "", "", "")
}

// A quote of a platform without offerings reaches the quote rules with
// one offering, the quote's own, holding its items.
func TestQuotesWithoutOfferings(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const quote = `{"id":"q_1","accountId":"acc_1","status":"DRAFT","type":"NEW","description":"Annual plan","version":1,` +
		`"items":[{"id":"li_1","productCode":"P","productType":"SUBSCRIPTION","quantity":"2","unitPrice":"10.00"}]}`
	for _, carries := range []bool{false, true} {
		b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.QuotesCarryOfferings = carries })
		spy := &quoteSpy{}
		b.engine.cfg.Quotes = spy
		if r := b.engine.Process(ctx, billingChange(t, billsync.ObjectQuote, billsync.OpCreated, quote)); r.Disposition != attempt.Done || len(spy.got) != 1 {
			t.Fatalf("carries %v: %+v", carries, r.Entries)
		}
		q := ent(t, string(spy.got[0]))
		if carries {
			if string(spy.got[0]) != quote {
				t.Fatalf("a quote of a platform with offerings changed: %s", spy.got[0])
			}
			continue
		}
		offs, _ := q["offerings"].([]any)
		if len(offs) != 1 || q[billsync.QuoteItemsField] != nil {
			t.Fatalf("offerings %v", q)
		}
		off := offs[0].(map[string]any)
		items, _ := off["items"].([]any)
		if off["id"] != "q_1" || off["name"] != "Annual plan" || len(items) != 1 || items[0].(map[string]any)["id"] != "li_1" {
			t.Fatalf("offering %v", off)
		}
	}
}

// A balance created in Salesforce is created in billing without the
// amount the platform derives; Salesforce gets billing's amount back, or
// keeps its own flagged.
func TestBalanceCreatedWithoutItsAmount(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, action := range []string{billsync.UnsupportedRestore, billsync.UnsupportedFlag} {
		b := setupCaps(t, func(c *billsync.BillingCapabilities) { c.BalanceAmountWritable = false })
		b.set(t, billsync.KeyUnsupportedAction, `"`+action+`"`)
		accSF := b.synced(t)
		balSF := b.org.Put("BillingBalance__c", billsync.SObject{"Name": "Prepaid", "Currency__c": "USD", "Amount__c": json.Number("50"), "BillingAccount__c": accSF})
		r := b.engine.Process(ctx, sfChange(billsync.ObjectBalance, balSF))
		if len(r.Entries) != 2 || r.Entries[0].Reason != billsync.ReasonUnsupported || !strings.Contains(r.Entries[0].Message, "amount (the billing platform derives") ||
			only(t, r).Outcome != billsync.OutcomeSuccess || only(t, r).Operation != "create" {
			t.Fatalf("%s: %+v", action, r.Entries)
		}
		rec := b.org.Get(balSF)
		created := b.billing.Entity(billsync.ObjectBalance, rec.Str("BillingId__c"))
		if created == nil || created["amount"] != nil || created.Str("name") != "Prepaid" {
			t.Fatalf("%s: billing %v", action, created)
		}
		if rec.Str(mapping.FieldSyncStatus) != billsync.ReasonUnsupported || (rec["Amount__c"] == nil) != (action == billsync.UnsupportedRestore) {
			t.Fatalf("%s: Salesforce %v", action, rec)
		}
	}
	// A platform that takes the amount gets it.
	w := setup(t)
	accSF := w.synced(t)
	balSF := w.org.Put("BillingBalance__c", billsync.SObject{"Name": "Prepaid", "Currency__c": "USD", "Amount__c": json.Number("50"), "BillingAccount__c": accSF})
	if le := only(t, w.engine.Process(ctx, sfChange(billsync.ObjectBalance, balSF))); le.Outcome != billsync.OutcomeSuccess ||
		w.billing.Entity(billsync.ObjectBalance, w.org.Get(balSF).Str("BillingId__c")).Str("amount") != "50.00" {
		t.Fatalf("writable: %+v", le)
	}
}

// A field the platform sets itself (Stripe: a customer's currency) is
// never sent: a Salesforce edit of it is restored, and the rest of the
// edit still goes.
func TestReadOnlyFieldsAreNotSent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupCaps(t, func(c *billsync.BillingCapabilities) {
		c.ReadOnlyFields = map[billsync.ObjectType][]string{billsync.ObjectAccount: {"currency"}}
	})
	accSF := b.syncedTrio(t)["acc_1"]
	b.userEdit(accSF, "Currency__c", "EUR")
	b.userEdit(accSF, "Email__c", "ap@acme.example")
	r := b.engine.Process(ctx, sfChange(billsync.ObjectAccount, accSF))
	if len(r.Entries) != 2 || r.Entries[0].Reason != billsync.ReasonUnsupported ||
		!strings.Contains(r.Entries[0].Message, "currency (the billing platform sets currency itself)") {
		t.Fatalf("entries %+v", r.Entries)
	}
	got := b.billing.Entity(billsync.ObjectAccount, "acc_1")
	if got.Str("currency") != "USD" || got.Str("emailAddress") != "ap@acme.example" {
		t.Fatalf("billing %v", got)
	}
	if rec := b.org.Get(accSF); rec.Str("Currency__c") != "USD" {
		t.Fatalf("Salesforce currency %q, want USD restored", rec.Str("Currency__c"))
	}
}
