package m3ter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testOrg    = "11111111-2222-3333-4444-555555555555"
	testKey    = "emulator-access-key"
	testSecret = "emulator-api-secret"
	testUser   = "99999999-8888-7777-6666-555555555555"
)

// fakeClock is a clock a test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testOptions(opts Options) Options {
	if opts.OrgID == "" {
		opts.OrgID = testOrg
	}
	if opts.AccessKeyID == "" {
		opts.AccessKeyID, opts.APISecret = testKey, testSecret
	}
	if opts.ServiceUserID == "" {
		opts.ServiceUserID = testUser
	}
	if opts.RetryBackoff == nil {
		opts.RetryBackoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	return opts
}

// serve starts an emulator (delivery started) behind an httptest server;
// wrap may put the spec validator in front.
func serve(t *testing.T, opts Options, wrap func(http.Handler) http.Handler) (*Emulator, *client) {
	t.Helper()
	opts = testOptions(opts)
	e, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	h := e.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	e.Start(ctx)
	t.Cleanup(func() {
		cancel()
		srv.Close()
		if err := e.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	c := &client{t: t, base: srv.URL, org: opts.OrgID, key: opts.AccessKeyID, secret: opts.APISecret}
	c.login()
	return e, c
}

// client is a small m3ter API client for tests.
type client struct {
	t                 *testing.T
	base, org         string
	key, secret, bear string
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// login gets a token with the JSON body m3ter's SDK sends.
func (c *client) login() {
	c.t.Helper()
	r := c.raw("POST", "/oauth/token", `{"grant_type":"client_credentials"}`, "basic")
	if r.status != http.StatusOK {
		c.t.Fatalf("token: %d %s", r.status, r.raw)
	}
	c.bear = r.body["access_token"].(string)
}

// raw sends a request to a path from the base; auth is "basic", "bearer"
// or "".
func (c *client) raw(method, path, body, auth string, hdr ...string) resp {
	c.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	switch auth {
	case "basic":
		req.SetBasicAuth(c.key, c.secret)
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+c.bear)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	r := resp{status: res.StatusCode, header: res.Header, raw: string(b)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&r.body); err != nil {
		c.t.Fatalf("%s %s: not a JSON object: %v\n%s", method, path, err, b)
	}
	return r
}

// do sends a request under the organization; body is marshalled to JSON.
func (c *client) do(method, path string, body any, hdr ...string) resp {
	c.t.Helper()
	s := ""
	if body != nil {
		if str, ok := body.(string); ok {
			s = str
		} else {
			b, err := json.Marshal(body)
			if err != nil {
				c.t.Fatal(err)
			}
			s = string(b)
		}
	}
	return c.raw(method, "/organizations/"+c.org+path, s, "bearer", hdr...)
}

// ok is do that requires a 200.
func (c *client) ok(method, path string, body any, hdr ...string) map[string]any {
	c.t.Helper()
	r := c.do(method, path, body, hdr...)
	if r.status != http.StatusOK {
		c.t.Fatalf("%s %s: %d %s", method, path, r.status, r.raw)
	}
	return r.body
}

func (c *client) createAccount(code string) map[string]any {
	c.t.Helper()
	return c.ok("POST", "/accounts", obj{"name": "Acme " + code, "code": code, "emailAddress": code + "@example.com"})
}

func (c *client) createBalance(accountID, code string) map[string]any {
	c.t.Helper()
	return c.ok("POST", "/balances", obj{"accountId": accountID, "code": code, "name": "Prepaid " + code, "currency": "USD",
		"startDate": "2026-01-01T00:00:00Z", "endDate": "2027-01-01T00:00:00Z"})
}

// setupWebhook creates what `billsync m3ter setup` creates for one event
// name: a notification, a webhook destination and the config linking them.
func (c *client) setupWebhook(eventName, url string) (notification, destination, config string) {
	c.t.Helper()
	n := c.ok("POST", "/notifications/configurations", obj{"code": strings.ReplaceAll(eventName, ".", "_"), "name": eventName,
		"description": "billsync: " + eventName, "eventName": eventName, "alwaysFireEvent": true, "active": true})
	d := c.ok("POST", "/integrationdestinations/webhooks", obj{"url": url, "name": "billsync", "description": "billsync webhook",
		"credentials": obj{"type": "M3TER_SIGNED_REQUEST", "apiKey": "billsync", "secret": "not-used"}})
	ic := c.ok("POST", "/integrationconfigs", obj{"entityType": "Notification", "entityId": n["id"], "destination": "Webhook",
		"destinationId": d["id"], "configData": obj{}, "name": "billsync " + eventName})
	return n["id"].(string), d["id"].(string), ic["id"].(string)
}

func str(v any) string { s, _ := v.(string); return s }

func num(t *testing.T, v any) string {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a JSON number", v, v)
	}
	return n.String()
}

func data(t *testing.T, body map[string]any) []map[string]any {
	t.Helper()
	l, ok := body["data"].([]any)
	if !ok {
		t.Fatalf("no data list in %v", body)
	}
	out := make([]map[string]any, len(l))
	for i, x := range l {
		out[i] = x.(map[string]any)
	}
	return out
}

func q(kv ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return "?" + v.Encode()
}

// receiver is a webhook destination that records what it gets.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	fail   atomic.Int64 // answer 500 to this many more deliveries
	failed atomic.Int64
	got    chan struct{}
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if r.fail.Load() > 0 {
			r.fail.Add(-1)
			r.failed.Add(1)
			http.Error(w, "not now", http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// waitFor waits (15 s at most) until n deliveries have arrived.
func (r *receiver) waitFor(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		if len(r.bodies) >= n {
			out := make([]map[string]any, 0, len(r.bodies))
			for _, b := range r.bodies {
				var m map[string]any
				dec := json.NewDecoder(bytes.NewReader(b))
				dec.UseNumber()
				if err := dec.Decode(&m); err != nil {
					t.Fatalf("webhook body is not JSON: %v: %s", err, b)
				}
				out = append(out, m)
			}
			r.mu.Unlock()
			return out
		}
		got := len(r.bodies)
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("only %d of %d webhooks arrived", got, n)
		}
	}
}

func (r *receiver) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.bodies)
}

// eventually polls cond (15 s at most).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// newDto is the entity a webhook or event carries.
func newDto(ev map[string]any) map[string]any {
	m, _ := ev["m3terEvent"].(map[string]any)
	d, _ := m["eventData"].(map[string]any)
	n, _ := d["newDto"].(map[string]any)
	return n
}

// startClient serves e (delivery not started) and logs in.
func startClient(t *testing.T, e *Emulator) *client {
	t.Helper()
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = e.Close()
	})
	c := &client{t: t, base: srv.URL, org: testOrg, key: testKey, secret: testSecret}
	c.login()
	return c
}
