package m3terapi

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

func TestNewClientSettings(t *testing.T) {
	base := func(opts map[string]string) billsync.BillingOptions {
		return billsync.BillingOptions{Token: "key:secret", Options: opts}
	}
	for name, tc := range map[string]struct {
		o    billsync.BillingOptions
		want string
	}{
		"token without secret": {billsync.BillingOptions{Token: "key", Options: map[string]string{"orgId": "o"}}, "billing.token"},
		"token empty secret":   {billsync.BillingOptions{Token: "key:", Options: map[string]string{"orgId": "o"}}, "billing.token"},
		"no org":               {base(nil), "billing.options.orgId"},
		"unknown option":       {base(map[string]string{"orgId": "o", "orgid": "x"}), "billing.options.orgid: unknown option"},
		"bad rate":             {base(map[string]string{"orgId": "o", "rateLimit": "fast"}), "billing.options.rateLimit"},
		"bad amount mode":      {base(map[string]string{"orgId": "o", "balanceAmount": "ignore"}), "billing.options.balanceAmount"},
		"bad url":              {billsync.BillingOptions{URL: "ftp://x", Token: "k:s", Options: map[string]string{"orgId": "o"}}, "billing.url"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := NewClient(tc.o)
			if billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(billsync.ErrorMessage(err), tc.want) {
				t.Fatalf("err = %v, want EINVALID naming %q", err, tc.want)
			}
		})
	}
	c, err := NewClient(base(map[string]string{"orgId": "o"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.base != DefaultURL {
		t.Errorf("base = %q, want %q", c.base, DefaultURL)
	}
	caps := c.Capabilities()
	if caps.Platform != billsync.PlatformM3ter || caps.Versioning != billsync.VersionInteger || !caps.BalanceAmountWritable ||
		caps.TransactionsUpdatable || caps.TransactionsDeletable || caps.SignedWebhooks || caps.TransactionEvents {
		t.Errorf("capabilities = %+v", caps)
	}
	c, err = NewClient(base(map[string]string{"orgId": "o", "balanceAmount": "unsupported", "serviceUserId": "su-9"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Capabilities().BalanceAmountWritable {
		t.Error("balanceAmount unsupported: the amount must not be writable")
	}
	if c.ServiceUser() != "su-9" {
		t.Errorf("service user = %q, want the configured one", c.ServiceUser())
	}
	a, err := billsync.OpenBillingPlatform(billsync.PlatformM3ter, base(map[string]string{"orgId": "o"}))
	if err != nil || a.Billing == nil || a.Webhooks == nil {
		t.Fatalf("OpenBillingPlatform(m3ter) = %v, %v", a, err)
	}
}

func TestTokenRequestAndCache(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	for range 3 {
		if _, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10); err != nil {
			t.Fatal(err)
		}
	}
	if fk.tokenCalls != 1 {
		t.Errorf("token requests = %d, want 1 (cached)", fk.tokenCalls)
	}
	reqs := fk.requests()
	tok := reqs[0]
	if tok.Method != http.MethodPost || tok.Path != "/oauth/token" {
		t.Fatalf("first request = %s %s, want POST /oauth/token", tok.Method, tok.Path)
	}
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte(fakeKey+":"+fakeSecret))
	if tok.Auth != want {
		t.Errorf("token request Authorization = %q, want HTTP Basic of the key", tok.Auth)
	}
	for _, r := range reqs[1:] {
		if !strings.HasPrefix(r.Auth, "Bearer tok-") {
			t.Errorf("%s %s: Authorization = %q, want the bearer token", r.Method, r.Path, r.Auth)
		}
		if !strings.HasPrefix(r.Path, "/organizations/"+fakeOrg+"/") {
			t.Errorf("path %s is not under the organization", r.Path)
		}
	}
}

func TestTokenRefreshedBeforeExpiry(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	c.clock = func() time.Time { return now }
	if _, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10); err != nil {
		t.Fatal(err)
	}
	now = now.Add(4*time.Hour + 56*time.Minute) // within 5 min of the 5 h expiry
	if _, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10); err != nil {
		t.Fatal(err)
	}
	if fk.tokenCalls != 2 {
		t.Errorf("token requests = %d, want 2 (refreshed before it expired)", fk.tokenCalls)
	}
	if n := fk.count(http.MethodGet, "/accounts"); n != 2 {
		t.Errorf("account lists = %d, want 2 (no request was refused)", n)
	}
}

func TestTokenRefreshedOnceOn401(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	if _, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10); err != nil {
		t.Fatal(err)
	}
	fk.revokeTokens()
	if _, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10); err != nil {
		t.Fatalf("after a revoked token: %v", err)
	}
	if fk.tokenCalls != 2 {
		t.Errorf("token requests = %d, want 2", fk.tokenCalls)
	}
	// A 401 that a new token does not cure is the credentials' fault:
	// one refresh, then the error.
	fk.addFault(fault{method: http.MethodGet, suffix: "/accounts", status: 401, body: `{"message":"Unauthorized"}`, times: 5})
	_, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10)
	if billsync.ErrorCode(err) != billsync.EUNAUTHORIZED {
		t.Fatalf("err = %v, want EUNAUTHORIZED", err)
	}
	if fk.tokenCalls != 3 {
		t.Errorf("token requests = %d, want 3 (one refresh per refused call)", fk.tokenCalls)
	}
}

func TestBadCredentialsNameTheSetting(t *testing.T) {
	fk := newFake(t)
	c, err := NewClient(billsync.BillingOptions{URL: fk.srv.URL, Token: fakeKey + ":wrong", Options: map[string]string{"orgId": fakeOrg}})
	if err != nil {
		t.Fatal(err)
	}
	c.pace = noPace{}
	_, err = c.Tenant(ctx(t))
	if billsync.ErrorCode(err) != billsync.EUNAUTHORIZED || !strings.Contains(billsync.ErrorMessage(err), "billing.token") {
		t.Fatalf("err = %v, want EUNAUTHORIZED naming billing.token", err)
	}
}

func TestRetriesHonourRetryAfter(t *testing.T) {
	fk := newFake(t)
	c, sleeps := fk.client(t, nil)
	fk.addFault(fault{method: http.MethodGet, suffix: "/accounts", status: 429, header: http.Header{"Retry-After": {"7"}}, body: `{"message":"Too Many Requests"}`})
	fk.addFault(fault{method: http.MethodGet, suffix: "/accounts", status: 503, body: `{"message":"unavailable"}`})
	if _, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10); err != nil {
		t.Fatal(err)
	}
	if len(*sleeps) != 2 || (*sleeps)[0] != 7*time.Second {
		t.Errorf("pauses = %v, want 7s (Retry-After) then a backoff", *sleeps)
	}
	// Exhausted: the last answer, transient and rate limited.
	fk.addFault(fault{method: http.MethodGet, suffix: "/accounts", status: 429, body: `{"message":"slow down"}`, times: 3})
	_, _, err := c.List(ctx(t), billsync.ObjectAccount, "", 10)
	if !billsync.IsTransient(err) || !billsync.IsRateLimited(err) {
		t.Fatalf("err = %v, want a transient rate limit", err)
	}
}

func TestPostNotRepeatedAfterA5xx(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	fk.addFault(fault{method: http.MethodPost, suffix: "/accounts", status: 502, body: `{"message":"bad gateway"}`, apply: true})
	_, err := c.Create(ctx(t), billsync.ObjectAccount, billsync.Entity{"code": "A1", "name": "Acme", "emailAddress": "a@example.com"}, "")
	if !billsync.IsTransient(err) {
		t.Fatalf("err = %v, want transient", err)
	}
	if n := fk.count(http.MethodPost, "/accounts"); n != 1 {
		t.Errorf("POSTs = %d, want 1: a POST that may have been applied is not repeated blindly", n)
	}
	// A 429 was not applied: it is retried.
	fk.addFault(fault{method: http.MethodPost, suffix: "/accounts", status: 429, body: `{"message":"slow down"}`})
	if _, err := c.Create(ctx(t), billsync.ObjectAccount, billsync.Entity{"code": "A2", "name": "Beta", "emailAddress": "b@example.com"}, ""); err != nil {
		t.Fatal(err)
	}
}

func TestErrorsMapToTheEngines(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	_, err := c.Get(ctx(t), billsync.ObjectAccount, "acc-missing")
	var re *billsync.RemoteError
	if billsync.ErrorCode(err) != billsync.ENOTFOUND || !errors.As(err, &re) || !strings.Contains(re.Message, "not found") {
		t.Errorf("missing account: %v, want ENOTFOUND with m3ter's message", err)
	}
	fk.addFault(fault{method: http.MethodPost, suffix: "/accounts", status: 400, body: `{"message":"emailAddress must be an email"}`})
	_, err = c.Create(ctx(t), billsync.ObjectAccount, billsync.Entity{"code": "A1", "name": "Acme", "emailAddress": "nope"}, "")
	if billsync.ErrorCode(err) != billsync.EINVALID || billsync.IsTransient(err) {
		t.Errorf("400: %v, want EINVALID, not transient", err)
	}
	fk.addFault(fault{method: http.MethodGet, suffix: "/accounts", status: 403, body: `{"message":"Forbidden"}`})
	_, _, err = c.List(ctx(t), billsync.ObjectAccount, "", 1)
	if billsync.ErrorCode(err) != billsync.EFORBIDDEN {
		t.Errorf("403: %v, want EFORBIDDEN", err)
	}
}

func TestPaging(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	for i := range 250 {
		fk.seedAccount(record{"code": "C" + itoa(i), "name": "N" + itoa(i), "emailAddress": "x@example.com"})
	}
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		got, next, err := c.List(ctx(t), billsync.ObjectAccount, cursor, 500) // capped at m3ter's 100
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(got) > 100 {
			t.Fatalf("page of %d, above m3ter's 100", len(got))
		}
		for _, e := range got {
			seen[e.ID()] = true
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 250 || pages != 3 {
		t.Errorf("read %d accounts in %d pages, want 250 in 3", len(seen), pages)
	}
}
