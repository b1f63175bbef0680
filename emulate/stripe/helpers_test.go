package stripe

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const testKey = "sk_test_emulator"

var checkedCount atomic.Int64

// serve starts an emulator behind an httptest server; wrap may put the
// spec validator in front.
func serve(t *testing.T, opts Options, wrap func(http.Handler) http.Handler) (*Emulator, *client) {
	t.Helper()
	if opts.SecretKey == "" {
		opts.SecretKey = testKey
	}
	if opts.RetryBackoff == nil {
		opts.RetryBackoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
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
	return e, &client{t: t, base: srv.URL, key: opts.SecretKey}
}

type client struct {
	t    *testing.T
	base string
	key  string
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends form (a raw bracket-syntax string) as the body of a POST or the
// query of a GET/DELETE; extra headers come in pairs.
func (c *client) do(method, path, form string, hdr ...string) resp {
	c.t.Helper()
	u := c.base + path
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(form)
	} else if form != "" {
		u += "?" + form
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
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
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.UseNumber()
	if err := dec.Decode(&r.body); err != nil {
		c.t.Fatalf("%s %s: not JSON: %v\n%s", method, path, err, b)
	}
	return r
}

// ok is do that requires a 200.
func (c *client) ok(method, path, form string, hdr ...string) map[string]any {
	c.t.Helper()
	r := c.do(method, path, form, hdr...)
	if r.status != http.StatusOK {
		c.t.Fatalf("%s %s %s: %d %s", method, path, form, r.status, r.raw)
	}
	return r.body
}

func num(t *testing.T, v any) int64 {
	t.Helper()
	n, ok := v.(json.Number)
	if !ok {
		t.Fatalf("%v (%T) is not a number", v, v)
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatal(err)
	}
	return i
}

func m(v any) map[string]any { x, _ := v.(map[string]any); return x }

// receiver is a webhook endpoint that records what it gets, checking the
// signature with the emulator's own secret.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	fail   atomic.Int64 // answer 500 to this many more deliveries
	got    chan struct{}
	srv    *httptest.Server
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{got: make(chan struct{}, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		if r.fail.Load() > 0 {
			r.fail.Add(-1)
			http.Error(w, "not now", http.StatusInternalServerError)
			return
		}
		r.mu.Lock()
		r.bodies = append(r.bodies, b)
		r.sigs = append(r.sigs, req.Header.Get("Stripe-Signature"))
		r.mu.Unlock()
		r.got <- struct{}{}
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// waitFor waits (15 s at most) until n deliveries have arrived.
func (r *receiver) waitFor(t *testing.T, n int) [][]byte {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		r.mu.Lock()
		if len(r.bodies) >= n {
			out := append([][]byte(nil), r.bodies...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.got:
		case <-deadline:
			t.Fatalf("only %d of %d webhooks arrived", len(r.bodies), n)
		}
	}
}

func eventTypes(t *testing.T, bodies [][]byte) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, b := range bodies {
		var ev struct{ Type string }
		if err := json.Unmarshal(b, &ev); err != nil {
			t.Fatal(err)
		}
		out[ev.Type]++
	}
	return out
}

// serveEmulator serves e without starting delivery.
func serveEmulator(t *testing.T, e *Emulator) (*Emulator, *client) {
	t.Helper()
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() {
		srv.Close()
		_ = e.Close()
	})
	return e, &client{t: t, base: srv.URL, key: testKey}
}
