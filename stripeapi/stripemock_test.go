package stripeapi

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// startStripeMock runs the real stripe-mock (go tool stripe-mock, pinned
// in go.mod) on loopback for both HTTP and HTTPS (given only an HTTP
// address it also opens HTTPS on every interface). It skips when the tool
// cannot start, unless BILLSYNC_CI=1 demands it.
func startStripeMock(t *testing.T) string {
	t.Helper()
	unavailable := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatalf("stripe-mock is required under BILLSYNC_CI=1: "+format, args...)
		}
		t.Skipf("stripe-mock unavailable: "+format, args...)
	}
	if _, err := exec.LookPath("go"); err != nil {
		unavailable("no go command: %v", err)
	}
	// The binary itself, not "go tool stripe-mock": killing the go
	// command would leave its child running.
	bin, err := exec.Command("go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		unavailable("go tool -n stripe-mock: %v", err)
	}
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, strings.TrimSpace(string(bin)), "-http-addr", httpAddr, "-https-addr", httpsAddr)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		cancel()
		unavailable("%v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { cancel(); <-exited })
	base := "http://" + httpAddr
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/account", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return base
			}
		}
		select {
		case <-exited:
			unavailable("it exited: %s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			unavailable("not answering after 30 s: %s", out.String())
		}
	}
}

// syncBuffer collects the tool's output while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestAgainstStripeMock drives every call the adapter makes through
// stripe-mock, which validates each request against Stripe's OpenAPI
// spec: none may be refused. stripe-mock answers fixtures and keeps no
// state, so only the shape of the answers is checked.
func TestAgainstStripeMock(t *testing.T) {
	base := startStripeMock(t)
	c, err := NewClient(billsync.BillingOptions{URL: base, Token: "sk_test_123"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
		}
	}
	if ten, err := c.Tenant(ctx); err != nil || ten == "" {
		t.Errorf("tenant %q %v", ten, err)
	}
	acc, err := c.Create(ctx, billsync.ObjectAccount, billsync.Entity{"name": "Acme", "emailAddress": "a@acme.test", "code": "ACME",
		"crmAccountId": "001A", "customFields": map[string]any{"salesforceId": "a00X"}}, "mock-1")
	must("create customer", err)
	cus := acc.ID()
	if cus == "" {
		t.Fatalf("created customer has no id: %v", acc)
	}
	_, err = c.Update(ctx, billsync.ObjectAccount, billsync.Entity{"id": cus, "name": "Acme Ltd", "emailAddress": "b@acme.test",
		"code": "ACME2", "customFields": map[string]any{"region": "EU"}})
	must("update customer", err)
	_, err = c.Get(ctx, billsync.ObjectAccount, cus)
	must("get customer", err)
	_, _, err = c.List(ctx, billsync.ObjectAccount, "", 5)
	must("list customers", err)

	tx, err := c.Create(ctx, billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": cus + ".usd", "amount": "12.50",
		"description": "Goodwill", "customFields": map[string]any{"ticket": "T-1"}}, "mock-2")
	must("create balance transaction", err)
	if err == nil {
		cur, err := c.Get(ctx, billsync.ObjectBalanceTransaction, tx.ID())
		must("get balance transaction", err)
		if err == nil {
			cur["description"] = "Goodwill (agreed)"
			cur["customFields"] = map[string]any{"ticket": "T-2"}
			_, err = c.Update(ctx, billsync.ObjectBalanceTransaction, cur)
			must("update balance transaction", err)
		}
	}
	_, err = c.Update(ctx, billsync.ObjectBalance, billsync.Entity{"id": cus + ".usd", "amount": "99.99"})
	must("set balance", err)
	_, _, err = c.List(ctx, billsync.ObjectBalance, "", 5)
	must("list balances", err)
	_, _, err = c.List(ctx, billsync.ObjectBalanceTransaction, "", 5)
	must("list balance transactions", err)
	_, _, err = c.RecentTransactions(ctx, cus+".usd", "", 5)
	must("recent transactions", err)

	qs, _, err := c.List(ctx, billsync.ObjectQuote, "", 2)
	must("list quotes", err)
	if len(qs) == 0 {
		t.Fatal("stripe-mock listed no quote")
	}
	q, err := c.Get(ctx, billsync.ObjectQuote, qs[0].ID())
	must("get quote with line items", err)
	t.Logf("quote as read: %v", q)
	_, cp, err := c.Poll(ctx, "")
	must("first poll", err)
	if cp == "" {
		t.Fatal("stripe-mock listed no event")
	}
	_, _, err = c.Poll(ctx, cp)
	must("poll after "+cp, err)

	eps, err := c.endpoints(ctx)
	must("list webhook endpoints", err)
	_, err = c.EnsureWebhookEndpoint(ctx, "https://billsync.example.com/hook", "")
	must("create webhook endpoint", err)
	if len(eps) == 0 {
		t.Fatal("stripe-mock listed no webhook endpoint")
	}
	res, err := c.EnsureWebhookEndpoint(ctx, eps[0].URL, "whsec_stored")
	must("update webhook endpoint", err)
	if !res.Updated && !res.Recreated {
		t.Errorf("the fixture endpoint was neither updated nor recreated: %+v", res)
	}
	res, err = c.EnsureWebhookEndpoint(ctx, eps[0].URL, "") // secret unknown: delete, create
	must("recreate webhook endpoint", err)
	if !res.Recreated {
		t.Errorf("not recreated: %+v", res)
	}
	for _, ch := range c.Check(ctx, "https://billsync.example.com/hook") {
		if !ch.OK && ch.Name != "webhook endpoint" {
			t.Errorf("check %s: %s", ch.Name, ch.Detail)
		}
	}
	must("delete customer", c.Delete(ctx, billsync.ObjectAccount, cus))

	// The validation is real: a transaction's amount cannot be updated.
	err = c.post(ctx, txnPath(cus, "cbtxn_1"), form{"amount": {"5"}}, idempotencyKey(""), nil)
	if re := remote(t, err); re.StatusCode != 400 {
		t.Errorf("stripe-mock took an amount update: %v", err)
	}
}
