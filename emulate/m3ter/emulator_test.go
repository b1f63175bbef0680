package m3ter

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// A balance's amount is the exact decimal sum of its transactions; each
// transaction raises billing.balance.updated and bumps the version.
func TestBalanceArithmetic(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	acct := c.createAccount("acme")
	bal := c.createBalance(acct["id"].(string), "prepaid")
	if got := num(t, bal["amount"]); got != "0" {
		t.Fatalf("new balance amount = %s, want 0", got)
	}
	bid := bal["id"].(string)
	amounts := []string{"100.10", "0.2", "-3.005", "12345678901234.56", "-12345678901234.56"}
	for _, a := range amounts {
		tx := c.ok("POST", "/balances/"+bid+"/transactions", fmt.Sprintf(`{"amount":%s,"description":"t %s"}`, a, a))
		if got := num(t, tx["amount"]); got != a {
			t.Errorf("transaction amount = %s, want %s exactly", got, a)
		}
		if tx["entityType"] != "SERVICE_USER" || tx["entityId"] != testUser || tx["createdBy"] != testUser {
			t.Errorf("transaction attribution = %v %v %v", tx["entityType"], tx["entityId"], tx["createdBy"])
		}
	}
	got := c.ok("GET", "/balances/"+bid, nil)
	if a := num(t, got["amount"]); a != "97.295" {
		t.Fatalf("balance amount = %s, want 97.295", a)
	}
	if v := num(t, got["version"]); v != fmt.Sprint(1+len(amounts)) {
		t.Errorf("balance version = %s after %d transactions", v, len(amounts))
	}
	list := data(t, c.ok("GET", "/balances/"+bid+"/transactions", nil))
	if len(list) != len(amounts) {
		t.Fatalf("%d transactions listed, want %d", len(list), len(amounts))
	}
	for i, tx := range list { // newest first
		if want := amounts[len(amounts)-1-i]; num(t, tx["amount"]) != want {
			t.Errorf("transaction %d = %s, want %s (newest first)", i, num(t, tx["amount"]), want)
		}
	}
	evs := data(t, c.ok("GET", "/events"+q("eventName", "billing.balance.updated", "resourceId", bid), nil))
	if len(evs) != len(amounts) {
		t.Fatalf("%d billing.balance.updated events, want one per transaction", len(evs))
	}
	if a := num(t, newDto(evs[0])["amount"]); a != "97.295" {
		t.Errorf("newest event's balance amount = %s", a)
	}
	// The amount is read-only: a write that changes it is refused, one that
	// sends it back unchanged is not.
	put := public(got)
	put["amount"] = "5"
	if r := c.do("PUT", "/balances/"+bid, put); r.status != http.StatusBadRequest || !strings.Contains(r.raw, "amount") {
		t.Errorf("PUT with a changed amount: %d %s", r.status, r.raw)
	}
	put["amount"] = got["amount"]
	put["name"] = "Renamed"
	if r := c.ok("PUT", "/balances/"+bid, put); num(t, r["amount"]) != "97.295" || r["name"] != "Renamed" {
		t.Errorf("PUT kept amount %v name %v", r["amount"], r["name"])
	}
	for _, bad := range []string{`{"amount":"10"}`, `{}`, `{"amount":1e400000}`} {
		if r := c.do("POST", "/balances/"+bid+"/transactions", bad); r.status != http.StatusBadRequest {
			t.Errorf("transaction %s: %d %s", bad, r.status, r.raw)
		}
	}
	if r := c.do("POST", "/balances/nope/transactions", `{"amount":1}`); r.status != http.StatusNotFound {
		t.Errorf("transaction on an unknown balance: %d", r.status)
	}
}

// PROVISIONAL: m3ter's status for a stale version is unpublished; the
// emulator answers 409 {"message": "... version ..."}. A PUT replaces the
// whole object: customFields left out are wiped.
func TestProvisionalStaleVersionIs409(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	a := c.ok("POST", "/accounts", obj{"name": "Acme", "code": "acme", "emailAddress": "a@example.com",
		"customFields": obj{"tier": "gold", "seats": 12}})
	id := a["id"].(string)
	if num(t, a["version"]) != "1" || a["createdBy"] != testUser || a["lastModifiedBy"] != testUser {
		t.Fatalf("created account: %v", a)
	}
	for _, f := range []string{"dtCreated", "dtLastModified"} {
		if _, err := time.Parse(time.RFC3339, str(a[f])); err != nil {
			t.Errorf("%s = %v: %v", f, a[f], err)
		}
	}
	upd := c.ok("PUT", "/accounts/"+id, obj{"name": "Acme 2", "code": "acme", "emailAddress": "a@example.com", "version": 1})
	if num(t, upd["version"]) != "2" || upd["name"] != "Acme 2" {
		t.Fatalf("updated account: %v", upd)
	}
	if _, kept := upd["customFields"]; kept {
		t.Errorf("customFields survived a PUT that left them out: %v", upd["customFields"])
	}
	if upd["dtCreated"] != a["dtCreated"] || upd["createdBy"] != testUser {
		t.Errorf("create audit fields changed: %v %v", upd["dtCreated"], upd["createdBy"])
	}
	for name, v := range map[string]any{"stale": 1, "ahead": 7, "missing": nil} {
		body := obj{"name": "Acme 3", "code": "acme", "emailAddress": "a@example.com"}
		if v != nil {
			body["version"] = v
		}
		r := c.do("PUT", "/accounts/"+id, body)
		if r.status != http.StatusConflict || !strings.Contains(str(r.body["message"]), "version") {
			t.Errorf("%s version: %d %s, want 409 with a message naming the version", name, r.status, r.raw)
		}
	}
	if got := c.ok("GET", "/accounts/"+id, nil); got["name"] != "Acme 2" || num(t, got["version"]) != "2" {
		t.Errorf("a refused PUT changed the account: %v", got)
	}
	if r := c.do("POST", "/accounts", obj{"name": "Dup", "code": "acme", "emailAddress": "d@example.com"}); r.status != http.StatusBadRequest {
		t.Errorf("duplicate code: %d %s", r.status, r.raw)
	}
	if r := c.do("POST", "/accounts", obj{"name": "No email", "code": "x"}); r.status != http.StatusBadRequest {
		t.Errorf("missing emailAddress: %d", r.status)
	}
	del := c.ok("DELETE", "/accounts/"+id, nil)
	if del["id"] != id {
		t.Errorf("delete answered %v", del)
	}
	if r := c.do("GET", "/accounts/"+id, nil); r.status != http.StatusNotFound || r.body["message"] == nil {
		t.Errorf("deleted account: %d %s", r.status, r.raw)
	}
	names := map[string]bool{}
	for _, ev := range data(t, c.ok("GET", "/events"+q("resourceId", id), nil)) {
		names[str(ev["eventName"])] = true
		d := ev["m3terEvent"].(map[string]any)["eventData"].(map[string]any)
		old, _ := d["oldDto"].(map[string]any)
		switch ev["eventName"] {
		case "configuration.account.deleted": // only the old values, as m3ter's event fields
			if d["newDto"] != nil || old["id"] != id || old["name"] != "Acme 2" {
				t.Errorf("deleted event data: %v", d)
			}
		case "configuration.account.updated":
			if newDto(ev)["name"] != "Acme 2" || old["name"] != "Acme" {
				t.Errorf("updated event data: %v", d)
			}
		case "configuration.account.created":
			if newDto(ev)["id"] != id || d["oldDto"] != nil {
				t.Errorf("created event data: %v", d)
			}
		}
	}
	for _, n := range []string{"configuration.account.created", "configuration.account.updated", "configuration.account.deleted"} {
		if !names[n] {
			t.Errorf("no %s event (have %v)", n, names)
		}
	}
}

// Pages stay correct while records are created between them: nothing is
// served twice or skipped, newest first.
func TestPagingWhileCreating(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	for i := range 25 {
		c.createAccount(fmt.Sprintf("a%02d", i))
	}
	var seen []string
	next := ""
	for page := 0; ; page++ {
		path := "/accounts" + q("pageSize", "10")
		if next != "" {
			path = "/accounts" + q("pageSize", "10", "nextToken", next)
		}
		body := c.ok("GET", path, nil)
		for _, a := range data(t, body) {
			seen = append(seen, str(a["code"]))
		}
		c.createAccount(fmt.Sprintf("new%d", page)) // lands on no later page
		next = str(body["nextToken"])
		if next == "" {
			break
		}
		if page > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 25 {
		t.Fatalf("paged %d accounts, want 25: %v", len(seen), seen)
	}
	for i, code := range seen {
		if want := fmt.Sprintf("a%02d", 24-i); code != want {
			t.Errorf("position %d = %s, want %s (newest first)", i, code, want)
		}
	}
	// Filters and the page-size bound.
	if l := data(t, c.ok("GET", "/accounts"+q("codes", "a03", "codes", "a07"), nil)); len(l) != 2 {
		t.Errorf("codes filter: %d accounts", len(l))
	}
	if r := c.do("GET", "/accounts"+q("pageSize", "101"), nil); r.status != http.StatusBadRequest {
		t.Errorf("pageSize over the spec's maximum: %d", r.status)
	}
	if r := c.do("GET", "/accounts"+q("nextToken", "garbage"), nil); r.status != http.StatusBadRequest {
		t.Errorf("bad nextToken: %d", r.status)
	}
}

// Tokens last 18,000 s; after that the API answers 401 and a new token
// works. Everything but oauth/token needs one.
func TestTokenExpiry(t *testing.T) {
	clock := newFakeClock()
	e, c := serve(t, Options{Clock: clock.Now}, nil)
	tok := c.raw("POST", "/oauth/token", `{"grant_type":"client_credentials"}`, "basic")
	if n := num(t, tok.body["expires_in"]); n != "18000" || tok.body["token_type"] != "Bearer" {
		t.Fatalf("token answer: %s", tok.raw)
	}
	form := c.raw("POST", "/oauth/token", "grant_type=client_credentials", "basic", "Content-Type", "application/x-www-form-urlencoded")
	if form.status != http.StatusOK {
		t.Fatalf("form-encoded token request: %d %s", form.status, form.raw)
	}
	c.ok("GET", "/accounts", nil)
	clock.Add(TokenLifetime - time.Second)
	c.ok("GET", "/accounts", nil)
	clock.Add(time.Second)
	if r := c.do("GET", "/accounts", nil); r.status != http.StatusUnauthorized || r.body["message"] == nil {
		t.Fatalf("expired token: %d %s", r.status, r.raw)
	}
	c.login()
	c.ok("GET", "/accounts", nil)
	e.ExpireTokens() // the fault hook
	if r := c.do("GET", "/accounts", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("after ExpireTokens: %d %s", r.status, r.raw)
	}
	c.login()
	c.ok("GET", "/accounts", nil)

	bad := *c
	bad.secret = "wrong"
	if r := bad.raw("POST", "/oauth/token", `{"grant_type":"client_credentials"}`, "basic"); r.status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %d", r.status)
	}
	if r := c.raw("POST", "/oauth/token", `{"grant_type":"password"}`, "basic"); r.status != http.StatusBadRequest {
		t.Errorf("wrong grant: %d", r.status)
	}
	for _, p := range []string{"/organizations/" + testOrg + "/accounts", "/organizations/" + testOrg + "/users/me", "/organizations/" + testOrg + "/events"} {
		if r := c.raw("GET", p, "", ""); r.status != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d", p, r.status)
		}
	}
	if r := c.raw("GET", "/organizations/other-org/accounts", "", "bearer"); r.status != http.StatusForbidden {
		t.Errorf("another organization: %d", r.status)
	}
	if r := c.raw("GET", "/organizations/"+testOrg+"/nothing", "", "bearer"); r.status != http.StatusNotFound || r.body["message"] == nil {
		t.Errorf("unknown route: %d %s", r.status, r.raw)
	}
	if r := c.raw("PATCH", "/organizations/"+testOrg+"/accounts", "", "bearer"); r.status != http.StatusNotFound || r.body["message"] == nil {
		t.Errorf("unknown method: %d %s", r.status, r.raw)
	}
	me := c.ok("GET", "/users/me", nil)
	if su, _ := me["serviceUser"].(map[string]any); su["id"] != testUser {
		t.Errorf("users/me = %v", me)
	}
}

// A write from another user is attributed to that user.
func TestOtherUserAttribution(t *testing.T) {
	e, c := serve(t, Options{}, nil)
	e.AddCredentials("person-key", "person-secret", "USER_42")
	other := *c
	other.key, other.secret = "person-key", "person-secret"
	other.login()
	a := other.createAccount("theirs")
	if a["createdBy"] != "USER_42" || a["lastModifiedBy"] != "USER_42" {
		t.Errorf("attribution: %v %v", a["createdBy"], a["lastModifiedBy"])
	}
	me := other.ok("GET", "/users/me", nil)
	if u, _ := me["user"].(map[string]any); u["id"] != "USER_42" {
		t.Errorf("users/me as a person = %v", me)
	}
}

// A failing destination gets the webhook again, with backoff, until it
// accepts; the integration run shows the outcome.
func TestWebhookRetry(t *testing.T) {
	e, c := serve(t, Options{}, nil)
	rcv := newReceiver(t)
	rcv.fail.Store(3)
	_, _, cfg := c.setupWebhook("configuration.account.created", rcv.srv.URL+"/webhooks/m3ter/tok")
	a := c.createAccount("acme")
	got := rcv.waitFor(t, 1)
	if rcv.failed.Load() != 3 {
		t.Errorf("%d failed attempts before the delivery, want 3", rcv.failed.Load())
	}
	if got[0]["eventName"] != "configuration.account.created" || newDto(got[0])["id"] != a["id"] || str(got[0]["id"]) == "" {
		t.Errorf("webhook body: %v", got[0])
	}
	eventually(t, "no pending deliveries", func() bool { return e.Pending() == 0 })
	run := c.ok("GET", "/integrationconfigs/"+cfg, nil)
	if run["status"] != "COMPLETE" {
		t.Errorf("integration run status = %v", run["status"])
	}
	// Events with no notification are recorded and not delivered.
	c.createBalance(a["id"].(string), "b1")
	if n := len(data(t, c.ok("GET", "/events"+q("eventName", "billing.balance.created"), nil))); n != 1 {
		t.Errorf("%d balance events", n)
	}
	if n := len(data(t, c.ok("GET", "/events"+q("eventType", "Notification"), nil))); n != 1 {
		t.Errorf("%d Notification events, want the one that fired", n)
	}
	if rcv.count() != 1 || e.Pending() != 0 {
		t.Errorf("a balance event was delivered (%d bodies, %d pending)", rcv.count(), e.Pending())
	}
}

// PauseDelivery holds webhooks so a test decides their order with
// Redeliver; unpausing then sends the held ones, duplicates of those
// already redelivered only if they were not settled.
func TestPauseAndRedeliver(t *testing.T) {
	e, c := serve(t, Options{}, nil)
	rcv := newReceiver(t)
	c.setupWebhook("configuration.account.updated", rcv.srv.URL+"/h")
	a := c.createAccount("acme")
	id := a["id"].(string)
	e.PauseDelivery(true)
	v := 1
	for _, name := range []string{"First", "Second"} {
		c.ok("PUT", "/accounts/"+id, obj{"name": name, "code": "acme", "emailAddress": "acme@example.com", "version": v})
		v++
	}
	if e.Pending() != 2 {
		t.Fatalf("%d pending while paused, want 2", e.Pending())
	}
	evs := data(t, c.ok("GET", "/events"+q("eventName", "configuration.account.updated"), nil)) // newest first
	if err := e.Redeliver(str(evs[0]["id"])); err != nil {                                      // the newer first: out of order
		t.Fatal(err)
	}
	if err := e.Redeliver(str(evs[1]["id"])); err != nil {
		t.Fatal(err)
	}
	got := rcv.waitFor(t, 2)
	if newDto(got[0])["name"] != "Second" || newDto(got[1])["name"] != "First" {
		t.Errorf("order = %v, %v; want Second, First", newDto(got[0])["name"], newDto(got[1])["name"])
	}
	if e.Pending() != 0 {
		t.Errorf("%d pending after both were redelivered", e.Pending())
	}
	if err := e.Redeliver(str(evs[0]["id"])); err != nil { // a duplicate
		t.Fatal(err)
	}
	rcv.waitFor(t, 3)
	e.PauseDelivery(false)
	if err := e.Redeliver("no-such-event"); err == nil {
		t.Error("Redeliver of an unknown event succeeded")
	}
	// A held delivery goes out once unpaused.
	e.PauseDelivery(true)
	c.ok("PUT", "/accounts/"+id, obj{"name": "Third", "code": "acme", "emailAddress": "acme@example.com", "version": v})
	if e.Pending() != 1 {
		t.Fatalf("%d pending, want 1", e.Pending())
	}
	e.PauseDelivery(false)
	got = rcv.waitFor(t, 4)
	if newDto(got[3])["name"] != "Third" {
		t.Errorf("released delivery: %v", newDto(got[3]))
	}
}

// The before-write hook holds a write at a chosen point: an edit that
// lands meanwhile makes the held write stale.
func TestBeforeWriteHook(t *testing.T) {
	e, c := serve(t, Options{}, nil)
	a := c.createAccount("acme")
	id := a["id"].(string)
	held := make(chan Write, 1)
	release := make(chan struct{})
	var once sync.Once
	e.SetBeforeWrite(func(w Write) {
		if w.Method == "PUT" && strings.Contains(string(w.Body), "Billsync") {
			once.Do(func() {
				held <- w
				<-release
			})
		}
	})
	done := make(chan resp, 1)
	go func() {
		done <- c.do("PUT", "/accounts/"+id, obj{"name": "Billsync", "code": "acme", "emailAddress": "acme@example.com", "version": 1})
	}()
	var w Write
	select {
	case w = <-held:
	case <-time.After(15 * time.Second):
		t.Fatal("the write never reached the hook")
	}
	if w.Path != "/organizations/"+testOrg+"/accounts/"+id {
		t.Errorf("hook path = %s", w.Path)
	}
	c.ok("PUT", "/accounts/"+id, obj{"name": "Person", "code": "acme", "emailAddress": "acme@example.com", "version": 1})
	close(release)
	r := <-done
	if r.status != http.StatusConflict {
		t.Fatalf("the held write answered %d %s, want 409", r.status, r.raw)
	}
	e.SetBeforeWrite(nil)
	if got := c.ok("GET", "/accounts/"+id, nil); got["name"] != "Person" {
		t.Errorf("name = %v", got["name"])
	}
}

// A restarted emulator with the same data directory has every record,
// event, token and undelivered webhook of the last run.
func TestReloadFromDataDir(t *testing.T) {
	dir := t.TempDir()
	rcv := newReceiver(t)
	opts := testOptions(Options{DataDir: dir})
	opts.ServiceUserID = "" // generated, and kept in the data directory
	e1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c := startClient(t, e1)
	user := e1.ServiceUserID()
	c.setupWebhook("billing.balance.updated", rcv.srv.URL+"/h")
	a := c.createAccount("acme")
	b := c.createBalance(a["id"].(string), "b")
	bid := b["id"].(string)
	c.ok("POST", "/balances/"+bid+"/transactions", `{"amount":10.25}`)
	c.ok("POST", "/balances/"+bid+"/transactions", `{"amount":-0.05}`)
	if e1.Pending() != 2 { // never started: nothing delivered
		t.Fatalf("pending = %d", e1.Pending())
	}
	token := c.bear
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}

	e2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c2 := startClient(t, e2)
	c2.bear = token // the old token still works
	if e2.ServiceUserID() != user {
		t.Errorf("service user %s, was %s", e2.ServiceUserID(), user)
	}
	got := c2.ok("GET", "/balances/"+bid, nil)
	if num(t, got["amount"]) != "10.20" || num(t, got["version"]) != "3" {
		t.Errorf("reloaded balance: amount %v version %v", got["amount"], got["version"])
	}
	if n := len(data(t, c2.ok("GET", "/balances/"+bid+"/transactions", nil))); n != 2 {
		t.Errorf("%d transactions after reload", n)
	}
	if n := len(e2.Events()); n != 4 {
		t.Errorf("%d events after reload, want 4", n)
	}
	// New records continue after the old ones, newest first.
	c2.createAccount("second")
	l := data(t, c2.ok("GET", "/accounts", nil))
	if len(l) != 2 || l[0]["code"] != "second" {
		t.Errorf("accounts after reload: %v", l)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e2.Start(ctx)
	rcv.waitFor(t, 2)
	eventually(t, "deliveries settled", func() bool { return e2.Pending() == 0 })

	// A third run after a fold (Close writes the snapshot) has it all too.
	if err := e2.Close(); err != nil {
		t.Fatal(err)
	}
	e3, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c3 := startClient(t, e3)
	if got := c3.ok("GET", "/balances/"+bid, nil); num(t, got["amount"]) != "10.20" {
		t.Errorf("third run amount %v", got["amount"])
	}
	if e3.Pending() != 0 {
		t.Errorf("delivered webhooks came back: %d pending", e3.Pending())
	}
}

// Injected faults carry m3ter's error body.
func TestFaultFormat(t *testing.T) {
	ct, b := FaultFormat(http.StatusTooManyRequests, "", "")
	if ct != "application/json" || string(b) != `{"message":"Too Many Requests"}` {
		t.Errorf("FaultFormat = %s %s", ct, b)
	}
}

// A process that dies without Close loses nothing it answered: the journal
// (folded into snapshots in the background as it grows) holds it all.
func TestCrashReloadAfterFolds(t *testing.T) {
	dir := t.TempDir()
	opts := testOptions(Options{DataDir: dir})
	e1, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	e1.journal.SetFoldThreshold(2 << 10)
	srv := httptest.NewServer(e1.Handler())
	defer srv.Close()
	c := &client{t: t, base: srv.URL, org: testOrg, key: testKey, secret: testSecret}
	c.login()
	a := c.createAccount("acme")
	bid := c.createBalance(a["id"].(string), "b")["id"].(string)
	for range 60 {
		c.ok("POST", "/balances/"+bid+"/transactions", `{"amount":0.01}`)
	}
	e1.journal.WaitFolds()
	if _, err := os.Stat(filepath.Join(dir, snapshotFile)); err != nil {
		t.Fatalf("no fold happened: %v", err)
	}
	// No Close: as if killed.
	e2, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c2 := startClient(t, e2)
	got := c2.ok("GET", "/balances/"+bid, nil)
	if num(t, got["amount"]) != "0.60" || num(t, got["version"]) != "61" {
		t.Errorf("after the crash: amount %v version %v", got["amount"], got["version"])
	}
	if n := len(e2.Events()); n != 62 {
		t.Errorf("%d events after the crash, want 62", n)
	}
}

// Concurrent transactions on one balance all count, exactly once.
func TestConcurrentTransactions(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	a := c.createAccount("acme")
	bid := c.createBalance(a["id"].(string), "b")["id"].(string)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				c.ok("POST", "/balances/"+bid+"/transactions", fmt.Sprintf(`{"amount":%d.25}`, w+1))
			}
		}()
	}
	wg.Wait()
	got := c.ok("GET", "/balances/"+bid, nil)
	if num(t, got["amount"]) != "110.00" || num(t, got["version"]) != "41" {
		t.Errorf("amount %v version %v, want 110.00 and 41", got["amount"], got["version"])
	}
}
