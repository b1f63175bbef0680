package quotesync

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
	"github.com/billsync/billsync/salesforce/rest"
)

// emuFix is quote sync driven through the real REST client against the
// Salesforce emulator (demo catalogue), so call counts are the org's own.
type emuFix struct {
	t       *testing.T
	emu     *sfemu.Emulator
	demo    *sfemu.Demo
	client  *rest.Client
	billing *mock.Billing
	state   *mock.Store
	syncer  *Syncer
	policy  attempt.Policy

	mu  sync.Mutex
	now time.Time
}

func newEmuFix(t *testing.T) *emuFix {
	t.Helper()
	emu, err := sfemu.New(sfemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(emu.Handler())
	t.Cleanup(func() { srv.Close(); emu.Close() })
	emu.SetBaseURL(srv.URL)
	demo, err := emu.SeedDemo()
	if err != nil {
		t.Fatal(err)
	}
	client, err := rest.New(rest.Config{
		LoginURL: srv.URL, Grant: rest.GrantPassword,
		ClientID: sfemu.DefaultClientID, ClientSecret: sfemu.DefaultClientSecret,
		Username: sfemu.IntegrationUsername, Password: sfemu.IntegrationPassword,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	f := &emuFix{t: t, emu: emu, demo: demo, client: client, billing: mock.NewBilling(), state: mock.NewStore(), now: time.Now().UTC()}
	f.syncer = f.newSyncer()
	f.policy = attempt.Policy{MaxAttempts: 3, Backoff: func(int) time.Duration { return time.Second }, Now: f.clock}
	f.billing.Put(billsync.ObjectAccount, billsync.Entity{"id": "acc_emu", "name": "Acme", "crmAccountId": demo.Accounts["Acme Corporation"], "version": json.Number("1")})
	return f
}

func (f *emuFix) clock() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *emuFix) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func (f *emuFix) newSyncer() *Syncer {
	f.t.Helper()
	s, err := New(Config{CRM: f.client, State: f.state, Billing: f.billing, Clock: f.clock,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// calls is the number of API calls the emulator has served (OAuth token
// requests do not count against an org's API allowance).
func (f *emuFix) calls() int {
	n := 0
	for k, v := range f.emu.Calls() {
		if k != "oauth" {
			n += v
		}
	}
	return n
}

// send syncs q as its webhook would deliver it and reports the calls it
// cost.
func (f *emuFix) send(q billsync.Quote) (attempt.Result, int) {
	f.t.Helper()
	b, err := json.Marshal(q)
	if err != nil {
		f.t.Fatal(err)
	}
	ent, err := billsync.DecodeEntity(b)
	if err != nil {
		f.t.Fatal(err)
	}
	f.billing.Put(billsync.ObjectQuote, ent)
	c := billsync.Change{ID: q.Version, Partition: billsync.QuotePartition(q.ID), Source: billsync.SideBilling, Object: billsync.ObjectQuote,
		Op: billsync.OpUpdated, RecordID: q.ID, EventID: fmt.Sprintf("wh_%s_%d", q.ID, q.Version), Payload: b, Attempt: 1, EnqueuedAt: f.clock()}
	a := attempt.New(&f.policy, c, billsync.ToSalesforce, billsync.NewSettings(nil))
	before := f.calls()
	f.syncer.SyncQuote(context.Background(), a)
	return a.Result(), f.calls() - before
}

// opportunity creates an Opportunity on the demo account, as a sales user
// would before quoting.
func (f *emuFix) opportunity(stage string) string {
	f.t.Helper()
	res, err := f.client.Create(context.Background(), "Opportunity", []billsync.SObject{{
		"Name": "Existing deal", "AccountId": f.demo.Accounts["Acme Corporation"], "StageName": stage,
		"CloseDate": "2027-01-31", "Pricebook2Id": f.demo.StandardPricebookID,
	}})
	if err != nil || len(res) != 1 || !res[0].Success {
		f.t.Fatalf("creating the Opportunity: %v %+v", err, res)
	}
	return res[0].ID
}

func emuQuote(id, oppID string, n int) billsync.Quote {
	q := billsync.Quote{ID: id, AccountID: "acc_emu", Description: "Twenty lines", Status: "DRAFT", Type: billsync.QuoteNew,
		CRMOpportunityID: oppID, Currency: "USD", Version: 1, Offerings: []billsync.QuoteOffering{{ID: "off_1", Name: "Main"}}}
	codes := []string{"PLAT-SUB", "SUPPORT", "API-USAGE", "ONBOARD"}
	for i := range n {
		q.Offerings[0].Items = append(q.Offerings[0].Items,
			qItem(fmt.Sprintf("%s_it%02d", id, i), codes[i%len(codes)], "SUBSCRIPTION", fmt.Sprint(i+1), fmt.Sprintf("%d.50", 10+i)))
	}
	return q
}

// The API budget of one quote (DESIGN "Planning for speed"): with the
// describes warmed at start, a cold sync of a 20-line quote on an
// existing Opportunity costs at most 8 calls, the same again once the
// caches have expired, and a later description-only edit fewer still.
func TestQuoteCallBudgetAgainstEmulator(t *testing.T) {
	t.Parallel()
	f := newEmuFix(t)
	ctx := context.Background()
	oppID := f.opportunity("Qualification")
	if err := f.syncer.Warm(ctx); err != nil {
		t.Fatal(err)
	}

	r, cold := f.send(emuQuote("qe1", oppID, 20))
	qMustSucceed(t, r)
	t.Logf("cold sync of a 20-line quote on an existing Opportunity: %d calls", cold)
	if cold > 8 {
		t.Errorf("cold sync cost %d calls, want at most 8", cold)
	}

	children := append(f.emu.Records("QuoteLineItem"), f.emu.Records("OpportunityLineItem")...)
	if len(children) != 40 {
		t.Fatalf("%d lines and products, want 20 of each", len(children))
	}
	writes := map[string]int{}
	for _, c := range children {
		writes[c.ID()] = f.emu.Writes(c.ID())
	}
	q := emuQuote("qe1", oppID, 20)
	q.Version, q.Description = 2, "Twenty lines, reworded"
	r, warm := f.send(q)
	qMustSucceed(t, r)
	t.Logf("description-only edit of the same quote: %d calls", warm)
	if warm > 5 {
		t.Errorf("a description-only edit cost %d calls, want at most 5 (four reads and the Quote)", warm)
	}
	for id, n := range writes {
		if got := f.emu.Writes(id); got != n {
			t.Errorf("record %s written again by a description-only edit (%d writes, was %d)", id, got, n)
		}
	}

	f.advance(time.Hour)
	r, expired := f.send(emuQuote("qe2", oppID, 20))
	qMustSucceed(t, r)
	t.Logf("a second 20-line quote after the caches expired: %d calls", expired)
	if expired > 8 {
		t.Errorf("sync after cache expiry cost %d calls, want at most 8", expired)
	}
}
