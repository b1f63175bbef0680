package billingapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/emulate/billing"
)

func newPair(t *testing.T) (*billingapi.Client, *billing.Emulator) {
	t.Helper()
	em, err := billing.New(billing.Options{Token: "tok", TenantID: "ten_42", WebhookSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(em.Handler())
	t.Cleanup(func() { srv.Close(); em.Close() })
	return billingapi.New(srv.URL+"/", "tok", srv.Client()), em
}

func remote(t *testing.T, err error) *billsync.RemoteError {
	t.Helper()
	var re *billsync.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("err %v (%T), want *billsync.RemoteError", err, err)
	}
	if re.System != billsync.SystemBilling {
		t.Fatalf("system %q", re.System)
	}
	return re
}

func TestClientAgainstEmulator(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	c, em := newPair(t)
	caps := c.Capabilities()
	if caps.Platform != "billsync-contract" || caps.Versioning != billsync.VersionInteger || !caps.SignedWebhooks ||
		!caps.QuotesCarryOfferings || !caps.TransactionsDeletable || !caps.TransactionsUpdatable || !caps.BalanceAmountWritable {
		t.Fatalf("capabilities %+v", caps)
	}
	if ten, err := c.Tenant(ctx); err != nil || ten != "ten_42" {
		t.Fatalf("tenant %q %v", ten, err)
	}

	acc, err := c.Create(ctx, billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME"}, "")
	if err != nil {
		t.Fatal(err)
	}
	bal, err := c.Create(ctx, billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "name": "P", "amount": "1234567890123456.78", "currency": "USD"}, "")
	if err != nil {
		t.Fatal(err)
	}
	if bal.Str("amount") != "1234567890123456.78" {
		t.Fatalf("amount %q", bal.Str("amount"))
	}
	tx, err := c.Create(ctx, billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": bal.ID(), "amount": "-0.01"}, "")
	if err != nil || tx.Str("accountId") != acc.ID() {
		t.Fatalf("txn %v %v", tx, err)
	}
	q, err := c.Create(ctx, billsync.ObjectQuote, billsync.Entity{"accountId": acc.ID(), "status": "DRAFT", "type": "NEW",
		"offerings": []any{map[string]any{"name": "O", "items": []any{map[string]any{"productCode": "P", "quantity": "2", "unitPrice": "3.50"}}}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := q.Path("version"); !ok || v != any(jsonNumber("1")) {
		t.Fatalf("version decoded as %T %v, want json.Number", v, v)
	}

	got, err := c.Get(ctx, billsync.ObjectAccount, acc.ID())
	if err != nil || got.Str("name") != "Acme" {
		t.Fatalf("get %v %v", got, err)
	}

	// Update with the version read, then a stale write.
	got["name"] = "Acme Inc"
	up, err := c.Update(ctx, billsync.ObjectAccount, got)
	if err != nil || up.Version() != 2 || up.Str("name") != "Acme Inc" {
		t.Fatalf("update %v %v", up, err)
	}
	_, err = c.Update(ctx, billsync.ObjectAccount, got) // still version 1
	re := remote(t, err)
	if re.StatusCode != 409 || re.Code != "version_conflict" || re.Transient || billsync.ErrorCode(err) != billsync.ECONFLICT {
		t.Fatalf("stale update: %+v", re)
	}

	// 400 carries the field.
	_, err = c.Create(ctx, billsync.ObjectBalance, billsync.Entity{"accountId": acc.ID(), "name": "P", "amount": jsonNumber("1.5"), "currency": "USD"}, "")
	re = remote(t, err)
	if re.StatusCode != 400 || re.Code != "invalid" || len(re.Fields) != 1 || re.Fields[0] != "amount" || billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("invalid: %+v", re)
	}

	// Paging through everything.
	for i := range 4 {
		if _, err := c.Create(ctx, billsync.ObjectAccount, billsync.Entity{"name": "N", "code": string(rune('a' + i))}, ""); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	cursor, pages := "", 0
	for {
		page, next, err := c.List(ctx, billsync.ObjectAccount, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, e := range page {
			ids = append(ids, e.ID())
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(ids) != 5 || ids[0] != acc.ID() || pages != 3 {
		t.Fatalf("listed %v in %d pages", ids, pages)
	}
	if _, _, err := c.List(ctx, billsync.ObjectAccount, "bogus!", 0); remote(t, err).StatusCode != 400 {
		t.Fatal("bad cursor accepted")
	}

	// Delete, then 404s.
	if err := c.Delete(ctx, billsync.ObjectBalance, bal.ID()); err != nil {
		t.Fatal(err)
	}
	if _, ok := em.Get(billsync.ObjectBalanceTransaction, tx.ID()); ok {
		t.Fatal("transaction outlived its balance")
	}
	err = c.Delete(ctx, billsync.ObjectBalance, bal.ID())
	if re := remote(t, err); re.StatusCode != 404 || billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("second delete: %+v", re)
	}
	if _, err := c.Get(ctx, billsync.ObjectBalanceTransaction, tx.ID()); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("get deleted: %v", err)
	}
	err = c.Delete(ctx, billsync.ObjectAccount, acc.ID())
	if re := remote(t, err); re.StatusCode != 409 || re.Code != "has_dependents" {
		t.Fatalf("delete account with a quote: %+v", re)
	}
	if em.Writes(acc.ID()) != 2 {
		t.Fatalf("account written %d times, want 2", em.Writes(acc.ID()))
	}

	// Local argument errors never reach the network.
	if _, err := c.Get(ctx, "invoice", "x"); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("unknown type: %v", err)
	}
	if _, err := c.Update(ctx, billsync.ObjectAccount, billsync.Entity{"name": "x"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("update without id: %v", err)
	}
	// Ids are path-escaped.
	if _, err := c.Get(ctx, billsync.ObjectAccount, "../tenant"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("escaped id: %v", err)
	}
}

func TestClientAuthAndTransient(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	_, em := newPair(t)
	srv := httptest.NewServer(em.Handler())
	defer srv.Close()
	bad := billingapi.New(srv.URL, "wrong", srv.Client())
	_, err := bad.Tenant(ctx)
	if re := remote(t, err); re.StatusCode != 401 || re.Code != "unauthorized" || re.Transient || billsync.ErrorCode(err) != billsync.EUNAUTHORIZED {
		t.Fatalf("401: %+v", re)
	}

	for _, tc := range []struct {
		status    int
		body      string
		transient bool
		code      string
	}{
		{503, `{"error":{"code":"maintenance","message":"back soon"}}`, true, "maintenance"},
		{429, `slow down`, true, ""},
		{500, ``, true, ""},
		{422, `{"error":{"code":"unprocessable","message":"no"}}`, false, "unprocessable"},
	} {
		fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("auth header %q", r.Header.Get("Authorization"))
			}
			w.WriteHeader(tc.status)
			w.Write([]byte(tc.body))
		}))
		c := billingapi.New(fake.URL, "tok", fake.Client())
		_, err := c.Get(ctx, billsync.ObjectAccount, "acc_1")
		re := remote(t, err)
		if re.StatusCode != tc.status || re.Transient != tc.transient || re.Code != tc.code || re.Message == "" {
			t.Errorf("%d: %+v", tc.status, re)
		}
		if tc.transient != billsync.IsTransient(err) {
			t.Errorf("%d: IsTransient = %v", tc.status, billsync.IsTransient(err))
		}
		fake.Close()
	}

	// A refused connection is transient and keeps the cause.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := billingapi.New("http://"+addr, "tok", &http.Client{})
	_, err = c.Tenant(ctx)
	if re := remote(t, err); re.StatusCode != 0 || !re.Transient || re.Err == nil {
		t.Fatalf("network failure: %+v", re)
	}
	// A cancelled context is not worth retrying.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Tenant(cctx)
	if re := remote(t, err); re.Transient || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %+v", re)
	}
	// Malformed success bodies are reported, not swallowed.
	junk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"data": [`)) }))
	defer junk.Close()
	if _, _, err := billingapi.New(junk.URL, "tok", nil).List(ctx, billsync.ObjectQuote, "", 0); err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Fatalf("malformed: %v", err)
	}
}

func jsonNumber(s string) any { return json.Number(s) }

// §4: a create repeated with the same Idempotency-Key (a crash after the
// first one) returns the first record instead of making a second.
func TestCreateIdempotencyKey(t *testing.T) {
	t.Parallel()
	c, _ := newPair(t)
	ctx := context.Background()
	a1, err := c.Create(ctx, billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME"}, "sf:001000000000001AAA")
	if err != nil {
		t.Fatal(err)
	}
	a2, err := c.Create(ctx, billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME"}, "sf:001000000000001AAA")
	if err != nil || a2.ID() != a1.ID() {
		t.Fatalf("repeat made %v (%v), want %s", a2.ID(), err, a1.ID())
	}
	a3, err := c.Create(ctx, billsync.ObjectAccount, billsync.Entity{"name": "Acme", "code": "ACME"}, "sf:other")
	if err != nil || a3.ID() == a1.ID() {
		t.Fatalf("a new key must make a new record: %v %v", a3.ID(), err)
	}
}
