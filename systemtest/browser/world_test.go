package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/billingapi"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/sandbox"
)

// world is the sandbox (emulators here, billsync as a child) and a
// client for each party.
type world struct {
	t       *testing.T
	sb      *sandbox.Sandbox
	url     string // billsync: the console and the admin API
	billing *billingapi.Client
	sales   *rest.Client // an ordinary sales user: their edits publish events
	admin   *adminclient.Client
}

func startWorld(t *testing.T) *world {
	t.Helper()
	sb, err := sandbox.Start(context.Background(), sandbox.Options{StartApp: startChild, Data: t.TempDir(), Seed: true,
		Addr: "127.0.0.1:0", SalesforceAddr: "127.0.0.1:0", BillingAddr: "127.0.0.1:0"}, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close() })
	sales, err := rest.New(rest.Config{LoginURL: sb.SFURL, Grant: "password", ClientID: sfemu.DefaultClientID,
		ClientSecret: sfemu.DefaultClientSecret, Username: sfemu.SalesUsername, Password: sfemu.SalesPassword})
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, sb: sb, url: sb.AppURL(), sales: sales,
		billing: billingapi.New(sb.BillingURL, sandbox.BillingToken, nil),
		admin:   adminclient.New(sb.AppURL(), sandbox.AdminToken, nil)}
}

// deadline is how long a wait may go without the state it watches
// changing; a slow machine that keeps moving is waited for.
const deadline = 20 * time.Second

// eventually polls cond until it holds; it fails once what cond reports
// has not changed for deadline (or after three minutes in all).
func (w *world) eventually(what string, cond func() (bool, string)) {
	w.t.Helper()
	start := time.Now()
	end, last := start.Add(deadline), ""
	for now := start; now.Before(end) && now.Sub(start) < 3*time.Minute; now = time.Now() {
		ok, why := cond()
		if ok {
			return
		}
		if why != last {
			end = time.Now().Add(deadline)
		}
		last = why
		time.Sleep(50 * time.Millisecond)
	}
	w.t.Fatalf("timed out waiting for %s: %s", what, last)
}

// quiesce waits until every webhook is delivered and the queue is empty.
func (w *world) quiesce() {
	w.t.Helper()
	w.eventually("quiet", func() (bool, string) {
		q, err := w.admin.Queue(context.Background())
		if err != nil {
			return false, err.Error()
		}
		return w.sb.Billing.Pending() == 0 && q.Pending == 0 && q.Running == 0,
			fmt.Sprintf("webhooks pending %d, queue %+v", w.sb.Billing.Pending(), q)
	})
}

func (w *world) create(t billsync.ObjectType, e billsync.Entity) billsync.Entity {
	w.t.Helper()
	got, err := w.billing.Create(context.Background(), t, e, "")
	if err != nil {
		w.t.Fatalf("billing create %s: %v", t, err)
	}
	return got
}

func (w *world) billingUpdate(t billsync.ObjectType, id string, f func(billsync.Entity)) {
	w.t.Helper()
	cur, err := w.billing.Get(context.Background(), t, id)
	if err != nil {
		w.t.Fatal(err)
	}
	f(cur)
	if _, err := w.billing.Update(context.Background(), t, cur); err != nil {
		w.t.Fatal(err)
	}
}

// sfRecord waits for the Salesforce record with BillingId__c = billingID
// that satisfies cond (nil: any).
func (w *world) sfRecord(object, billingID string, cond func(billsync.SObject) bool) billsync.SObject {
	w.t.Helper()
	var rec billsync.SObject
	w.eventually(object+" "+billingID+" in Salesforce", func() (bool, string) {
		for _, r := range w.sb.SF.Records(object) {
			if r.Str("BillingId__c") == billingID {
				rec = r
				return cond == nil || cond(r), fmt.Sprintf("%v", r)
			}
		}
		return false, "not there"
	})
	return rec
}

func (w *world) salesUpdate(object string, rec billsync.SObject) {
	w.t.Helper()
	res, err := w.sales.Update(context.Background(), object, []billsync.SObject{rec})
	if err != nil || len(res) != 1 || !res[0].Success {
		w.t.Fatalf("sales user update %s: %v %+v", object, err, res)
	}
}

func (w *world) setSetting(key string, value any) {
	w.t.Helper()
	b, err := json.Marshal(value)
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.admin.SetSetting(context.Background(), key, b); err != nil {
		w.t.Fatal(err)
	}
}

// syncedAccount creates an account in billing and waits for it in
// Salesforce.
func (w *world) syncedAccount(code string) (billsync.Entity, billsync.SObject) {
	w.t.Helper()
	acc := w.create(billsync.ObjectAccount, billsync.Entity{"code": code, "name": code + " Inc", "currency": "USD"})
	rec := w.sfRecord("BillingAccount__c", acc.ID(), nil)
	w.quiesce()
	return acc, rec
}

// whileDown stops billsync, runs f, and starts it again: edits made
// meanwhile meet at its next start whatever the timing.
func (w *world) whileDown(f func()) {
	w.t.Helper()
	if err := w.sb.App.Close(); err != nil {
		w.t.Fatal(err)
	}
	f()
	if err := w.sb.StartApp(context.Background(), w.sb.AppAddr); err != nil {
		w.t.Fatal(err)
	}
}
