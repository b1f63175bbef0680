package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/mock"
)

const (
	opsToken   = "tok-ops-0123456789"
	robotToken = "tok-robot-abcdef"
	readToken  = "tok-read-grafana-42"
)

var testNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// contractBodies decodes webhook bodies as the billing contract's adapter
// does, so these tests see the real answers to real bodies; each fake
// below brings its own signature check.
type contractBodies struct{}

func (contractBodies) Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error) {
	c, err := billingapi.DecodeWebhook(webhookID, body, now)
	if err != nil {
		return nil, err
	}
	return []*billsync.Change{c}, nil
}

// fakeVerifier accepts a request whose "X-Test-Signature" is "good" and
// returns its webhook-id.
type fakeVerifier struct{ contractBodies }

func (fakeVerifier) Verify(h http.Header, body []byte) (string, error) {
	if h.Get("X-Test-Signature") != "good" {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "no matching signature")
	}
	return h.Get("webhook-id"), nil
}

// harness serves a Server over a mock.Store. The server reaches the
// store's queue and conflicts through function-field mocks passing each
// call through to the store, so a test makes one call fail by setting its
// field; anything else the server calls panics.
type harness struct {
	t         *testing.T
	store     *mock.Store
	queue     *mock.Queue         // Enqueue, DeadLetters, Resurrect, Discard, Stats
	conflicts *mock.ConflictStore // Conflicts, Conflict, CountHeld
	logReader *mock.LogStore      // Logs, AppendLog
	srv       *Server
	ts        *httptest.Server
	logs      *syncBuffer
	enqueued  atomic.Int32
	seq       int // for unique partitions and event ids

	mu       sync.Mutex
	readyErr error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newHarness(t *testing.T, edit ...func(*Config)) *harness {
	t.Helper()
	clock := func() time.Time { return testNow }
	st := &mock.Store{Now: clock}
	h := &harness{t: t, store: st, logs: &syncBuffer{},
		queue: &mock.Queue{EnqueueFn: st.Enqueue, DeadLettersFn: st.DeadLetters, ResurrectFn: st.Resurrect,
			DiscardFn: st.Discard, StatsFn: st.Stats},
		conflicts: &mock.ConflictStore{ConflictsFn: st.Conflicts, ConflictFn: st.Conflict, CountHeldFn: st.CountHeld},
		logReader: &mock.LogStore{LogsFn: st.Logs, AppendLogFn: st.AppendLog},
	}
	logger := slog.New(slog.NewJSONHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	gauges := struct {
		*mock.Queue
		*mock.ConflictStore
	}{h.queue, h.conflicts}
	metrics, err := NewMetrics(MetricsConfig{Gauges: gauges, Logger: logger, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Webhooks:    fakeVerifier{},
		Queue:       h.queue,
		Settings:    h.store,
		Logs:        h.logReader,
		DeadLetters: h.queue,
		Conflicts:   h.conflicts,
		Held:        h.store,
		Metrics:     metrics,
		AdminTokens: map[string]string{opsToken: "ops", robotToken: "robot"},
		ReadTokens:  map[string]string{readToken: "grafana"},
		Ready: func(ctx context.Context) error {
			h.mu.Lock()
			defer h.mu.Unlock()
			return h.readyErr
		},
		OnEnqueue: func() { h.enqueued.Add(1) },
		Logger:    logger,
		Clock:     clock,
	}
	for _, e := range edit {
		e(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.srv = srv
	h.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(h.ts.Close)
	return h
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// errorOf decodes an error answer and checks its shape.
func (r response) errorOf(t *testing.T) errorDetail {
	t.Helper()
	var b errorBody
	r.json(t, &b)
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Fatalf("error answer without code or message: %s", r.body)
	}
	return b.Error
}

func (h *harness) do(method, path, token string, body []byte, hdr http.Header) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.ts.URL+path, bytes.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func signedHeader(id string) http.Header {
	return http.Header{"X-Test-Signature": {"good"}, "Webhook-Id": {id}}
}

const accountUpdated = `{"type":"account.updated","timestamp":"2026-03-04T11:59:00Z","data":{"id":"acc_1","name":"Acme","version":3}}`

func TestWebhookUnsignedRefused(t *testing.T) {
	h := newHarness(t)
	for name, hdr := range map[string]http.Header{
		"no signature":  {"Webhook-Id": {"msg_1"}},
		"bad signature": {"Webhook-Id": {"msg_1"}, "X-Test-Signature": {"forged"}},
	} {
		t.Run(name, func(t *testing.T) {
			res := h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), hdr)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", res.status, res.body)
			}
			if e := res.errorOf(t); e.Code != billsync.EUNAUTHORIZED {
				t.Errorf("code %q, want unauthorized", e.Code)
			}
		})
	}
	if q := h.store.Queued(); len(q) != 0 {
		t.Errorf("queued %d changes from unsigned webhooks", len(q))
	}
	if h.enqueued.Load() != 0 {
		t.Error("OnEnqueue called for a refused webhook")
	}
}

func TestWebhookInvalidRefusedWithReason(t *testing.T) {
	h := newHarness(t)
	cases := []struct{ name, body, reason string }{
		{"malformed JSON", `{"type":"account.updated",`, "malformed JSON"},
		{"unknown entity", `{"type":"invoice.updated","data":{"id":"x"}}`, `unknown entity "invoice"`},
		{"unknown action", `{"type":"account.archived","data":{"id":"x"}}`, `unknown action "archived"`},
		{"missing type", `{"data":{"id":"x"}}`, `missing "type"`},
		{"missing data", `{"type":"account.created"}`, `missing "data"`},
		{"empty", ``, "empty body"},
		{"balance without account", `{"type":"balance.updated","data":{"id":"bal_1"}}`, "accountId is missing"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := h.do("POST", "/webhooks/billing", "", []byte(c.body), signedHeader("msg_bad_"+string(rune('a'+i))))
			if res.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", res.status, res.body)
			}
			e := res.errorOf(t)
			if e.Code != billsync.EINVALID || !strings.Contains(e.Message, c.reason) {
				t.Errorf("error %+v, want invalid with %q", e, c.reason)
			}
		})
	}
	if q := h.store.Queued(); len(q) != 0 {
		t.Errorf("queued %d changes from invalid webhooks", len(q))
	}
}

func TestWebhookAcceptedThenDuplicate(t *testing.T) {
	h := newHarness(t)
	res := h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_1"))
	if res.status != http.StatusOK || !bytes.Contains(res.body, []byte(`"status":"accepted"`)) {
		t.Fatalf("first delivery: %d %s", res.status, res.body)
	}
	q := h.store.Queued()
	if len(q) != 1 {
		t.Fatalf("queued %d changes, want 1", len(q))
	}
	c := q[0]
	if c.EventID != "webhook:msg_1" || c.Partition != "account:acc_1" || c.Object != billsync.ObjectAccount ||
		c.Op != billsync.OpUpdated || c.RecordID != "acc_1" || !c.EnqueuedAt.Equal(testNow) {
		t.Errorf("queued change %+v", c)
	}
	if h.enqueued.Load() != 1 {
		t.Errorf("OnEnqueue called %d times, want 1", h.enqueued.Load())
	}

	// The sender retries with the same id (signed afresh).
	res = h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_1"))
	if res.status != http.StatusOK || !bytes.Contains(res.body, []byte(`"status":"duplicate"`)) {
		t.Fatalf("second delivery: %d %s", res.status, res.body)
	}
	if n := len(h.store.Queued()); n != 1 {
		t.Errorf("queued %d changes after a duplicate, want 1", n)
	}
	if h.enqueued.Load() != 1 {
		t.Errorf("OnEnqueue called for a duplicate")
	}
}

func TestWebhookStoreFailureIs503(t *testing.T) {
	h := newHarness(t)
	h.queue.EnqueueFn = func(context.Context, ...*billsync.Change) ([]bool, error) {
		return nil, errors.New("sqlite: database is locked at /var/lib/billsync/db")
	}
	res := h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_1"))
	if res.status != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503: %s", res.status, res.body)
	}
	if e := res.errorOf(t); e.Code != billsync.EUNAVAILABLE || strings.Contains(e.Message, "sqlite") {
		t.Errorf("error %+v: want unavailable without internal detail", e)
	}
	if h.enqueued.Load() != 0 {
		t.Error("OnEnqueue called although nothing was stored")
	}
}

func TestWebhookTooLarge(t *testing.T) {
	h := newHarness(t)
	body := `{"type":"account.updated","data":{"id":"acc_1","name":"` + strings.Repeat("x", maxWebhookBody) + `"}}`
	res := h.do("POST", "/webhooks/billing", "", []byte(body), signedHeader("msg_big"))
	if res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", res.status)
	}
	if len(h.store.Queued()) != 0 {
		t.Error("queued an oversized webhook")
	}
}

func TestAdminAuth(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name   string
		header string
		want   int
	}{
		{"no header", "", 401},
		{"wrong token", "Bearer nope", 401},
		{"prefix of a token", "Bearer " + opsToken[:len(opsToken)-1], 401},
		{"basic scheme", "Basic " + opsToken, 401},
		{"empty bearer", "Bearer ", 401},
		{"good", "Bearer " + opsToken, 200},
		{"scheme is case-insensitive", "bearer " + robotToken, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			hdr := http.Header{}
			if c.header != "" {
				hdr.Set("Authorization", c.header)
			}
			res := h.do("GET", "/api/v1/settings", "", nil, hdr)
			if res.status != c.want {
				t.Fatalf("status %d, want %d: %s", res.status, c.want, res.body)
			}
			if c.want == 401 {
				if e := res.errorOf(t); e.Code != billsync.EUNAUTHORIZED {
					t.Errorf("code %q", e.Code)
				}
				if res.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			}
		})
	}
	// Unknown API paths answer in the API's error shape, after auth.
	if res := h.do("GET", "/api/v1/nope", "", nil, nil); res.status != 401 {
		t.Errorf("unknown path without token: %d", res.status)
	}
	res := h.do("GET", "/api/v1/nope", opsToken, nil, nil)
	if res.status != 404 || res.errorOf(t).Code != billsync.ENOTFOUND {
		t.Errorf("unknown path: %d %s", res.status, res.body)
	}
	// Probes and metrics need no token.
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		if res := h.do("GET", p, "", nil, nil); res.status != 200 {
			t.Errorf("%s: %d", p, res.status)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	st := mock.NewStore()
	full := func(edit func(*Config)) Config {
		c := Config{Webhooks: fakeVerifier{}, Queue: st, Settings: st, Logs: st, DeadLetters: st, Conflicts: st}
		edit(&c)
		return c
	}
	if _, err := New(full(func(*Config) {})); err != nil {
		t.Fatalf("complete config: %v", err)
	}
	for name, cfg := range map[string]Config{
		"no webhooks":      full(func(c *Config) { c.Webhooks = nil }),
		"no queue":         full(func(c *Config) { c.Queue = nil }),
		"no settings":      full(func(c *Config) { c.Settings = nil }),
		"no logs":          full(func(c *Config) { c.Logs = nil }),
		"no dead letters":  full(func(c *Config) { c.DeadLetters = nil }),
		"no conflicts":     full(func(c *Config) { c.Conflicts = nil }),
		"empty token":      full(func(c *Config) { c.AdminTokens = map[string]string{"": "ops"} }),
		"unnamed token":    full(func(c *Config) { c.AdminTokens = map[string]string{"secret": ""} }),
		"empty read token": full(func(c *Config) { c.ReadTokens = map[string]string{" ": "grafana"} }),
		"token in both scopes": full(func(c *Config) {
			c.AdminTokens, c.ReadTokens = map[string]string{"secret": "ops"}, map[string]string{"secret": "grafana"}
		}),
	} {
		if _, err := New(cfg); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%s: err %v, want invalid", name, err)
		}
	}
}

func TestSettings(t *testing.T) {
	h := newHarness(t)

	var all struct{ Settings []settingBody }
	res := h.do("GET", "/api/v1/settings", opsToken, nil, nil)
	res.json(t, &all)
	if len(all.Settings) != len(billsync.SettingKeys()) {
		t.Fatalf("%d settings, want %d", len(all.Settings), len(billsync.SettingKeys()))
	}
	for _, s := range all.Settings {
		if s.UpdatedBy != "default" || s.UpdatedAt != nil || len(s.Value) == 0 {
			t.Errorf("untouched setting %+v: want its default, by \"default\"", s)
		}
	}

	res = h.do("PUT", "/api/v1/settings/sync.accounts", opsToken, []byte(`{"value": false}`), nil)
	if res.status != 200 {
		t.Fatalf("PUT: %d %s", res.status, res.body)
	}
	var got settingBody
	res.json(t, &got)
	if got.Key != "sync.accounts" || string(got.Value) != "false" || got.UpdatedBy != "ops" || got.UpdatedAt == nil || !got.UpdatedAt.Equal(testNow) {
		t.Errorf("PUT answered %+v", got)
	}

	res = h.do("GET", "/api/v1/settings/sync.accounts", robotToken, nil, nil)
	res.json(t, &got)
	if string(got.Value) != "false" || got.UpdatedBy != "ops" {
		t.Errorf("GET after PUT: %+v", got)
	}
	res = h.do("GET", "/api/v1/settings/sync.quotes", robotToken, nil, nil)
	res.json(t, &got)
	if string(got.Value) != "true" || got.UpdatedBy != "default" {
		t.Errorf("GET default: %+v", got)
	}

	// The second change, by another token, is audited with its name.
	h.do("PUT", "/api/v1/settings/conflicts.account", robotToken, []byte(`{"value":"manual"}`), nil)
	var audit struct{ Entries []billsync.AuditEntry }
	h.do("GET", "/api/v1/settings/audit", opsToken, nil, nil).json(t, &audit)
	if len(audit.Entries) != 2 {
		t.Fatalf("audit %+v, want 2 entries", audit.Entries)
	}
	if e := audit.Entries[0]; e.Actor != "robot" || e.Key != "conflicts.account" || string(e.New) != `"manual"` {
		t.Errorf("newest audit entry %+v", e)
	}
	if e := audit.Entries[1]; e.Actor != "ops" || e.Key != "sync.accounts" {
		t.Errorf("older audit entry %+v", e)
	}

	bad := []struct {
		name, key, body string
		status          int
		msg             string
	}{
		{"wrong kind", "sync.accounts", `{"value":"maybe"}`, 400, "true or false"},
		{"not in enum", "conflicts.account", `{"value":"coin-flip"}`, 400, "not one of"},
		{"null value", "sync.accounts", `{"value":null}`, 400, "non-null"},
		{"no value", "sync.accounts", `{}`, 400, "non-null"},
		{"unknown field", "sync.accounts", `{"value":true,"valu":false}`, 400, "unknown field"},
		{"malformed", "sync.accounts", `{"value":`, 400, "malformed"},
		{"unknown key", "sync.invoices", `{"value":true}`, 404, "unknown setting"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			res := h.do("PUT", "/api/v1/settings/"+c.key, opsToken, []byte(c.body), nil)
			if res.status != c.status {
				t.Fatalf("status %d, want %d: %s", res.status, c.status, res.body)
			}
			if e := res.errorOf(t); !strings.Contains(e.Message, c.msg) {
				t.Errorf("message %q, want %q", e.Message, c.msg)
			}
		})
	}
	if res := h.do("GET", "/api/v1/settings/nope", opsToken, nil, nil); res.status != 404 {
		t.Errorf("GET unknown key: %d", res.status)
	}
	h.do("GET", "/api/v1/settings/audit", opsToken, nil, nil).json(t, &audit)
	if len(audit.Entries) != 2 {
		t.Errorf("refused changes were audited: %+v", audit.Entries)
	}
}

func seedLogs(t *testing.T, st *mock.Store) {
	t.Helper()
	var entries []billsync.LogEntry
	for i := range 10 {
		e := billsync.LogEntry{
			Time:      testNow.Add(time.Duration(i-10) * time.Hour),
			Direction: billsync.ToSalesforce,
			Object:    billsync.ObjectAccount,
			BillingID: "acc_" + string(rune('0'+i%3)),
			Operation: "upsert",
			Outcome:   billsync.OutcomeSuccess,
		}
		if i%2 == 1 {
			e.Object = billsync.ObjectQuote
			e.Outcome = billsync.OutcomeFailed
		}
		entries = append(entries, e)
	}
	if err := st.AppendLog(context.Background(), entries...); err != nil {
		t.Fatal(err)
	}
}

type logsPage struct {
	Entries    []billsync.LogEntry
	NextCursor *string
}

func TestLogsFiltersAndCursor(t *testing.T) {
	h := newHarness(t)
	seedLogs(t, h.store)
	var mu sync.Mutex
	var lastFilter billsync.LogFilter
	h.logReader.LogsFn = func(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
		mu.Lock()
		lastFilter = f
		mu.Unlock()
		return h.store.Logs(ctx, f)
	}

	var page logsPage
	h.do("GET", "/api/v1/logs", opsToken, nil, nil).json(t, &page)
	if len(page.Entries) != 10 || page.NextCursor != nil {
		t.Fatalf("unfiltered: %d entries, cursor %v", len(page.Entries), page.NextCursor)
	}
	if !page.Entries[0].Time.After(page.Entries[9].Time) {
		t.Error("entries not newest first")
	}

	h.do("GET", "/api/v1/logs?object=quote&outcome=failed", opsToken, nil, nil).json(t, &page)
	if len(page.Entries) != 5 {
		t.Errorf("object+outcome: %d entries, want 5", len(page.Entries))
	}
	for _, e := range page.Entries {
		if e.Object != billsync.ObjectQuote || e.Outcome != billsync.OutcomeFailed {
			t.Errorf("filtered entry %+v", e)
		}
	}

	h.do("GET", "/api/v1/logs?record=acc_0", opsToken, nil, nil).json(t, &page)
	if len(page.Entries) != 4 { // i = 0, 3, 6, 9
		t.Errorf("record: %d entries, want 4", len(page.Entries))
	}

	// A duration means that long before now.
	h.do("GET", "/api/v1/logs?since=150m", opsToken, nil, nil).json(t, &page)
	mu.Lock()
	since := lastFilter.Since
	mu.Unlock()
	if got, want := since, testNow.Add(-150*time.Minute); !got.Equal(want) {
		t.Errorf("since=150m read as %v, want %v", got, want)
	}
	if len(page.Entries) != 2 {
		t.Errorf("since=150m: %d entries, want 2", len(page.Entries))
	}
	h.do("GET", "/api/v1/logs?since=2026-03-04T08:30:00Z", opsToken, nil, nil).json(t, &page)
	if len(page.Entries) != 3 {
		t.Errorf("since RFC 3339: %d entries, want 3", len(page.Entries))
	}

	// Paging: 4 + 4 + 2, no overlap, no gap.
	seen := map[int64]bool{}
	path := "/api/v1/logs?limit=4"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		page = logsPage{}
		h.do("GET", path, opsToken, nil, nil).json(t, &page)
		for _, e := range page.Entries {
			if seen[e.ID] {
				t.Errorf("entry %d served twice", e.ID)
			}
			seen[e.ID] = true
		}
		if page.NextCursor == nil {
			break
		}
		path = "/api/v1/logs?limit=4&cursor=" + *page.NextCursor
	}
	if len(seen) != 10 {
		t.Errorf("paged through %d entries, want 10", len(seen))
	}

	for _, q := range []string{
		"since=yesterday", "since=-5m", "object=invoice", "outcome=meh",
		"limit=0", "limit=abc", "limit=5000", "cursor=garbage",
	} {
		res := h.do("GET", "/api/v1/logs?"+q, opsToken, nil, nil)
		if res.status != 400 || res.errorOf(t).Code != billsync.EINVALID {
			t.Errorf("%s: %d %s, want 400", q, res.status, res.body)
		}
	}
}

func TestReadyz(t *testing.T) {
	h := newHarness(t)
	if res := h.do("GET", "/readyz", "", nil, nil); res.status != 200 {
		t.Fatalf("ready: %d %s", res.status, res.body)
	}
	h.mu.Lock()
	h.readyErr = errors.Join(errors.New("event subscription down"), errors.New("store unreachable"))
	h.mu.Unlock()
	res := h.do("GET", "/readyz", "", nil, nil)
	if res.status != 503 {
		t.Fatalf("not ready: %d", res.status)
	}
	var body readyBody
	res.json(t, &body)
	if len(body.Reasons) != 2 || body.Reasons[0] != "event subscription down" {
		t.Errorf("reasons %q", body.Reasons)
	}
	if res := h.do("GET", "/healthz", "", nil, nil); res.status != 200 {
		t.Errorf("healthz while not ready: %d", res.status)
	}
}

func TestMetricsExposition(t *testing.T) {
	h := newHarness(t)
	h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_1"))
	h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), nil)
	h.store.Now = func() time.Time { return testNow.Add(-90 * time.Second) } // the store stamps the change
	if _, err := h.store.Enqueue(context.Background(), &billsync.Change{Partition: "account:old", EventID: "old"}); err != nil {
		t.Fatal(err)
	}
	h.store.Now = func() time.Time { return testNow }
	m := h.srv.Metrics()
	m.ObserveSync("billing_to_salesforce", "account", "success", 120*time.Millisecond)
	m.ObserveLog(billsync.LogEntry{Direction: billsync.ToBilling, Object: billsync.ObjectBalance, Outcome: billsync.OutcomeFailed})
	m.SetStreamState(true, 1.5)
	m.SetAPIUsage(250, 1000)
	for i, st := range []string{billsync.ConflictHeld, billsync.ConflictResolved, billsync.ConflictHeld} {
		c := &billsync.Conflict{Object: billsync.ObjectAccount, BillingID: fmt.Sprintf("acc_%d", i), Status: st}
		if err := h.store.AddConflict(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}

	res := h.do("GET", "/metrics", "", nil, nil)
	if res.status != 200 {
		t.Fatalf("metrics: %d", res.status)
	}
	text := string(res.body)
	for _, want := range []string{
		`billsync_oldest_pending_change_age_seconds 90`,
		`billsync_queue_depth{state="pending"} 2`,
		`billsync_queue_depth{state="running"} 0`,
		`billsync_dead_letters 0`,
		`billsync_queue_stats_up 1`,
		`billsync_conflicts_held 2`,
		`billsync_event_stream_connected 1`,
		`billsync_event_stream_lag_seconds 1.5`,
		`billsync_salesforce_api_requests_used 250`,
		`billsync_salesforce_api_requests_limit 1000`,
		`billsync_salesforce_api_usage_ratio 0.25`,
		`billsync_sync_attempts_total{direction="billing_to_salesforce",object="account",outcome="success"} 1`,
		`billsync_sync_attempts_total{direction="salesforce_to_billing",object="balance",outcome="failed"} 1`,
		`billsync_sync_duration_seconds_bucket{direction="billing_to_salesforce",object="account",le="0.25"} 1`,
		`billsync_webhooks_received_total{result="accepted"} 1`,
		`billsync_webhooks_received_total{result="unauthorized"} 1`,
		`billsync_http_requests_total{code="200",route="POST /webhooks/billing"} 1`,
		`go_goroutines`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}

	// A store that cannot answer hides the queue figures, not the rest.
	h.queue.StatsFn = func(context.Context) (billsync.QueueStats, error) {
		return billsync.QueueStats{}, errors.New("disk gone")
	}
	res = h.do("GET", "/metrics", "", nil, nil)
	if res.status != 200 || !strings.Contains(string(res.body), "billsync_queue_stats_up 0") ||
		!strings.Contains(string(res.body), "billsync_conflicts_held 2") {
		t.Errorf("metrics with a failing store: %d\n%s", res.status, res.body)
	}

	// Failing to count held conflicts hides that figure only.
	h.queue.StatsFn = h.store.Stats
	h.conflicts.CountHeldFn = func(context.Context) (int64, error) { return 0, errors.New("table locked") }
	res = h.do("GET", "/metrics", "", nil, nil)
	if body := string(res.body); res.status != 200 || strings.Contains(body, "\nbillsync_conflicts_held ") ||
		!strings.Contains(body, "billsync_queue_stats_up 1") {
		t.Errorf("metrics with held conflicts unreadable: %d\n%s", res.status, res.body)
	}
}

func TestNilMetricsIgnoresUpdates(t *testing.T) {
	var m *Metrics
	m.ObserveSync("a", "b", "c", time.Second)
	m.SetStreamState(true, 1)
	m.SetAPIUsage(1, 2)
}

func TestAccessLogNeverHoldsTokensOrBodies(t *testing.T) {
	h := newHarness(t)
	h.do("PUT", "/api/v1/settings/quotes.pricebook", opsToken, []byte(`{"value":"Secret Book 42"}`), nil)
	h.do("POST", "/webhooks/billing", "", []byte(accountUpdated), signedHeader("msg_9"))
	logs := h.logs.String()
	for _, secret := range []string{opsToken, "Secret Book 42", "Acme"} {
		if strings.Contains(logs, secret) {
			t.Errorf("log holds %q:\n%s", secret, logs)
		}
	}
	for _, want := range []string{`"msg":"http request"`, `"method":"PUT"`, `"path":"/api/v1/settings/quotes.pricebook"`, `"status":200`, `"duration"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("access log lacks %s:\n%s", want, logs)
		}
	}
}

func TestInternalErrorsAreNotLeaked(t *testing.T) {
	h := newHarness(t)
	h.queue.StatsFn = func(context.Context) (billsync.QueueStats, error) {
		return billsync.QueueStats{}, errors.New("pq: password authentication failed for user billsync at 10.0.0.5")
	}
	res := h.do("GET", "/api/v1/queue", opsToken, nil, nil)
	if res.status != 500 {
		t.Fatalf("status %d", res.status)
	}
	if e := res.errorOf(t); e.Code != billsync.EINTERNAL || strings.Contains(e.Message, "10.0.0.5") {
		t.Errorf("error %+v leaks detail", e)
	}
	if !strings.Contains(h.logs.String(), "10.0.0.5") {
		t.Error("internal error was not logged")
	}
}

func TestErrorStatus(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{billsync.Errorf(billsync.EINVALID, "x"), 400},
		{billsync.Errorf(billsync.EUNAUTHORIZED, "x"), 401},
		{billsync.Errorf(billsync.EFORBIDDEN, "x"), 403},
		{billsync.Errorf(billsync.ENOTFOUND, "x"), 404},
		{billsync.Errorf(billsync.ECONFLICT, "x"), 409},
		{billsync.Errorf(billsync.EUNAVAILABLE, "x"), 503},
		{billsync.Errorf(billsync.EINTERNAL, "x"), 500},
		{errors.New("plain"), 500},
		{&billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 503, Transient: true}, 503},
		{&http.MaxBytesError{Limit: 1}, 413},
	}
	for _, c := range cases {
		if got := errorStatus(c.err); got != c.want {
			t.Errorf("errorStatus(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestHTTPServerServesHandler(t *testing.T) {
	h := newHarness(t)
	hs := h.srv.HTTPServer("127.0.0.1:0")
	ln, err := net.Listen("tcp", hs.Addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	res, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Errorf("healthz: %d", res.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("Serve: %v", err)
	}
}
