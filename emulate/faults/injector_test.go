package faults

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// okHandler answers 200 "ok" and counts the requests it handled.
type okHandler struct{ n atomic.Int64 }

func (h *okHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.n.Add(1)
	_, _ = io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"ok":true}`)
}

func mustParse(t *testing.T, spec string) Config {
	t.Helper()
	cfg, err := Parse(spec)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return cfg
}

func serve(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestRatesWithSeed(t *testing.T) {
	run := func() (fired []bool, counts map[string]int64) {
		inj := New(mustParse(t, "seed=7;e:rate=0.3,status=503"), SalesforceFormat, nil, nil)
		h := inj.Wrap(&okHandler{})
		for range 2000 {
			fired = append(fired, serve(h, "GET", "/services/data/v62.0/limits").Code == 503)
		}
		return fired, inj.Counts()
	}
	a, ca := run()
	b, cb := run()
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("same seed, different faults:\n%s", diff)
	}
	n := ca["e"]
	if n < 500 || n > 700 {
		t.Errorf("rate 0.3 over 2000 requests fired %d times", n)
	}
	var seen int64
	for _, f := range a {
		if f {
			seen++
		}
	}
	if seen != n || cb["e"] != n {
		t.Errorf("client saw %d faults, counter says %d (second run %d)", seen, n, cb["e"])
	}
}

func TestMatchingPathMethodAndOrder(t *testing.T) {
	inj := New(mustParse(t, "lock:path=/services/data/,method=PATCH,code=UNABLE_TO_LOCK_ROW;all:rate=0,status=500;late:status=502"), SalesforceFormat, nil, nil)
	next := &okHandler{}
	h := inj.Wrap(next)
	if r := serve(h, "PATCH", "/services/data/v62.0/sobjects/Account/001"); r.Code != 400 || r.Header().Get(FaultHeader) != "lock" {
		t.Errorf("PATCH data: %d %s", r.Code, r.Header().Get(FaultHeader))
	}
	// The first rule does not match a GET; the rate-0 rule never fires; the
	// last one does.
	if r := serve(h, "GET", "/services/data/v62.0/sobjects/Account/001"); r.Code != 502 || r.Header().Get(FaultHeader) != "late" {
		t.Errorf("GET data: %d %s", r.Code, r.Header().Get(FaultHeader))
	}
	if r := serve(h, "PATCH", "/cometd/62.0"); r.Code != 502 {
		t.Errorf("PATCH cometd: %d", r.Code)
	}
	want := map[string]int64{"lock": 1, "all": 0, "late": 2}
	if diff := cmp.Diff(want, inj.Counts()); diff != "" || inj.Total() != 3 {
		t.Errorf("counts (-want +got):\n%s total %d", diff, inj.Total())
	}
	if next.n.Load() != 0 {
		t.Errorf("handler ran %d times for before-faults", next.n.Load())
	}
	// The admin endpoint is never faulted.
	if r := serve(h, "GET", AdminPath); r.Code != 200 {
		t.Errorf("admin under faults: %d %s", r.Code, r.Body)
	}
}

func TestErrorBodies(t *testing.T) {
	type sfErr struct {
		Message   string    `json:"message"`
		ErrorCode string    `json:"errorCode"`
		Fields    *[]string `json:"fields"`
	}
	empty := []string{}
	for _, c := range []struct {
		spec   string
		status int
		want   sfErr
	}{
		{"x:status=503,code=SERVER_UNAVAILABLE", 503, sfErr{"Server too busy", "SERVER_UNAVAILABLE", nil}},
		{"x:status=503", 503, sfErr{"Server too busy", "SERVER_UNAVAILABLE", nil}},
		{"x:code=UNABLE_TO_LOCK_ROW", 400, sfErr{"unable to obtain exclusive access to this record", "UNABLE_TO_LOCK_ROW", &empty}},
		{"x:code=REQUEST_LIMIT_EXCEEDED", 403, sfErr{"TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED", nil}},
		{"x:status=401", 401, sfErr{"Session expired or invalid", "INVALID_SESSION_ID", nil}},
		{"x:status=500,code=UNKNOWN_EXCEPTION,msg=boom", 500, sfErr{"boom", "UNKNOWN_EXCEPTION", nil}},
		{"x:status=418,code=TEAPOT", 418, sfErr{"I'm a teapot", "TEAPOT", nil}},
		{"x:code=UNABLE_TO_LOCK_ROW,msg=unable to obtain exclusive access to this record or 1 records: {id}", 400,
			sfErr{"unable to obtain exclusive access to this record or 1 records: 001000000000001AAA", "UNABLE_TO_LOCK_ROW", &empty}},
	} {
		h := New(mustParse(t, c.spec), SalesforceFormat, nil, nil).Wrap(&okHandler{})
		r := serve(h, "GET", "/services/data/v62.0/sobjects/Account/001000000000001AAA")
		if r.Code != c.status || r.Header().Get("Content-Type") != "application/json;charset=UTF-8" {
			t.Errorf("%s: %d %q", c.spec, r.Code, r.Header().Get("Content-Type"))
		}
		var got []sfErr
		if err := json.Unmarshal(r.Body.Bytes(), &got); err != nil || len(got) != 1 {
			t.Errorf("%s: body %s: %v", c.spec, r.Body, err)
			continue
		}
		if diff := cmp.Diff(c.want, got[0]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", c.spec, diff)
		}
	}
	// UNKNOWN_EXCEPTION carries an ErrorId like a real org's.
	_, b := SalesforceFormat(500, "", "")
	if !strings.Contains(string(b), `"errorCode":"UNKNOWN_EXCEPTION"`) || !strings.Contains(string(b), "Please include this ErrorId if you contact support: ") {
		t.Errorf("500: %s", b)
	}

	for _, c := range []struct {
		spec      string
		status    int
		code, msg string
	}{
		{"x:status=503", 503, "unavailable", "Service Unavailable"},
		{"x:status=429,msg=slow down", 429, "rate_limited", "slow down"},
		{"x:status=409", 409, "version_conflict", "Conflict"},
		{"x:status=500,code=boom", 500, "boom", "Internal Server Error"},
	} {
		h := New(mustParse(t, c.spec), BillingFormat, nil, nil).Wrap(&okHandler{})
		r := serve(h, "POST", "/api/v1/accounts")
		var got struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(r.Body.Bytes(), &got); err != nil {
			t.Errorf("%s: body %s: %v", c.spec, r.Body, err)
		}
		if r.Code != c.status || r.Header().Get("Content-Type") != "application/json" || got.Error.Code != c.code || got.Error.Message != c.msg {
			t.Errorf("%s: %d %q %s", c.spec, r.Code, r.Header().Get("Content-Type"), r.Body)
		}
	}
}

func TestLatency(t *testing.T) {
	inj := New(mustParse(t, "seed=3;slow:latency=50ms,jitter=20ms;slower:path=/cometd/,latency=1s"), nil, nil, nil)
	var mu sync.Mutex
	var slept []time.Duration
	inj.sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		slept = append(slept, d)
		return nil
	}
	next := &okHandler{}
	h := inj.Wrap(next)
	for range 50 {
		if r := serve(h, "GET", "/api/v1/accounts"); r.Code != 200 {
			t.Fatalf("latency-only fault answered %d", r.Code)
		}
	}
	if r := serve(h, "POST", "/cometd/62.0/connect"); r.Code != 200 {
		t.Fatalf("cometd: %d", r.Code)
	}
	if len(slept) != 51 || next.n.Load() != 51 {
		t.Fatalf("slept %d times, handled %d", len(slept), next.n.Load())
	}
	varied := false
	for _, d := range slept[:50] {
		if d < 30*time.Millisecond || d > 70*time.Millisecond {
			t.Errorf("latency %v outside 50ms±20ms", d)
		}
		varied = varied || d != slept[0]
	}
	if !varied {
		t.Error("jitter never varied the latency")
	}
	// Latencies of several rules add up.
	if d := slept[50]; d < 1030*time.Millisecond || d > 1070*time.Millisecond {
		t.Errorf("combined latency %v", d)
	}
}

func TestLatencyHonoursContext(t *testing.T) {
	inj := New(mustParse(t, "stall:latency=1h"), nil, nil, nil)
	next := &okHandler{}
	srv := httptest.NewServer(inj.Wrap(next))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/x", nil)
	errc := make(chan error, 1)
	go func() {
		resp, err := srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	waitFor(t, func() bool { return inj.Total() == 1 })
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("client error %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("request did not end after its context was cancelled")
	}
	// The server side gives up too, without running the handler.
	srv.Close()
	if next.n.Load() != 0 {
		t.Errorf("handler ran after the client left")
	}
}

func TestDrop(t *testing.T) {
	inj := New(mustParse(t, "gone:path=/services/data/,drop"), SalesforceFormat, nil, nil)
	next := &okHandler{}
	srv := httptest.NewServer(inj.Wrap(next))
	defer srv.Close()
	// A fresh connection per request, so the transport has no idle
	// connection to blame and quietly retry on.
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	for _, m := range []string{"GET", "POST"} {
		req, _ := http.NewRequest(m, srv.URL+"/services/data/v62.0/sobjects/Account", strings.NewReader(`{"Name":"x"}`))
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s: got %d, want a connection error", m, resp.StatusCode)
		}
	}
	if next.n.Load() != 0 {
		t.Errorf("handler ran for a before-drop")
	}
	if inj.Counts()["gone"] != 2 {
		t.Errorf("counts %v", inj.Counts())
	}
	// Other paths are untouched.
	resp, err := c.Get(srv.URL + "/services/oauth2/token")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("unfaulted path: %d", resp.StatusCode)
	}
}

func TestAfter(t *testing.T) {
	inj := New(mustParse(t, "ghost:method=POST,status=503,code=SERVER_UNAVAILABLE,after;lost:method=PUT,drop,after"), SalesforceFormat, nil, nil)
	next := &okHandler{}
	srv := httptest.NewServer(inj.Wrap(next))
	defer srv.Close()
	resp, err := srv.Client().Post(srv.URL+"/services/data/v62.0/sobjects/Account", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "SERVER_UNAVAILABLE") || strings.Contains(string(body), "ok") {
		t.Errorf("after-fault answered %d %s", resp.StatusCode, body)
	}
	if next.n.Load() != 1 {
		t.Errorf("handler ran %d times; an after-fault must let the write happen", next.n.Load())
	}
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	req, _ := http.NewRequest("PUT", srv.URL+"/api/v1/accounts/a1", strings.NewReader(`{}`))
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("after-drop answered %d", resp.StatusCode)
	}
	if next.n.Load() != 2 {
		t.Errorf("handler ran %d times; the after-drop must let the write happen", next.n.Load())
	}
}

func TestHooks(t *testing.T) {
	var expired, dropped atomic.Int64
	hooks := map[string]func(){
		HookExpireTokens: func() { expired.Add(1) },
		HookDropStreams:  func() { dropped.Add(1); panic("a broken hook must not take the server down") },
	}
	inj := New(mustParse(t, "exp:path=/services/data/,hook=expire_tokens;drop:path=/cometd/,hook=drop_streams"), SalesforceFormat, hooks, nil)
	next := &okHandler{}
	h := inj.Wrap(next)
	if r := serve(h, "GET", "/services/data/v62.0/limits"); r.Code != 200 {
		t.Errorf("hook-only fault answered %d", r.Code)
	}
	if r := serve(h, "POST", "/cometd/62.0/connect"); r.Code != 200 {
		t.Errorf("panicking hook: %d", r.Code)
	}
	if expired.Load() != 1 || dropped.Load() != 1 || next.n.Load() != 2 {
		t.Errorf("expired %d dropped %d handled %d", expired.Load(), dropped.Load(), next.n.Load())
	}
	// A hook unknown to the injector is refused at run time.
	if err := inj.Apply(mustParse(t, "x:hook=reboot")); err == nil || !strings.Contains(err.Error(), `no hook "reboot"`) {
		t.Errorf("Apply unknown hook: %v", err)
	}
}

func TestSetKeepsCountsAndRejectsInvalid(t *testing.T) {
	inj := New(mustParse(t, "a:status=500"), nil, nil, nil)
	h := inj.Wrap(&okHandler{})
	serve(h, "GET", "/")
	inj.Set(mustParse(t, "b:status=503"))
	serve(h, "GET", "/")
	if diff := cmp.Diff(map[string]int64{"a": 1, "b": 1}, inj.Counts()); diff != "" || inj.Total() != 2 {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	inj.Set(Config{Rules: []Rule{{Name: "bad", Rate: 2, Status: 500}}})
	if got := inj.Config().Spec(); got != "b:status=503" {
		t.Errorf("invalid Set replaced the rules: %q", got)
	}
	inj.ResetCounts()
	if inj.Total() != 0 || inj.Counts()["b"] != 0 {
		t.Errorf("after reset: %v %d", inj.Counts(), inj.Total())
	}
	// An invalid config at New leaves no rules rather than a broken injector.
	inj = New(Config{Rules: []Rule{{Name: "bad"}}}, nil, nil, nil)
	if r := serve(inj.Wrap(&okHandler{}), "GET", "/"); r.Code != 200 || len(inj.Config().Rules) != 0 {
		t.Errorf("New with invalid config: %d %v", r.Code, inj.Config())
	}
}

func TestConcurrent(t *testing.T) {
	inj := New(mustParse(t, "seed=1;e:rate=0.2,status=500;s:rate=0.1,latency=1us;h:rate=0.1,hook=expire_tokens;a:rate=0.1,status=503,after"),
		BillingFormat, map[string]func(){HookExpireTokens: func() {}}, nil)
	next := &okHandler{}
	h := inj.Wrap(next)
	var wg sync.WaitGroup
	var errs atomic.Int64
	for g := range 8 {
		wg.Go(func() {
			for k := range 300 {
				if g == 0 && k%50 == 0 {
					inj.Set(mustParse(t, "e:rate=0.2,status=500;s:rate=0.1,latency=1us;a:rate=0.1,status=503,after"))
					_ = inj.Counts()
					_ = inj.Config()
					continue
				}
				if r := serve(h, "GET", "/api/v1/accounts"); r.Code >= 500 {
					errs.Add(1)
				}
			}
		})
	}
	wg.Wait()
	c := inj.Counts()
	if c["e"]+c["a"] != errs.Load() {
		t.Errorf("clients saw %d errors; counters e=%d a=%d", errs.Load(), c["e"], c["a"])
	}
	var sum int64
	for _, n := range c {
		sum += n
	}
	if sum != inj.Total() || sum == 0 {
		t.Errorf("sum of counts %d, total %d", sum, inj.Total())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 15s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
