package stripeapi

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// seen is one request the fake received.
type seen struct {
	Method, Path, Key, Version string
	Query, Form                url.Values
}

// fake is a Stripe stand-in whose answers each test writes.
type fake struct {
	mu   sync.Mutex
	reqs []seen
	srv  *httptest.Server
}

func newFake(t *testing.T, h func(w http.ResponseWriter, r *http.Request, f url.Values)) *fake {
	t.Helper()
	fk := &fake{}
	fk.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f, _ := url.ParseQuery(string(body))
		fk.mu.Lock()
		fk.reqs = append(fk.reqs, seen{Method: r.Method, Path: r.URL.Path, Key: r.Header.Get("Idempotency-Key"),
			Version: r.Header.Get("Stripe-Version"), Query: r.URL.Query(), Form: f})
		fk.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer sk_test_123" {
			w.WriteHeader(401)
			_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		h(w, r, f)
	}))
	t.Cleanup(fk.srv.Close)
	return fk
}

func (fk *fake) requests() []seen {
	fk.mu.Lock()
	defer fk.mu.Unlock()
	return append([]seen(nil), fk.reqs...)
}

func (fk *fake) posts() []seen {
	var out []seen
	for _, r := range fk.requests() {
		if r.Method == http.MethodPost {
			out = append(out, r)
		}
	}
	return out
}

// countingPace counts the requests paced, instead of timing them.
type countingPace struct {
	mu sync.Mutex
	n  int
}

func (p *countingPace) Wait(context.Context) error {
	p.mu.Lock()
	p.n++
	p.mu.Unlock()
	return nil
}

func (p *countingPace) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

type testClient struct {
	*Client
	pace   *countingPace
	mu     sync.Mutex
	sleeps []time.Duration
}

func (tc *testClient) slept() []time.Duration {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return append([]time.Duration(nil), tc.sleeps...)
}

func clientFor(t *testing.T, fk *fake, opts map[string]string) *testClient {
	t.Helper()
	c, err := NewClient(billsync.BillingOptions{URL: fk.srv.URL, Token: "sk_test_123", HTTPClient: fk.srv.Client(), Options: opts,
		Clock: func() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	tc := &testClient{Client: c, pace: &countingPace{}}
	c.pace = tc.pace
	c.sleep = func(_ context.Context, d time.Duration) error {
		tc.mu.Lock()
		tc.sleeps = append(tc.sleeps, d)
		tc.mu.Unlock()
		return nil
	}
	return tc
}

func write(w http.ResponseWriter, status int, body string) {
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func remote(t *testing.T, err error) *billsync.RemoteError {
	t.Helper()
	var re *billsync.RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("err %v (%T), want a *billsync.RemoteError", err, err)
	}
	return re
}
