package monetizenow

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testKey = "test-key"

// call makes one API request and decodes the answer into out.
func call(t *testing.T, srv *httptest.Server, key, method, path string, in, out any) int {
	t.Helper()
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, srv.URL+path, body)
	if key != "" {
		req.Header.Set("x-api-key", key)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		dec := json.NewDecoder(res.Body)
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}

func newEmu(t *testing.T, o Options) (*Emulator, *httptest.Server) {
	t.Helper()
	o.APIKey = testKey
	if o.RetryBackoff == nil {
		o.RetryBackoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); e.Close() })
	e.Start(context.Background())
	return e, srv
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sampleQuote(acct string) Quote {
	return Quote{AccountID: acct, Description: "Expansion", Currency: "USD", QuoteOfferings: []QuoteOffering{
		{OfferingName: "Platform", Items: []QuoteItem{
			{SKU: "PLAT-SUB", ProductName: "Platform", ProductType: "ADVANCE", Quantity: "3", UnitPrice: "333.33"},
			{SKU: "SUPPORT", ProductName: "Support", ProductType: "ARREARS", Quantity: "0.5", UnitPrice: "0.1", UnitPriceAfterDiscount: "0.07"},
		}},
		{OfferingName: "Contract snapshot", Role: "REFERENCE", Items: []QuoteItem{
			{SKU: "PLAT-SUB", ProductType: "ADVANCE", Quantity: "1", UnitPrice: "1000"},
		}},
	}}
}

func TestQuotesAuthPagingAndAmounts(t *testing.T) {
	e, srv := newEmu(t, Options{})
	var acc Account
	if st := call(t, srv, testKey, "POST", "/api/accounts", Account{AccountName: "Acme", CustomID: "001000000000001AAA"}, &acc); st != 201 || !strings.HasPrefix(acc.ID, "acct_") {
		t.Fatalf("create account: %d %+v", st, acc)
	}
	var bad map[string]any
	if st := call(t, srv, "wrong", "GET", "/api/quotes", nil, &bad); st != 401 || bad["message"] == "" {
		t.Errorf("wrong key: %d %v", st, bad)
	}
	if st := call(t, srv, "", "GET", "/api/quotes", nil, nil); st != 401 {
		t.Errorf("no key: %d", st)
	}
	var q Quote
	if st := call(t, srv, testKey, "POST", "/api/quotes", sampleQuote(acc.ID), &q); st != 201 {
		t.Fatalf("create quote: %d", st)
	}
	// 3 × 333.33 + 0.5 × 0.07 = 1000.025, exactly; the REFERENCE offering does not count.
	if q.Status != "DRAFT" || q.Type != "NEW" || q.Amount != "1000.025" || q.QuoteOfferings[0].Items[1].Amount != "0.035" {
		t.Errorf("quote %+v", q)
	}
	if q.QuoteOfferings[0].ID == "" || q.QuoteOfferings[0].Items[0].ID == "" {
		t.Errorf("ids not assigned: %+v", q.QuoteOfferings)
	}
	for range 4 {
		if _, err := e.CreateQuote(sampleQuote(acc.ID)); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for n := 0; ; n++ {
		var p struct {
			Content       []Quote     `json:"content"`
			TotalPages    json.Number `json:"totalPages"`
			TotalElements json.Number `json:"totalElements"`
		}
		call(t, srv, testKey, "GET", fmt.Sprintf("/api/quotes?pageSize=2&currentPage=%d", n), nil, &p)
		if p.TotalElements != "5" || p.TotalPages != "3" {
			t.Fatalf("page %d: %+v", n, p)
		}
		for _, q := range p.Content {
			ids = append(ids, q.ID)
		}
		if fmt.Sprint(n+1) == string(p.TotalPages) {
			break
		}
	}
	if len(ids) != 5 || ids[0] != q.ID {
		t.Errorf("paged ids %v", ids)
	}
	if st := call(t, srv, testKey, "GET", "/api/quotes?pageSize=101", nil, &bad); st != 400 {
		t.Errorf("pageSize 101: %d", st)
	}
	var invalid map[string]any
	if st := call(t, srv, testKey, "POST", "/api/quotes", Quote{AccountID: acc.ID, Currency: "XXX", QuoteOfferings: []QuoteOffering{{OfferingName: "x",
		Items: []QuoteItem{{SKU: "A", ProductType: "NOPE", Quantity: "1", UnitPrice: "1"}}}}}, &invalid); st != 400 || invalid["subErrors"] == nil {
		t.Errorf("invalid quote: %d %v", st, invalid)
	}
}

func TestTransitionsAndEdits(t *testing.T) {
	e, srv := newEmu(t, Options{})
	acc, _ := e.CreateAccount(Account{AccountName: "Acme"})
	q, err := e.CreateQuote(sampleQuote(acc.ID))
	if err != nil {
		t.Fatal(err)
	}
	in := *q
	in.Description = "Edited"
	in.QuoteOfferings[0].Items[0].Quantity = "4"
	var got Quote
	if st := call(t, srv, testKey, "PUT", "/api/quotes/"+q.ID, in, &got); st != 200 || got.Description != "Edited" || got.Amount != "1333.355" {
		t.Errorf("PUT draft: %d %+v", st, got)
	}
	off := got.QuoteOfferings[0]
	off.Items = off.Items[:1]
	var gotOff QuoteOffering
	if st := call(t, srv, testKey, "PUT", "/api/quotes/"+q.ID+"/quoteOfferings/"+off.ID, off, &gotOff); st != 200 || len(gotOff.Items) != 1 || gotOff.Amount != "1333.32" {
		t.Errorf("PUT offering: %d %+v", st, gotOff)
	}
	for _, step := range []string{"review", "send"} {
		if st := call(t, srv, testKey, "POST", "/api/quotes/"+q.ID+"/"+step, nil, &got); st != 200 {
			t.Fatalf("%s: %d", step, st)
		}
	}
	if got.Status != "SENT" || got.SentDate == "" {
		t.Errorf("after send: %+v", got)
	}
	var refused map[string]any
	if st := call(t, srv, testKey, "PUT", "/api/quotes/"+q.ID, in, &refused); st != 400 {
		t.Errorf("PUT of a sent quote: %d", st)
	}
	if st := call(t, srv, testKey, "POST", "/api/quotes/"+q.ID+"/accept", map[string]string{"mode": "PAUSE_AT_ACCEPTED"}, &got); st != 200 || got.Status != "ACCEPTED" {
		t.Errorf("accept: %d %s", st, got.Status)
	}
	if st := call(t, srv, testKey, "POST", "/api/quotes/"+q.ID+"/review", nil, &refused); st != 400 {
		t.Errorf("review of an accepted quote: %d", st)
	}
	if len(e.Events("quote.accepted")) != 1 || len(e.Events("quote.offering.updated")) != 1 {
		t.Errorf("events: %v", e.Events(""))
	}
	q2, _ := e.CreateQuote(sampleQuote(acc.ID))
	if st := call(t, srv, testKey, "DELETE", "/api/quotes/"+q2.ID, nil, nil); st != 200 || e.Quote(q2.ID) != nil {
		t.Errorf("delete draft: %d", st)
	}
}

// receiver records webhook bodies, failing the first fail deliveries.
type receiver struct {
	mu     sync.Mutex
	fail   int
	bodies []map[string]any
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail > 0 {
		r.fail--
		http.Error(w, "not now", 503)
		return
	}
	var b map[string]any
	_ = json.NewDecoder(req.Body).Decode(&b)
	r.bodies = append(r.bodies, b)
}

func (r *receiver) types() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, b := range r.bodies {
		out = append(out, fmt.Sprint(b["eventType"]))
	}
	return out
}

// PROVISIONAL webhook body: MonetizeNow does not publish it.
func TestWebhookDelivery_PROVISIONAL_Body(t *testing.T) {
	rcv := &receiver{fail: 2}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	dir := t.TempDir()
	e, _ := newEmu(t, Options{WebhookURL: hook.URL, DataDir: dir})
	acc, _ := e.CreateAccount(Account{AccountName: "Acme"})
	q, _ := e.CreateQuote(sampleQuote(acc.ID))
	eventually(t, "deliveries after failures", func() bool { return e.Pending() == 0 && len(rcv.types()) == 2 })
	// Deliveries are not ordered: find the quote's.
	var b map[string]any
	rcv.mu.Lock()
	for _, x := range rcv.bodies {
		if x["eventType"] == "quote.created" {
			b = x
		}
	}
	rcv.mu.Unlock()
	data, _ := b["data"].(map[string]any)
	if b["eventType"] != "quote.created" || b["eventId"] == "" || b["sentTime"] == "" || data["id"] != q.ID {
		t.Errorf("webhook body %v", b)
	}

	e.PauseDelivery(true)
	if _, err := e.SetStatus(q.ID, "CANCELED"); err != nil {
		t.Fatal(err)
	}
	if e.Pending() != 2 {
		t.Errorf("pending while paused: %d", e.Pending())
	}
	cancelled := e.Events("quote.cancelled")
	if len(cancelled) != 1 {
		t.Fatalf("cancelled events %v", cancelled)
	}
	if err := e.Redeliver(cancelled[0].EventID); err != nil {
		t.Fatal(err)
	}
	if e.Pending() != 1 {
		t.Errorf("pending after redelivery: %d", e.Pending())
	}
	e.Close()

	// A restart reloads the quotes, events and what is still owed.
	e2, err := New(Options{APIKey: testKey, DataDir: dir, WebhookURL: hook.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer e2.Close()
	if got := e2.Quote(q.ID); got == nil || got.Status != "CANCELED" || got.Amount != "1000.025" {
		t.Errorf("reloaded quote %+v", got)
	}
	if e2.Pending() != 1 {
		t.Errorf("reloaded pending %d", e2.Pending())
	}
	e2.Start(context.Background())
	eventually(t, "the owed delivery after the restart", func() bool { return e2.Pending() == 0 })
	// account.created and quote.created, then quote.cancelled
	// (redelivered) and the quote.updated owed across the restart.
	if got := rcv.types(); len(got) != 4 || !slices.Contains(got, "quote.cancelled") || !slices.Contains(got, "quote.updated") {
		t.Errorf("delivered %v", got)
	}
}

func TestFaultFormat(t *testing.T) {
	ct, b := FaultFormat(503, "SERVICE_UNAVAILABLE", "")
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil || ct != "application/json" || body["message"] != "Service Unavailable" {
		t.Errorf("%s %s", ct, b)
	}
}
