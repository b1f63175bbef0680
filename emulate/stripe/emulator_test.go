package stripe

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestBalanceArithmetic(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	id := c.ok("POST", "/v1/customers", "name=A")["id"].(string)
	if cus := c.ok("GET", "/v1/customers/"+id, ""); cus["currency"] != nil || num(t, cus["balance"]) != 0 {
		t.Fatalf("new customer %v", cus)
	}
	path := "/v1/customers/" + id + "/balance_transactions"
	for i, step := range []struct{ amount, ending int64 }{{-5000, -5000}, {1200, -3800}, {3800, 0}, {10, 10}} {
		txn := c.ok("POST", path, fmt.Sprintf("amount=%d&currency=usd", step.amount))
		if got := num(t, txn["ending_balance"]); got != step.ending {
			t.Errorf("step %d: ending_balance %d, want %d", i, got, step.ending)
		}
	}
	c.ok("POST", path, "amount=-700&currency=eur") // another currency: invoice_credit_balance only
	cus := c.ok("GET", "/v1/customers/"+id, "expand[]=invoice_credit_balance")
	icb := m(cus["invoice_credit_balance"])
	if num(t, cus["balance"]) != 10 || cus["currency"] != "usd" || num(t, icb["usd"]) != -10 || num(t, icb["eur"]) != 700 {
		t.Errorf("customer %v", cus)
	}
	if _, ok := c.ok("GET", "/v1/customers/"+id, "")["invoice_credit_balance"]; ok {
		t.Error("invoice_credit_balance served without expand[]")
	}
	// balance= on update makes an adjustment for the difference.
	c.ok("POST", "/v1/customers/"+id, "balance=-90")
	last := c.ok("GET", path, "limit=1")["data"].([]any)[0].(map[string]any)
	if num(t, last["amount"]) != -100 || num(t, last["ending_balance"]) != -90 || last["type"] != "adjustment" {
		t.Errorf("adjustment %v", last)
	}
	if l := c.ok("GET", path, "limit=100")["data"].([]any); len(l) != 6 {
		t.Errorf("%d transactions, want 6", len(l))
	}
}

func TestTransactionImmutable(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	id := c.ok("POST", "/v1/customers", "name=A")["id"].(string)
	txn := c.ok("POST", "/v1/customers/"+id+"/balance_transactions", "amount=-100&currency=usd")
	p := "/v1/customers/" + id + "/balance_transactions/" + txn["id"].(string)
	for _, form := range []string{"amount=5", "currency=eur", "customer=cus_x"} {
		r := c.do("POST", p, form)
		e := m(r.body["error"])
		if r.status != 400 || e["code"] != "parameter_unknown" || !strings.HasPrefix(e["message"].(string), "Received unknown parameter") {
			t.Errorf("%s: %d %s", form, r.status, r.raw)
		}
	}
	got := c.ok("POST", p, "description=fixed&metadata[a]=b")
	if got["description"] != "fixed" || num(t, got["amount"]) != -100 {
		t.Errorf("update %v", got)
	}
	if r := c.do("DELETE", p, ""); r.status != 404 {
		t.Errorf("DELETE of a transaction: %d", r.status)
	}
	r := c.do("POST", "/v1/customers", "currency=usd")
	if r.status != 400 || m(r.body["error"])["param"] != "currency" {
		t.Errorf("currency on create: %d %s", r.status, r.raw)
	}
}

func TestIdempotency(t *testing.T) {
	e, c := serve(t, Options{}, nil)
	a := c.do("POST", "/v1/customers", "name=A&email=a%40x.test", "Idempotency-Key", "k1")
	b := c.do("POST", "/v1/customers", "email=a%40x.test&name=A", "Idempotency-Key", "k1")
	if a.status != 200 || b.status != 200 || a.body["id"] != b.body["id"] || b.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %d %v %v %v", a.status, b.status, a.body["id"], b.body["id"], b.header)
	}
	if b.header.Get("Original-Request") != a.header.Get("Request-Id") {
		t.Errorf("Original-Request %q, want %q", b.header.Get("Original-Request"), a.header.Get("Request-Id"))
	}
	r := c.do("POST", "/v1/customers", "name=B", "Idempotency-Key", "k1")
	if r.status != 400 || m(r.body["error"])["type"] != "idempotency_error" {
		t.Errorf("mismatch: %d %s", r.status, r.raw)
	}
	if n := len(c.ok("GET", "/v1/customers", "")["data"].([]any)); n != 1 {
		t.Errorf("%d customers, want 1", n)
	}
	var created int
	for _, raw := range e.Events() {
		var ev struct {
			Type    string
			Request struct {
				ID             string `json:"id"`
				IdempotencyKey string `json:"idempotency_key"`
			}
		}
		_ = json.Unmarshal(raw, &ev)
		if ev.Type == "customer.created" {
			created++
			if ev.Request.IdempotencyKey != "k1" || ev.Request.ID != a.header.Get("Request-Id") {
				t.Errorf("event request %+v", ev.Request)
			}
		}
	}
	if created != 1 {
		t.Errorf("%d customer.created events, want 1", created)
	}
}

// TestPaginationWhileCreating pages through more than two pages while new
// customers are created between pages: every customer that existed at the
// start is listed exactly once, newest first.
func TestPaginationWhileCreating(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	var want []string
	for i := range 25 {
		want = append([]string{c.ok("POST", "/v1/customers", fmt.Sprintf("name=c%d", i))["id"].(string)}, want...)
	}
	var got []string
	after, pages := "", 0
	for {
		q := "limit=7"
		if after != "" {
			q += "&starting_after=" + after
		}
		l := c.ok("GET", "/v1/customers", q)
		for _, x := range l["data"].([]any) {
			got = append(got, x.(map[string]any)["id"].(string))
		}
		pages++
		c.ok("POST", "/v1/customers", "name=meanwhile")
		if l["has_more"] != true {
			break
		}
		after = got[len(got)-1]
	}
	if pages != 4 || strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("%d pages; got %v\nwant %v", pages, got, want)
	}
	// ending_before walks back towards the newest.
	l := c.ok("GET", "/v1/customers", "limit=3&ending_before="+want[10])
	ids := []string{}
	for _, x := range l["data"].([]any) {
		ids = append(ids, x.(map[string]any)["id"].(string))
	}
	if strings.Join(ids, ",") != strings.Join(want[7:10], ",") || l["has_more"] != true {
		t.Errorf("ending_before: %v has_more=%v, want %v", ids, l["has_more"], want[7:10])
	}
	if r := c.do("GET", "/v1/customers", "limit=101"); r.status != 400 {
		t.Errorf("limit=101: %d", r.status)
	}
}

func TestWebhookRetryAndSignature(t *testing.T) {
	rcv := newReceiver(t)
	rcv.fail.Store(3)
	e, c := serve(t, Options{}, nil)
	we := c.ok("POST", "/v1/webhook_endpoints", "url="+rcv.srv.URL+"&enabled_events[]=customer.created")
	c.ok("POST", "/v1/customers", "name=A")
	bodies := rcv.waitFor(t, 1)
	rcv.mu.Lock()
	sig := rcv.sigs[0]
	rcv.mu.Unlock()
	var ts int64
	var v1 string
	for part := range strings.SplitSeq(sig, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			fmt.Sscan(v, &ts)
		case "v1":
			v1 = v
		}
	}
	if want := Sign(we["secret"].(string), time.Unix(ts, 0), bodies[0]); want != sig || v1 == "" {
		t.Errorf("signature %q, want %q", sig, want)
	}
	deadline := time.Now().Add(15 * time.Second)
	for e.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.Pending() != 0 {
		t.Errorf("%d deliveries still pending", e.Pending())
	}
}

// TestPauseAndRedeliver shows the out-of-order test pattern: hold
// deliveries, write twice, send the second event first.
func TestPauseAndRedeliver(t *testing.T) {
	rcv := newReceiver(t)
	e, c := serve(t, Options{}, nil)
	c.ok("POST", "/v1/webhook_endpoints", "url="+rcv.srv.URL+"&enabled_events[]=*")
	e.PauseDelivery(true)
	id := c.ok("POST", "/v1/customers", "name=A")["id"].(string)
	c.ok("POST", "/v1/customers/"+id, "name=B")
	evs := c.ok("GET", "/v1/events", "")["data"].([]any) // newest first
	if len(evs) != 2 || num(t, evs[0].(map[string]any)["pending_webhooks"]) != 1 {
		t.Fatalf("events %v", evs)
	}
	for _, ev := range evs {
		if err := e.Redeliver(ev.(map[string]any)["id"].(string)); err != nil {
			t.Fatal(err)
		}
	}
	got := eventTypes(t, rcv.waitFor(t, 2))
	rcv.mu.Lock()
	var first struct{ Type string }
	_ = json.Unmarshal(rcv.bodies[0], &first)
	rcv.mu.Unlock()
	if first.Type != "customer.updated" || got["customer.created"] != 1 {
		t.Errorf("first %q, all %v", first.Type, got)
	}
	if e.Pending() != 0 {
		t.Errorf("redelivered events still pending: %d", e.Pending())
	}
	e.PauseDelivery(false)
}

func TestBeforeWriteHook(t *testing.T) {
	e, c := serve(t, Options{}, nil)
	id := c.ok("POST", "/v1/customers", "name=A")["id"].(string)
	var once sync.Once
	e.SetBeforeWrite(func(w Write) {
		if w.Method == http.MethodPost && w.Params.Get("name") == "mine" {
			once.Do(func() { c.ok("POST", "/v1/customers/"+id, "email=theirs%40x.test") }) // lands first
		}
	})
	got := c.ok("POST", "/v1/customers/"+id, "name=mine")
	e.SetBeforeWrite(nil)
	if got["email"] != "theirs@x.test" || got["name"] != "mine" {
		t.Errorf("customer %v", got)
	}
}

func TestBeforeReadHook(t *testing.T) {
	e, c := serve(t, Options{}, nil)
	id := c.ok("POST", "/v1/customers", "name=A")["id"].(string)
	var once sync.Once
	e.SetBeforeRead(func(r Read) {
		if r.Path == "/v1/customers/"+id {
			once.Do(func() { c.ok("POST", "/v1/customers/"+id, "name=B") }) // lands before the read is answered
		}
	})
	got := c.ok("GET", "/v1/customers/"+id, "")
	e.SetBeforeRead(nil)
	if got["name"] != "B" {
		t.Errorf("customer %v", got)
	}
}

func TestQuoteStateMachine(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	id := c.ok("POST", "/v1/customers", "name=A")["id"].(string)
	pr := c.ok("POST", "/v1/prices", "currency=usd&product_data[name]=P&unit_amount_decimal=0.335")["id"].(string)
	q := c.ok("POST", "/v1/quotes", "line_items[0][price]="+pr+"&line_items[0][quantity]=3")
	qid := q["id"].(string)
	if num(t, q["amount_total"]) != 1 { // 1.005 minor units
		t.Errorf("amount_total %v", q["amount_total"])
	}
	if r := c.do("POST", "/v1/quotes/"+qid+"/finalize", ""); r.status != 400 {
		t.Errorf("finalize without customer: %d", r.status)
	}
	if r := c.do("POST", "/v1/quotes/"+qid+"/accept", ""); r.status != 400 {
		t.Errorf("accept a draft: %d", r.status)
	}
	c.ok("POST", "/v1/quotes/"+qid, "customer="+id+"&line_items[0][price]="+pr+"&line_items[0][quantity]=30")
	fin := c.ok("POST", "/v1/quotes/"+qid+"/finalize", "")
	if fin["status"] != "open" || fin["number"] == nil || num(t, fin["amount_total"]) != 10 {
		t.Errorf("finalized %v", fin)
	}
	if r := c.do("POST", "/v1/quotes/"+qid, "description=x"); r.status != 400 {
		t.Errorf("update an open quote: %d", r.status)
	}
	c.ok("POST", "/v1/quotes/"+qid+"/accept", "")
	if r := c.do("POST", "/v1/quotes/"+qid+"/cancel", ""); r.status != 400 {
		t.Errorf("cancel an accepted quote: %d", r.status)
	}
	types := map[string]int{}
	for _, ev := range c.ok("GET", "/v1/events", "type=quote.*")["data"].([]any) {
		types[ev.(map[string]any)["type"].(string)]++
	}
	if fmt.Sprint(types) != "map[quote.accepted:1 quote.created:1 quote.finalized:1]" {
		t.Errorf("quote events %v (no quote.updated)", types)
	}
}

func TestPersistenceReload(t *testing.T) {
	dir := t.TempDir()
	e1, err := New(Options{SecretKey: testKey, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, c := serveEmulator(t, e1)
	id := c.ok("POST", "/v1/customers", "name=A&metadata[k]=v")["id"].(string)
	c.ok("POST", "/v1/customers/"+id+"/balance_transactions", "amount=-300&currency=usd")
	c.ok("POST", "/v1/webhook_endpoints", "url=http://127.0.0.1:1/hook&enabled_events[]=*")
	first := c.do("POST", "/v1/customers", "name=B", "Idempotency-Key", "kk")
	acct := e1.Account()
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}
	e2, err := New(Options{SecretKey: testKey, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	_, c2 := serveEmulator(t, e2)
	cus := c2.ok("GET", "/v1/customers/"+id, "expand[]=invoice_credit_balance")
	if num(t, cus["balance"]) != -300 || m(cus["metadata"])["k"] != "v" || num(t, m(cus["invoice_credit_balance"])["usd"]) != 300 {
		t.Errorf("reloaded customer %v", cus)
	}
	again := c2.do("POST", "/v1/customers", "name=B", "Idempotency-Key", "kk")
	if again.body["id"] != first.body["id"] || e2.Account() != acct {
		t.Errorf("idempotency or account lost: %v %v", again.body["id"], first.body["id"])
	}
	if len(e2.Events()) != 3 || e2.Pending() != 1 { // the endpoint came after the first two
		t.Errorf("%d events, %d pending after reload", len(e2.Events()), e2.Pending())
	}
	c2.ok("POST", "/v1/customers/"+id+"/balance_transactions", "amount=100&currency=usd")
	if b := num(t, c2.ok("GET", "/v1/customers/"+id, "")["balance"]); b != -200 {
		t.Errorf("balance after reload and a new transaction: %d", b)
	}
}

func TestAuth(t *testing.T) {
	_, c := serve(t, Options{}, nil)
	c.key = "sk_test_wrong"
	if r := c.do("GET", "/v1/customers", ""); r.status != 401 || r.header.Get("Request-Id") == "" {
		t.Errorf("bad key: %d %v", r.status, r.header)
	}
	c.key = testKey
	if r := c.do("GET", "/v1/nothing", ""); r.status != 404 {
		t.Errorf("unknown path: %d", r.status)
	}
}
