package billing_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/emulate/billing"
)

type delivery struct {
	header http.Header
	body   []byte
}

// receiver records deliveries; fail decides per call whether to answer 500.
type receiver struct {
	mu    sync.Mutex
	got   []delivery
	calls atomic.Int64
	fail  func(n int64) bool
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	n := rc.calls.Add(1)
	rc.mu.Lock()
	rc.got = append(rc.got, delivery{r.Header.Clone(), b})
	rc.mu.Unlock()
	if rc.fail != nil && rc.fail(n) {
		http.Error(w, "boom", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func handHMAC(t *testing.T, h http.Header, body []byte) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(testSecret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(h.Get("webhook-id") + "." + h.Get("webhook-timestamp") + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestWebhooksSignedAndOrdered(t *testing.T) {
	t.Parallel()
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	em, srv := newEmulator(t, func(o *billing.Options) { o.WebhookURL = hook.URL })
	em.Start(t.Context())

	acc := call(t, srv, "POST", "/api/v1/accounts", `{"name":"Acme","code":"ACME"}`).str("id")
	bal := call(t, srv, "POST", "/api/v1/balances", `{"accountId":"`+acc+`","name":"P","amount":"10.00","currency":"USD"}`).str("id")
	tx := call(t, srv, "POST", "/api/v1/balance-transactions", `{"balanceId":"`+bal+`","amount":"1.25"}`).str("id")
	mustStatus(t, call(t, srv, "PUT", "/api/v1/accounts/"+acc, `{"name":"Acme Inc","code":"ACME","version":1}`), 200)
	mustStatus(t, call(t, srv, "DELETE", "/api/v1/balances/"+bal, ""), 204)

	waitFor(t, "6 deliveries", func() bool { return em.Delivered() == 6 })
	if em.Pending() != 0 {
		t.Fatalf("pending %d", em.Pending())
	}
	v, err := billingapi.NewVerifier(testSecret, nil)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	ids := map[string]bool{}
	for _, d := range rc.deliveries() {
		id, err := v.Verify(d.header, d.body)
		if err != nil {
			t.Fatalf("own verifier refuses a delivery: %v", err)
		}
		if ids[id] {
			t.Fatalf("webhook id %s reused across events", id)
		}
		ids[id] = true
		if got, want := d.header.Get("webhook-signature"), handHMAC(t, d.header, d.body); got != want {
			t.Fatalf("signature %q, hand HMAC %q", got, want)
		}
		ev, err := billingapi.ParseWebhook(d.body)
		if err != nil {
			t.Fatalf("body %s: %v", d.body, err)
		}
		types = append(types, string(ev.Object)+"."+string(ev.Op))
		switch ev.Data.ID() {
		case tx:
			if ev.Op == billsync.OpDeleted && ev.Data.Version() != 2 {
				t.Fatalf("deleted txn carries version %d, want 2", ev.Data.Version())
			}
		case acc:
			if ev.Op == billsync.OpUpdated && ev.Data.Str("name") != "Acme Inc" {
				t.Fatalf("update carries %v", ev.Data)
			}
		}
	}
	want := "account.created balance.created balance_transaction.created account.updated balance_transaction.deleted balance.deleted"
	if got := strings.Join(types, " "); got != want {
		t.Fatalf("order %q, want %q", got, want)
	}
}

func TestWebhookRetry(t *testing.T) {
	t.Parallel()
	rc := &receiver{fail: func(n int64) bool { return n <= 2 }}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	var tick atomic.Int64
	base := time.Now()
	// Each clock read is 2 s later, so every attempt has a new timestamp
	// while staying well inside the verifier's tolerance.
	clock := func() time.Time { return base.Add(time.Duration(tick.Add(1)) * 2 * time.Second) }
	em, srv := newEmulator(t, func(o *billing.Options) {
		o.WebhookURL = hook.URL
		o.Clock = clock
		o.RetryBackoff = func(int) time.Duration { return 10 * time.Millisecond }
	})
	em.Start(t.Context())
	mustStatus(t, call(t, srv, "POST", "/api/v1/accounts", `{"name":"Acme","code":"ACME"}`), 201)
	waitFor(t, "delivery after retries", func() bool { return em.Delivered() == 1 })
	ds := rc.deliveries()
	if len(ds) != 3 {
		t.Fatalf("%d attempts, want 3", len(ds))
	}
	v, _ := billingapi.NewVerifier(testSecret, func() time.Time { return base.Add(time.Duration(tick.Load()) * 2 * time.Second) })
	stamps := map[string]bool{}
	for _, d := range ds {
		if d.header.Get("webhook-id") != ds[0].header.Get("webhook-id") || string(d.body) != string(ds[0].body) {
			t.Fatal("a retry must keep the webhook id and body")
		}
		stamps[d.header.Get("webhook-timestamp")] = true
		if _, err := v.Verify(d.header, d.body); err != nil {
			t.Fatalf("attempt not signed afresh: %v", err)
		}
	}
	if len(stamps) != 3 {
		t.Fatalf("timestamps %v: each attempt must be signed afresh", stamps)
	}
}

func TestAccountsDeliverInParallel(t *testing.T) {
	t.Parallel()
	// The receiver blocks every delivery for account A; account B's events
	// must still get through, and A's must keep their order.
	release := make(chan struct{})
	var mu sync.Mutex
	var order []string
	var blockedAcc atomic.Value
	blockedAcc.Store("")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ev, err := billingapi.ParseWebhook(b)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		if ev.Data.ID() == blockedAcc.Load().(string) && ev.Type == "account.created" {
			<-release
		}
		mu.Lock()
		order = append(order, ev.Type+":"+ev.Data.Str("name"))
		mu.Unlock()
	}))
	defer hook.Close()
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // runs before hook.Close, so a failed test cannot hang there
	em, _ := newEmulator(t, nil)
	a, err := em.Create(billsync.ObjectAccount, billsync.Entity{"name": "A", "code": "A"})
	if err != nil {
		t.Fatal(err)
	}
	blockedAcc.Store(a.ID())
	if _, err := em.Create(billsync.ObjectAccount, billsync.Entity{"name": "B", "code": "B"}); err != nil {
		t.Fatal(err)
	}
	em.SetWebhookURL(hook.URL)
	em.Start(t.Context())
	waitFor(t, "B delivered while A blocks", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(order) == 1 && order[0] == "account.created:B"
	})
	unblock()
	waitFor(t, "A delivered", func() bool { return em.Delivered() == 2 })
}

func TestPersistence(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	opts := billing.Options{Token: testToken, WebhookSecret: testSecret, DataDir: dir}
	em, err := billing.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	tenant := em.Tenant()
	acc, err := em.Create(billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME", "customFields": map[string]any{"n": 3}})
	if err != nil {
		t.Fatal(err)
	}
	bal, err := em.Create(billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "name": "P", "amount": "10.10", "currency": "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	if err := em.Close(); err != nil {
		t.Fatal(err)
	}

	em2, err := billing.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if em2.Tenant() != tenant {
		t.Fatalf("tenant %q, want %q kept across restarts", em2.Tenant(), tenant)
	}
	got, ok := em2.Get(billsync.ObjectBalance, bal.ID())
	if !ok || got.Str("amount") != "10.10" || got.Version() != 1 {
		t.Fatalf("balance after reload %v %v", got, ok)
	}
	if a, _ := em2.Get(billsync.ObjectAccount, acc.ID()); a.Str("customFields") != `{"n":3}` {
		t.Fatalf("custom fields after reload %v", a)
	}
	if em2.Pending() != 2 || em2.Writes(acc.ID()) != 1 {
		t.Fatalf("pending %d writes %d", em2.Pending(), em2.Writes(acc.ID()))
	}
	// A new record after reload gets a later position in lists.
	srv := httptest.NewServer(em2.Handler())
	defer srv.Close()
	acc2 := call(t, srv, "POST", "/api/v1/accounts", `{"name":"Second","code":"S"}`).str("id")
	r := call(t, srv, "GET", "/api/v1/accounts", "")
	data := r.body["data"].([]any)
	if len(data) != 2 || data[1].(map[string]any)["id"] != acc2 {
		t.Fatalf("list after reload %v", data)
	}
	// The held webhooks are delivered once a URL is set.
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	em2.SetWebhookURL(hook.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	em2.Start(ctx)
	waitFor(t, "held webhooks delivered", func() bool { return em2.Delivered() == 3 })
	var accEvents []string
	for _, d := range rc.deliveries() {
		ev, err := billingapi.ParseWebhook(d.body)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Data.ID() == acc.ID() || ev.Data.Str("accountId") == acc.ID() {
			accEvents = append(accEvents, ev.Type)
		}
	}
	if got := strings.Join(accEvents, " "); got != "account.created balance.created" {
		t.Fatalf("order after reload: %s", got)
	}
	if err := em2.Close(); err != nil {
		t.Fatal(err)
	}
	em3, err := billing.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer em3.Close()
	if em3.Pending() != 0 || em3.Delivered() != 3 {
		t.Fatalf("after second reload pending %d delivered %d", em3.Pending(), em3.Delivered())
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []billing.Options{
		{WebhookSecret: testSecret},
		{Token: "t", WebhookSecret: "plain"},
		{Token: "t", WebhookSecret: "whsec_!!!"},
	} {
		if _, err := billing.New(o); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Fatalf("New(%+v) = %v, want EINVALID", o, err)
		}
	}
}

func TestWebhookGivesUpAfter24Hours(t *testing.T) {
	t.Parallel()
	rc := &receiver{fail: func(int64) bool { return true }}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	var now atomic.Int64
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now.Store(start.UnixNano())
	em, _ := newEmulator(t, func(o *billing.Options) {
		o.WebhookURL = hook.URL
		o.Clock = func() time.Time { return time.Unix(0, now.Load()) }
		o.RetryBackoff = func(int) time.Duration { return 5 * time.Millisecond }
	})
	if _, err := em.Create(billsync.ObjectAccount, billsync.Entity{"name": "A", "code": "A"}); err != nil {
		t.Fatal(err)
	}
	em.Start(t.Context())
	waitFor(t, "a few failed attempts", func() bool { return rc.calls.Load() >= 3 })
	if em.Pending() != 1 {
		t.Fatalf("pending %d while retrying", em.Pending())
	}
	now.Store(start.Add(24*time.Hour + time.Second).UnixNano())
	waitFor(t, "the event to be dropped", func() bool { return em.Pending() == 0 })
	if em.Delivered() != 0 {
		t.Fatalf("delivered %d", em.Delivered())
	}
}

func TestDefaultRetryBackoff(t *testing.T) {
	t.Parallel()
	for attempt, want := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second, 9: 256 * time.Second, 10: 5 * time.Minute, 1000: 5 * time.Minute} {
		if got := billing.DefaultRetryBackoff(attempt); got != want {
			t.Errorf("backoff(%d) = %v, want %v", attempt, got, want)
		}
	}
}

// Deliveries of different accounts overlap: the receiver holds each
// account's first webhook until every account has one in flight, which
// only a sender with that many deliveries under way gets past. One
// account's webhooks stay in order, a failed and retried one included.
func TestDeliveriesOverlapAcrossAccountsInOrderWithin(t *testing.T) {
	t.Parallel()
	const accounts, updates = 6, 4
	allIn := make(chan struct{})
	var mu sync.Mutex
	firstSeen := map[string]bool{}
	failedOnce := map[string]bool{}
	got := map[string][]int64{} // account → versions of its account events, in arrival order
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ev, err := billingapi.ParseWebhook(b)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		acc, v := ev.Data.ID(), ev.Data.Version()
		mu.Lock()
		first := !firstSeen[acc]
		if first {
			firstSeen[acc] = true
			if len(firstSeen) == accounts {
				close(allIn)
			}
		}
		fail := v == 3 && !failedOnce[acc]
		if fail {
			failedOnce[acc] = true
		} else {
			got[acc] = append(got[acc], v)
		}
		mu.Unlock()
		if first {
			select {
			case <-allIn:
			case <-time.After(15 * time.Second):
				t.Errorf("account %s's first webhook waited alone: deliveries do not overlap", acc)
			}
		}
		if fail {
			http.Error(w, "try again", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer hook.Close()
	em, srv := newEmulator(t, func(o *billing.Options) {
		o.RetryBackoff = func(int) time.Duration { return time.Millisecond }
	})
	var ids []string
	for i := range accounts {
		acc, err := em.Create(billsync.ObjectAccount, billsync.Entity{"name": "A", "code": string(rune('A' + i))})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, acc.ID())
		for v := 1; v <= updates; v++ {
			mustStatus(t, call(t, srv, "PUT", "/api/v1/accounts/"+acc.ID(), fmt.Sprintf(`{"name":"A","code":"%c","version":%d}`, 'A'+i, v)), 200)
		}
	}
	em.SetWebhookURL(hook.URL)
	em.Start(t.Context())
	waitFor(t, "every webhook delivered", func() bool { return em.Delivered() == accounts*(updates+1) })
	mu.Lock()
	defer mu.Unlock()
	want := []int64{1, 2, 3, 4, 5}
	for _, id := range ids {
		if fmt.Sprint(got[id]) != fmt.Sprint(want) {
			t.Errorf("account %s: versions arrived as %v, want %v", id, got[id], want)
		}
	}
}
