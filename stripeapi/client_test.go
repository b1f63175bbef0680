package stripeapi

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

const acme = `{"id":"cus_1","object":"customer","name":"Acme","email":"a@acme.test","currency":"usd","balance":-1050,
 "invoice_credit_balance":{"usd":1050,"jpy":500,"bhd":1234},
 "metadata":{"billsync_code":"ACME","billsync_crm_account_id":"001A","region":"EU","tier":"gold"},"created":1767225600}`

func TestAccountMapping(t *testing.T) {
	t.Parallel()
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		switch r.URL.Path {
		case "/v1/customers/cus_1":
			write(w, 200, acme)
		case "/v1/customers/cus_gone":
			write(w, 200, `{"id":"cus_gone","object":"customer","deleted":true}`)
		default:
			write(w, 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","message":"No such customer: 'cus_x'","param":"id"}}`)
		}
	})
	c := clientFor(t, fk, nil)
	got, err := c.Get(t.Context(), billsync.ObjectAccount, "cus_1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"id": "cus_1", "name": "Acme", "emailAddress": "a@acme.test", "currency": "USD", "code": "ACME",
		"crmAccountId": "001A", "customFields.region": "EU", "customFields.tier": "gold", "createdAt": "2026-01-01T00:00:00Z"}
	for k, v := range want {
		if got.PathStr(k) != v {
			t.Errorf("%s = %q, want %q", k, got.PathStr(k), v)
		}
	}
	if _, ok := got.Path("customFields.billsync_code"); ok || got.Str("version") != "" || got.Str("updatedAt") != "" {
		t.Errorf("reserved metadata, version or updatedAt leaked: %v", got)
	}
	for _, id := range []string{"cus_gone", "cus_x"} {
		if _, err := c.Get(t.Context(), billsync.ObjectAccount, id); billsync.ErrorCode(err) != billsync.ENOTFOUND {
			t.Errorf("%s: err %v, want ENOTFOUND", id, err)
		}
	}
	if v := fk.requests()[0].Version; v != APIVersion {
		t.Errorf("Stripe-Version %q", v)
	}
}

func TestAccountWrites(t *testing.T) {
	t.Parallel()
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		write(w, 200, acme)
	})
	c := clientFor(t, fk, nil)
	ctx := t.Context()
	if _, err := c.Create(ctx, billsync.ObjectAccount, billsync.Entity{"name": "Acme", "emailAddress": "a@acme.test", "currency": "USD",
		"code": "ACME", "customFields": map[string]any{"salesforceId": "a00X", "flag": true}}, "k1"); err != nil {
		t.Fatal(err)
	}
	p := fk.posts()[0]
	if p.Path != "/v1/customers" || p.Key != "billsync-k1" || p.Form.Get("name") != "Acme" || p.Form.Get("email") != "a@acme.test" ||
		p.Form.Get("metadata[billsync_code]") != "ACME" || p.Form.Get("metadata[salesforceId]") != "a00X" || p.Form.Get("metadata[flag]") != "true" {
		t.Errorf("create sent %s %v key %q", p.Path, p.Form, p.Key)
	}
	if p.Form.Has("currency") || p.Form.Has("metadata[billsync_crm_account_id]") {
		t.Errorf("create sent currency or an empty field: %v", p.Form)
	}

	// Only what differs: a new name, tier removed, region kept.
	cur, _ := c.Get(ctx, billsync.ObjectAccount, "cus_1")
	cur["name"] = "Acme Ltd"
	delete(cur["customFields"].(map[string]any), "tier")
	if _, err := c.Update(ctx, billsync.ObjectAccount, cur); err != nil {
		t.Fatal(err)
	}
	p = fk.posts()[1]
	if p.Path != "/v1/customers/cus_1" || len(p.Form) != 2 || p.Form.Get("name") != "Acme Ltd" || !p.Form.Has("metadata[tier]") || p.Form.Get("metadata[tier]") != "" {
		t.Errorf("update sent %v", p.Form)
	}
	if !strings.HasPrefix(p.Key, KeyPrefix) {
		t.Errorf("update key %q", p.Key)
	}
	// Nothing differs: no write at all.
	same, _ := c.Get(ctx, billsync.ObjectAccount, "cus_1")
	if _, err := c.Update(ctx, billsync.ObjectAccount, same); err != nil || len(fk.posts()) != 2 {
		t.Errorf("an unchanged update wrote (%d posts, %v)", len(fk.posts()), err)
	}
}

func TestBalances(t *testing.T) {
	t.Parallel()
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, f url.Values) {
		switch {
		case r.URL.Path == "/v1/customers/cus_1":
			write(w, 200, acme)
		case r.Method == http.MethodPost:
			write(w, 200, `{"id":"cbtxn_9","object":"customer_balance_transaction","amount":`+f.Get("amount")+`,"currency":"`+f.Get("currency")+`","customer":"cus_1","created":1767225600,"type":"adjustment"}`)
		default:
			write(w, 404, `{"error":{"code":"resource_missing","message":"nope"}}`)
		}
	})
	c := clientFor(t, fk, nil)
	ctx := t.Context()
	for id, amt := range map[string]string{"cus_1.usd": "10.50", "cus_1.jpy": "500", "cus_1.bhd": "1.234"} {
		b, err := c.Get(ctx, billsync.ObjectBalance, id)
		if err != nil {
			t.Fatal(err)
		}
		cur := strings.ToUpper(id[len(id)-3:])
		if b.Str("amount") != amt || b.Str("currency") != cur || b.Str("code") != cur || b.Str("name") != cur+" balance" || b.Str("accountId") != "cus_1" {
			t.Errorf("%s = %v", id, b)
		}
	}
	if _, err := c.Get(ctx, billsync.ObjectBalance, "cus_1.eur"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("unknown currency: %v", err)
	}

	// 10.50 → 12.00 USD of credit: one transaction of -150.
	upd, err := c.Update(ctx, billsync.ObjectBalance, billsync.Entity{"id": "cus_1.usd", "accountId": "cus_1", "amount": "12.00", "currency": "USD"})
	if err != nil || upd.Str("amount") != "12.00" {
		t.Fatalf("update %v %v", upd, err)
	}
	p := fk.posts()[0]
	if p.Path != "/v1/customers/cus_1/balance_transactions" || p.Form.Get("amount") != "-150" || p.Form.Get("currency") != "usd" ||
		p.Form.Get("description") != "billsync: balance set to 12.00 USD" || !strings.HasPrefix(p.Key, KeyPrefix+"balance-") {
		t.Errorf("sent %v key %q", p.Form, p.Key)
	}
	// The same write again derives the same key.
	if _, err := c.Update(ctx, billsync.ObjectBalance, billsync.Entity{"id": "cus_1.usd", "amount": "12.00"}); err != nil || fk.posts()[1].Key != p.Key {
		t.Errorf("key %q then %q (%v)", p.Key, fk.posts()[1].Key, err)
	}
	// Create in a new currency, zero-decimal: 700 JPY more credit.
	if _, err := c.Create(ctx, billsync.ObjectBalance, billsync.Entity{"accountId": "cus_1", "currency": "JPY", "amount": "1200"}, ""); err != nil {
		t.Fatal(err)
	}
	if p := fk.posts()[2]; p.Form.Get("amount") != "-700" || p.Form.Get("currency") != "jpy" {
		t.Errorf("jpy sent %v", p.Form)
	}
	// A value the currency cannot hold is refused, naming it.
	_, err = c.Update(ctx, billsync.ObjectBalance, billsync.Entity{"id": "cus_1.usd", "amount": "1.234"})
	if billsync.ErrorCode(err) != billsync.EINVALID || billsync.IsTransient(err) || !strings.Contains(err.Error(), "1.234") {
		t.Errorf("1.234 USD: %v", err)
	}
	// Unchanged: nothing sent.
	n := len(fk.posts())
	if _, err := c.Update(ctx, billsync.ObjectBalance, billsync.Entity{"id": "cus_1.usd", "amount": "10.5"}); err != nil || len(fk.posts()) != n {
		t.Errorf("unchanged balance wrote: %v", err)
	}
	err = c.Delete(ctx, billsync.ObjectBalance, "cus_1.usd")
	if re := remote(t, err); re.StatusCode != 400 || re.Code != "unsupported" || re.Transient || !strings.Contains(re.Message, "zero") {
		t.Errorf("delete: %v", err)
	}
}

func TestTransactions(t *testing.T) {
	t.Parallel()
	const tx = `{"id":"cbtxn_1","object":"customer_balance_transaction","amount":-2500,"currency":"usd","customer":"cus_1",
	 "description":"Goodwill","type":"adjustment","metadata":{"ticket":"T-1"},"created":1767312000}`
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, f url.Values) {
		write(w, 200, tx)
	})
	c := clientFor(t, fk, nil)
	ctx := t.Context()
	got, err := c.Get(ctx, billsync.ObjectBalanceTransaction, "cus_1.cbtxn_1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"id": "cus_1.cbtxn_1", "balanceId": "cus_1.usd", "accountId": "cus_1", "amount": "25.00", "currency": "USD",
		"description": "Goodwill", "appliedDate": "2026-01-02", "type": "adjustment", "customFields.ticket": "T-1", "createdAt": "2026-01-02T00:00:00Z"}
	for k, v := range want {
		if got.PathStr(k) != v {
			t.Errorf("%s = %q, want %q", k, got.PathStr(k), v)
		}
	}
	if _, err := c.Create(ctx, billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": "cus_1.usd", "amount": "-3.10",
		"description": "Fee", "customFields": map[string]any{"salesforceId": "a01"}}, "k7"); err != nil {
		t.Fatal(err)
	}
	p := fk.posts()[0]
	if p.Path != "/v1/customers/cus_1/balance_transactions" || p.Form.Get("amount") != "310" || p.Form.Get("currency") != "usd" ||
		p.Form.Get("metadata[salesforceId]") != "a01" || p.Key != "billsync-k7" {
		t.Errorf("create sent %v %q", p.Form, p.Key)
	}
	got["description"] = "Goodwill (agreed)"
	if _, err := c.Update(ctx, billsync.ObjectBalanceTransaction, got); err != nil {
		t.Fatal(err)
	}
	if p := fk.posts()[1]; p.Path != "/v1/customers/cus_1/balance_transactions/cbtxn_1" || len(p.Form) != 1 || p.Form.Get("description") != "Goodwill (agreed)" {
		t.Errorf("update sent %s %v", p.Path, p.Form)
	}
	got["amount"] = "26.00"
	if _, err := c.Update(ctx, billsync.ObjectBalanceTransaction, got); remote(t, err).Transient || remote(t, err).StatusCode != 400 {
		t.Errorf("amount change: %v", err)
	}
	if err := c.Delete(ctx, billsync.ObjectBalanceTransaction, "cus_1.cbtxn_1"); billsync.IsTransient(err) || remote(t, err).Code != "unsupported" {
		t.Errorf("delete: %v", err)
	}
}

func TestRetriesKeepTheKey(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		switch n.Add(1) {
		case 1:
			write(w, 500, `{"error":{"type":"api_error","message":"boom"}}`)
		case 2:
			w.Header().Set("Retry-After", "7")
			write(w, 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"slow down"}}`)
		case 3:
			write(w, 502, `bad gateway`)
		case 5:
			// A dropped connection: the POST may or may not have landed.
			hj, _ := w.(http.Hijacker)
			conn, _, _ := hj.Hijack()
			conn.Close()
		default:
			write(w, 200, acme)
		}
	})
	c := clientFor(t, fk, nil)
	_, err := c.Create(t.Context(), billsync.ObjectAccount, billsync.Entity{"name": "Acme"}, "")
	if re := remote(t, err); !re.Transient {
		t.Fatalf("after 3 failures: %v, want transient", err)
	}
	posts := fk.posts()
	if len(posts) != 3 {
		t.Fatalf("%d attempts, want 3", len(posts))
	}
	for _, p := range posts {
		if p.Key != posts[0].Key || !strings.HasPrefix(p.Key, KeyPrefix) {
			t.Errorf("keys %q, %q", posts[0].Key, p.Key)
		}
	}
	if s := c.slept(); len(s) != 2 || s[1] < 7*time.Second {
		t.Errorf("slept %v, want two pauses, the second honouring Retry-After", s)
	}
	if c.pace.count() != 3 {
		t.Errorf("paced %d requests, want 3", c.pace.count())
	}
	// A new logical write gets a new key; its first attempt lands, the
	// second never answers (a network error), the third is repeated with
	// the same key (by the client or by net/http, which replays requests
	// that carry an Idempotency-Key).
	if _, err := c.Create(t.Context(), billsync.ObjectAccount, billsync.Entity{"name": "Acme"}, ""); err != nil {
		t.Fatal(err)
	}
	if k := fk.posts()[3].Key; k == posts[0].Key {
		t.Errorf("a new write reused key %q", k)
	}
	if c.pace.count() != len(fk.requests()) {
		t.Errorf("paced %d of %d requests", c.pace.count(), len(fk.requests()))
	}
	if _, err := c.Create(t.Context(), billsync.ObjectAccount, billsync.Entity{"name": "Acme"}, "net"); err != nil {
		t.Fatal(err)
	}
	if p := fk.posts(); len(p) != 6 || p[4].Key != "billsync-net" || p[5].Key != "billsync-net" {
		t.Errorf("after a dropped connection: %d posts %v", len(p), p)
	}
}

func TestShouldRetryFalse(t *testing.T) {
	t.Parallel()
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		w.Header().Set("Stripe-Should-Retry", "false")
		write(w, 500, `{"error":{"type":"api_error","message":"do not"}}`)
	})
	c := clientFor(t, fk, nil)
	_, err := c.Create(t.Context(), billsync.ObjectAccount, billsync.Entity{"name": "Acme"}, "")
	if err == nil || len(fk.requests()) != 1 || len(c.slept()) != 0 {
		t.Errorf("%d attempts, err %v", len(fk.requests()), err)
	}
}

func TestShouldRetryTrueOn409(t *testing.T) {
	t.Parallel()
	var n atomic.Int32
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		if n.Add(1) == 1 {
			w.Header().Set("Stripe-Should-Retry", "true")
			write(w, 409, `{"error":{"type":"invalid_request_error","code":"lock_timeout","message":"locked"}}`)
			return
		}
		write(w, 200, acme)
	})
	c := clientFor(t, fk, nil)
	if _, err := c.Create(t.Context(), billsync.ObjectAccount, billsync.Entity{"name": "Acme"}, "k"); err != nil {
		t.Fatal(err)
	}
	if p := fk.posts(); len(p) != 2 || p[0].Key != p[1].Key {
		t.Errorf("posts %v", p)
	}
}

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	cases := []struct {
		status   int
		body     string
		code     string
		trans    bool
		limited  bool
		contains string
	}{
		{401, `{"error":{"message":"Invalid API Key"}}`, billsync.EUNAUTHORIZED, false, false, "Invalid API Key"},
		{403, `{"error":{"message":"The provided key does not have the required permissions"}}`, billsync.EUNAUTHORIZED, false, false, "permissions"},
		{404, `{"error":{"code":"resource_missing","message":"No such customer"}}`, billsync.ENOTFOUND, false, false, "No such customer"},
		{400, `{"error":{"code":"parameter_invalid_empty","message":"You passed an empty string","param":"email"}}`, billsync.EINVALID, false, false, "empty string"},
		{429, `{"error":{"code":"rate_limit","message":"Too many requests"}}`, billsync.EUNAVAILABLE, true, true, "Too many"},
		{503, `oops`, billsync.EUNAVAILABLE, true, false, "oops"},
	}
	for _, tc := range cases {
		fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
			w.Header().Set("Stripe-Should-Retry", "false")
			write(w, tc.status, tc.body)
		})
		c := clientFor(t, fk, nil)
		_, err := c.Get(t.Context(), billsync.ObjectAccount, "cus_1")
		if billsync.ErrorCode(err) != tc.code || billsync.IsTransient(err) != tc.trans || billsync.IsRateLimited(err) != tc.limited ||
			!strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%d: %v (code %s transient %v limited %v)", tc.status, err, billsync.ErrorCode(err), billsync.IsTransient(err), billsync.IsRateLimited(err))
		}
	}
}

func TestGetNetworkErrorRetried(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c, err := NewClient(billsync.BillingOptions{URL: "http://" + addr, Token: "sk_test_123"})
	if err != nil {
		t.Fatal(err)
	}
	c.pace = &countingPace{}
	attempts := 0
	c.sleep = func(_ context.Context, _ time.Duration) error { attempts++; return nil }
	_, err = c.Tenant(t.Context())
	if !billsync.IsTransient(err) || attempts != 2 {
		t.Errorf("err %v after %d pauses", err, attempts)
	}
}
