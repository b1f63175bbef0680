package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/sandbox"
)

// These tests put the other side's edit exactly in the window between
// billsync's decision and its write, with hooks rather than sleeps (the
// Salesforce emulator's SetBeforeWrite; a gate in front of billing for
// billsync's own billing client), and check that each conflict policy
// ends with its outcome, or one held conflict under manual, and never
// with the edit lost (D1–D4).

// billingGate is a reverse proxy between billsync and the billing
// emulator that can run a function before a billing write of billsync's
// reaches the emulator.
type billingGate struct {
	target atomic.Pointer[httputil.ReverseProxy]
	before atomic.Pointer[func(*http.Request)]
	srv    *httptest.Server
}

func newBillingGate(t *testing.T) *billingGate {
	g := &billingGate{}
	g.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := g.before.Load(); f != nil && r.Method == http.MethodPut {
			(*f)(r)
		}
		p := g.target.Load()
		if p == nil {
			http.Error(w, "billing gate: no target yet", http.StatusBadGateway)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(g.srv.Close)
	return g
}

// start is a sandbox.StartFunc that points billsync's billing client at
// the gate.
func (g *billingGate) start(ctx context.Context, ac sandbox.AppConfig, log *slog.Logger) (sandbox.App, error) {
	u, err := url.Parse(ac.BillingURL)
	if err != nil {
		return nil, err
	}
	g.target.Store(httputil.NewSingleHostReverseProxy(u))
	ac.BillingURL = g.srv.URL
	return startSandboxApp(ctx, ac, log)
}

// beforePut runs f before billsync's next billing write of a record
// whose id ends the path; f runs once.
func (g *billingGate) beforePut(id string, f func()) {
	var once sync.Once
	hook := func(r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/"+id) {
			once.Do(f)
		}
	}
	g.before.Store(&hook)
}

func (g *billingGate) clear() { g.before.Store(nil) }

// windowRecord is one record a window test edits on both sides.
type windowRecord struct {
	typ       billsync.ObjectType
	billingID string
	sobject   string
	field     string // billing path
	sfField   string
	sfID      string
}

// syncedTrio creates an account, a balance and a transaction in billing
// and waits for them in Salesforce.
func (h *harness) syncedTrio(code string) []windowRecord {
	h.t.Helper()
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": code, "name": code + " Inc", "currency": "USD"})
	bal := h.create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "code": code + "-B", "name": "Prepaid", "amount": "100.00", "currency": "USD"})
	tx := h.create(billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "-1.00", "description": "usage", "appliedDate": "2026-11-01"})
	recs := []windowRecord{
		{billsync.ObjectAccount, acc.ID(), "BillingAccount__c", "name", "Name", ""},
		{billsync.ObjectBalance, bal.ID(), "BillingBalance__c", "name", "Name", ""},
		{billsync.ObjectBalanceTransaction, tx.ID(), "BillingBalanceTransaction__c", "description", "Description__c", ""},
	}
	for i := range recs {
		recs[i].sfID = h.sfRecord(recs[i].sobject, recs[i].billingID, nil).ID()
	}
	h.quiesce()
	return recs
}

// setPolicy sets the conflict policy of all three objects.
func (h *harness) setPolicy(policy string) {
	h.t.Helper()
	for _, o := range []billsync.ObjectType{billsync.ObjectAccount, billsync.ObjectBalance, billsync.ObjectBalanceTransaction} {
		h.setSetting("conflicts."+string(o), policy)
	}
}

// editBilling changes one field in billing, straight at the emulator.
func (h *harness) editBilling(r windowRecord, value string) error {
	ctx := context.Background()
	cur, err := h.billing.Get(ctx, r.typ, r.billingID)
	if err != nil {
		return err
	}
	cur.SetPath(r.field, value)
	_, err = h.billing.Update(ctx, r.typ, cur)
	return err
}

// editSalesforce changes one field as the sales user.
func (h *harness) editSalesforce(r windowRecord, value string) error {
	res, err := h.sales.Update(context.Background(), r.sobject, []billsync.SObject{{"Id": r.sfID, r.sfField: value}})
	if err == nil && (len(res) != 1 || !res[0].Success) {
		err = fmt.Errorf("sales user update refused: %+v", res)
	}
	return err
}

// waitPolicyOutcome waits until the record's conflict is settled the way
// policy settles it, then, once everything is quiet, checks that nothing
// moved: exactly one conflict, naming both edits; under manual it is
// held and each side keeps its own edit; otherwise both sides hold the
// winner's value (latest-wins: the later edit by the times the conflict
// recorded).
func (h *harness) waitPolicyOutcome(policy string, r windowRecord) {
	h.t.Helper()
	ctx := context.Background()
	check := func() (bool, string) {
		cs := h.conflictsOf(r.billingID)
		sfRec, _ := h.sb.SF.Record(r.sobject, r.sfID)
		ent, err := h.billing.Get(ctx, r.typ, r.billingID)
		if err != nil {
			return false, err.Error()
		}
		sfVal, billVal := sfRec.Str(r.sfField), ent.Str(r.field)
		state := fmt.Sprintf("%d conflicts %+v; salesforce %q, billing %q", len(cs), cs, sfVal, billVal)
		if len(cs) != 1 || len(cs[0].Fields) != 1 || cs[0].Fields[0].Billing != "From billing" || cs[0].Fields[0].Salesforce != "From Salesforce" {
			return false, state
		}
		c := cs[0]
		if policy == billsync.PolicyManual {
			return c.Status == billsync.ConflictHeld && sfVal == "From Salesforce" && billVal == "From billing", state
		}
		winner := map[string]billsync.Side{billsync.PolicyBillingWins: billsync.SideBilling, billsync.PolicySalesforceWins: billsync.SideSalesforce}[policy]
		if policy == billsync.PolicyLatestWins {
			winner = billsync.SideBilling
			if c.SalesforceChangedAt.After(c.BillingChangedAt) {
				winner = billsync.SideSalesforce
			}
		}
		want := map[billsync.Side]string{billsync.SideBilling: "From billing", billsync.SideSalesforce: "From Salesforce"}[winner]
		return c.Status == billsync.ConflictResolved && c.Winner == winner && sfVal == want && billVal == want, state
	}
	h.eventually(fmt.Sprintf("%s %s settled by %s", r.typ, r.billingID, policy), check)
	h.quiesce()
	if ok, state := check(); !ok {
		h.t.Fatalf("%s %s under %s moved after settling: %s", r.typ, r.billingID, policy, state)
	}
}

// TestSalesforceEditInTheWriteWindow: billsync decides a billing change
// and writes it to Salesforce without reading the record first; a sales
// user's edit of the same field lands just before that write. Salesforce
// refuses the write (the record's revision moved on), billsync reads the
// record and the policy decides — for an account, a balance and a
// transaction under each policy.
func TestSalesforceEditInTheWriteWindow(t *testing.T) {
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	for i, policy := range []string{billsync.PolicyLatestWins, billsync.PolicyBillingWins, billsync.PolicySalesforceWins, billsync.PolicyManual} {
		h.setPolicy(policy)
		for _, r := range h.syncedTrio(fmt.Sprintf("SW%d", i)) {
			edited := make(chan error, 1)
			var once sync.Once
			h.sb.SF.SetBeforeWrite(func(w sfemu.Write) {
				if w.Integration && w.Op == "update" && w.Object == r.sobject && w.Names(r.sfID) {
					once.Do(func() { edited <- h.editSalesforce(r, "From Salesforce") })
				}
			})
			if err := h.editBilling(r, "From billing"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-edited:
				if err != nil {
					t.Fatal(err)
				}
			case <-h.timeout():
				t.Fatalf("%s %s: billsync never wrote the billing change to Salesforce", policy, r.typ)
			}
			h.sb.SF.SetBeforeWrite(nil)
			h.waitPolicyOutcome(policy, r)
			if !h.loggedReadAgain(r.billingID) {
				t.Fatalf("%s %s: no sync-log entry shows the refused write read again: %+v", policy, r.typ, h.logs(billsync.LogFilter{Record: r.billingID}))
			}
		}
	}
}

// TestBillingEditInTheWriteWindow: billsync reads billing to apply a
// sales user's edit; a billing edit of the same field lands between that
// read and billsync's write. Billing refuses the stale version, billsync
// reads both sides again and the policy decides — for an account, a
// balance and a transaction under each policy.
func TestBillingEditInTheWriteWindow(t *testing.T) {
	t.Parallel()
	gate := newBillingGate(t)
	h := startHarness(t, sandbox.Options{StartApp: gate.start})
	for i, policy := range []string{billsync.PolicyLatestWins, billsync.PolicyBillingWins, billsync.PolicySalesforceWins, billsync.PolicyManual} {
		h.setPolicy(policy)
		for _, r := range h.syncedTrio(fmt.Sprintf("BW%d", i)) {
			edited := make(chan error, 1)
			gate.beforePut(r.billingID, func() { edited <- h.editBilling(r, "From billing") })
			if err := h.editSalesforce(r, "From Salesforce"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-edited:
				if err != nil {
					t.Fatal(err)
				}
			case <-h.timeout():
				t.Fatalf("%s %s: billsync never wrote the Salesforce edit to billing", policy, r.typ)
			}
			gate.clear()
			h.waitPolicyOutcome(policy, r)
		}
	}
}

// loggedReadAgain reports whether a sync-log entry of the record shows a
// Salesforce write refused and the record read again.
func (h *harness) loggedReadAgain(billingID string) bool {
	for _, e := range h.logs(billsync.LogFilter{Record: billingID}) {
		if strings.Contains(e.Message, "so it was read again") {
			return true
		}
	}
	return false
}

// timeout is a generous deadline for one step that must happen.
func (h *harness) timeout() <-chan struct{} {
	ctx, cancel := context.WithTimeout(context.Background(), stuckCap)
	h.t.Cleanup(cancel)
	return ctx.Done()
}
