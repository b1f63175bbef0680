package streaming

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const testChannel = "/event/BillingObjectChange__e"

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

type env struct {
	t     *testing.T
	bus   *Bus
	srv   *Server
	http  *httptest.Server
	clock *fakeClock
}

func testAuth(r *http.Request) (string, error) {
	if r.Header.Get("Authorization") == "Bearer good" || r.Header.Get("Authorization") == "OAuth good" {
		return "005000000000001AAA", nil
	}
	return "", errors.New("bad token")
}

func newEnv(t *testing.T, connectTimeout time.Duration) *env {
	t.Helper()
	clock := &fakeClock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	bus := NewBus(BusOptions{Clock: clock.Now})
	bus.Declare(testChannel)
	srv := NewServer(bus, testAuth, ServerOptions{ConnectTimeout: connectTimeout, Clock: clock.Now})
	mux := http.NewServeMux()
	mux.Handle("/cometd/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &env{t: t, bus: bus, srv: srv, http: hs, clock: clock}
}

type bayeuxClient struct {
	e     *env
	hc    *http.Client
	token string
	path  string
	id    int
	cid   string
}

func (e *env) client() *bayeuxClient {
	jar, _ := cookiejar.New(nil)
	return &bayeuxClient{e: e, hc: &http.Client{Jar: jar, Timeout: 15 * time.Second}, token: "good", path: "/cometd/62.0"}
}

// post sends messages and returns the HTTP status and the decoded array.
func (c *bayeuxClient) post(msgs ...map[string]any) (int, []map[string]any) {
	c.e.t.Helper()
	for _, m := range msgs {
		c.id++
		m["id"] = strings.Repeat("", 0) + itoa(c.id)
		if c.cid != "" && m["channel"] != "/meta/handshake" {
			if _, ok := m["clientId"]; !ok {
				m["clientId"] = c.cid
			}
		}
	}
	body, _ := json.Marshal(msgs)
	req, _ := http.NewRequest(http.MethodPost, c.e.http.URL+c.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.e.t.Fatalf("post: %v", err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out []map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		c.e.t.Fatalf("response %d is not a JSON array: %s", res.StatusCode, raw)
	}
	return res.StatusCode, out
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func (c *bayeuxClient) handshake() map[string]any {
	c.e.t.Helper()
	_, out := c.post(map[string]any{"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
		"supportedConnectionTypes": []string{"long-polling"}, "ext": map[string]any{"replay": true, "payload.format": true}})
	if len(out) != 1 || out[0]["successful"] != true {
		c.e.t.Fatalf("handshake failed: %v", out)
	}
	c.cid = out[0]["clientId"].(string)
	return out[0]
}

func (c *bayeuxClient) subscribe(channel string, replay any) map[string]any {
	c.e.t.Helper()
	_, out := c.post(map[string]any{"channel": "/meta/subscribe", "subscription": channel,
		"ext": map[string]any{"replay": map[string]any{channel: replay}}})
	return out[0]
}

func (c *bayeuxClient) connect() []map[string]any {
	c.e.t.Helper()
	_, out := c.post(map[string]any{"channel": "/meta/connect", "connectionType": "long-polling"})
	return out
}

// events returns the replay ids of the event messages in a response.
func events(out []map[string]any) []int64 {
	var ids []int64
	for _, m := range out {
		if d, ok := m["data"].(map[string]any); ok {
			ids = append(ids, int64(d["event"].(map[string]any)["replayId"].(float64)))
		}
	}
	return ids
}

func last(out []map[string]any) map[string]any { return out[len(out)-1] }

func TestHandshakeShape(t *testing.T) {
	e := newEnv(t, time.Second)
	c := e.client()
	h := c.handshake()
	if h["id"] != "1" || h["version"] != "1.0" || h["minimumVersion"] != "1.0" || h["channel"] != "/meta/handshake" {
		t.Fatalf("handshake reply %v", h)
	}
	ext := h["ext"].(map[string]any)
	if ext["replay"] != true || ext["payload.format"] != true {
		t.Fatalf("ext %v", ext)
	}
	if ct := h["supportedConnectionTypes"].([]any); len(ct) != 1 || ct[0] != "long-polling" {
		t.Fatalf("connection types %v", ct)
	}
	u := mustURL(t, e.http.URL+"/cometd/62.0")
	names := map[string]bool{}
	for _, ck := range c.hc.Jar.Cookies(u) {
		names[ck.Name] = true
	}
	if !names[browserCookie] || !names[streamCookie] {
		t.Fatalf("cookies %v", names)
	}
}

func TestFirstConnectAdviceThenLongPollDeliversEvent(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	c := e.client()
	c.handshake()
	if s := c.subscribe(testChannel, -1); s["successful"] != true || s["subscription"] != testChannel || s["clientId"] != c.cid {
		t.Fatalf("subscribe %v", s)
	}
	first := c.connect()
	adv := last(first)["advice"].(map[string]any)
	if adv["reconnect"] != "retry" || adv["timeout"] != float64(10000) || adv["interval"] != float64(0) {
		t.Fatalf("first connect advice %v", adv)
	}
	done := make(chan []map[string]any, 1)
	go func() { done <- c.connect() }()
	time.Sleep(50 * time.Millisecond) // let the poll start; correctness does not depend on it
	ev := e.bus.Publish(testChannel, map[string]any{"CreatedById": "005000000000001AAA", "Amount__c": "12.50"})
	var out []map[string]any
	select {
	case out = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("long poll did not return with the event")
	}
	if got := events(out); len(got) != 1 || got[0] != ev.ReplayID {
		t.Fatalf("events %v, want [%d]", got, ev.ReplayID)
	}
	msg := out[0]
	data := msg["data"].(map[string]any)
	if msg["channel"] != testChannel || data["schema"] != SchemaID(testChannel) {
		t.Fatalf("event message %v", msg)
	}
	if data["event"].(map[string]any)["EventUuid"] != ev.UUID {
		t.Fatalf("uuid %v", data)
	}
	if cd := data["payload"].(map[string]any)["CreatedDate"]; cd != "2025-03-01T12:00:00.000Z" {
		t.Fatalf("CreatedDate %v", cd)
	}
	if l := last(out); l["channel"] != "/meta/connect" || l["successful"] != true {
		t.Fatalf("connect reply %v", l)
	}
}

func TestIdleConnectTimesOutEmpty(t *testing.T) {
	e := newEnv(t, 200*time.Millisecond)
	c := e.client()
	c.handshake()
	c.subscribe(testChannel, -1)
	c.connect()
	out := c.connect()
	if len(out) != 1 || out[0]["successful"] != true || events(out) != nil {
		t.Fatalf("idle connect %v", out)
	}
}

func TestReplayAllAndFromID(t *testing.T) {
	e := newEnv(t, 200*time.Millisecond)
	var ids []int64
	for i := range 4 {
		ids = append(ids, e.bus.Publish(testChannel, map[string]any{"N": i}).ReplayID)
		e.bus.Publish("/event/Other__e", map[string]any{}) // ids are not contiguous per channel
	}
	c := e.client()
	c.handshake()
	c.subscribe(testChannel, -2)
	if got := events(c.connect()); !equal(got, ids) {
		t.Fatalf("-2 delivered %v, want %v", got, ids)
	}
	c2 := e.client()
	c2.handshake()
	if s := c2.subscribe(testChannel, ids[1]); s["successful"] != true {
		t.Fatalf("subscribe from id: %v", s)
	}
	if got := events(c2.connect()); !equal(got, ids[2:]) {
		t.Fatalf("from %d delivered %v, want %v", ids[1], got, ids[2:])
	}
	c3 := e.client()
	c3.handshake()
	c3.subscribe(testChannel, -1)
	if got := events(c3.connect()); got != nil {
		t.Fatalf("-1 delivered old events %v", got)
	}
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestInvalidReplayID(t *testing.T) {
	e := newEnv(t, time.Second)
	first := e.bus.Publish(testChannel, map[string]any{})
	e.clock.Advance(time.Hour)
	e.bus.Publish(testChannel, map[string]any{})
	if n := e.bus.Purge(e.clock.Now().Add(-time.Minute)); n != 1 {
		t.Fatalf("purged %d", n)
	}
	c := e.client()
	c.handshake()
	for _, id := range []int64{first.ReplayID, 999999} {
		s := c.subscribe(testChannel, id)
		want := "400::The replayId {" + itoa(int(id)) + "} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events."
		if s["successful"] != false || s["error"] != want {
			t.Fatalf("subscribe %d: %v", id, s)
		}
	}
	// Retention applies on its own, too.
	e.clock.Advance(DefaultRetention + time.Hour)
	if got := e.bus.Events(testChannel); len(got) != 1 {
		t.Fatalf("before purge %d events", len(got))
	}
	if s := c.subscribe(testChannel, int64(first.ReplayID+1)); s["successful"] != false {
		t.Fatalf("expired id accepted: %v", s)
	}
}

func TestUnknownChannelAndMissingReplayMap(t *testing.T) {
	e := newEnv(t, time.Second)
	c := e.client()
	c.handshake()
	s := c.subscribe("/event/Nope__e", -1)
	if s["error"] != "400::The channel you requested to subscribe to does not exist {/event/Nope__e}" {
		t.Fatalf("unknown channel: %v", s)
	}
	_, out := c.post(map[string]any{"channel": "/meta/subscribe", "subscription": testChannel, "ext": map[string]any{"replay": map[string]any{}}})
	if !strings.HasPrefix(out[0]["error"].(string), "400::The replayId for channel {"+testChannel+"} wasn't found using the provided replay ID map {{}}") {
		t.Fatalf("empty replay map: %v", out[0])
	}
}

func TestUnknownClientAfterDrop(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	c := e.client()
	c.handshake()
	c.subscribe(testChannel, -1)
	c.connect()
	done := make(chan []map[string]any, 1)
	go func() { done <- c.connect() }()
	time.Sleep(50 * time.Millisecond)
	e.srv.DropClients()
	var out []map[string]any
	select {
	case out = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("held connect not released by DropClients")
	}
	checkUnknown(t, out[0])
	checkUnknown(t, c.connect()[0])
	checkUnknown(t, c.subscribe(testChannel, -1))
}

func checkUnknown(t *testing.T, m map[string]any) {
	t.Helper()
	adv, _ := m["advice"].(map[string]any)
	if m["successful"] != false || m["error"] != "403::Unknown client" || adv["reconnect"] != "handshake" || adv["interval"] != float64(0) {
		t.Fatalf("want 403::Unknown client, got %v", m)
	}
	if _, ok := m["clientId"]; ok {
		t.Fatalf("unknown-client reply carries a clientId: %v", m)
	}
}

func TestReconnectDeadline(t *testing.T) {
	e := newEnv(t, time.Second)
	c := e.client()
	c.handshake()
	c.subscribe(testChannel, -1)
	c.connect()
	e.clock.Advance(DefaultReconnectDeadline - time.Second)
	if out := c.connect(); last(out)["successful"] != true {
		t.Fatalf("within deadline: %v", out)
	}
	e.clock.Advance(DefaultReconnectDeadline + time.Second)
	checkUnknown(t, c.connect()[0])
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t, time.Second)
	c := e.client()
	c.token = "bad"
	_, out := c.post(map[string]any{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": []string{"long-polling"}})
	h := out[0]
	ext, _ := h["ext"].(map[string]any)
	sfdc, _ := ext["sfdc"].(map[string]any)
	if h["error"] != "403::Handshake denied" || h["successful"] != false || sfdc["failureReason"] != "401::Authentication invalid" ||
		h["advice"].(map[string]any)["reconnect"] != "none" {
		t.Fatalf("denied handshake %v", h)
	}
	c.token = "good"
	c.handshake()
	c.token = "bad"
	m := c.connect()[0]
	if m["error"] != "401::Authentication invalid" || m["advice"].(map[string]any)["reconnect"] != "none" {
		t.Fatalf("connect with bad token %v", m)
	}
	c.token = ""
	if m := c.connect()[0]; m["error"] != "401::Request requires authentication" {
		t.Fatalf("connect without token %v", m)
	}
}

func TestVersionsAndSize(t *testing.T) {
	e := newEnv(t, time.Second)
	for path, want := range map[string]string{
		"/cometd/":     "400::API version in the URI is mandatory. URI format: '/cometd/62.0'",
		"/cometd/36.0": "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/62.0'",
		"/cometd/abc":  "400::Unsupported API version. Only API versions '37.0' and later are supported. URI format: '/cometd/62.0'",
	} {
		c := e.client()
		c.path = path
		status, out := c.post(map[string]any{"channel": "/meta/handshake", "version": "1.0"})
		if status != http.StatusBadRequest || out[0]["error"] != want {
			t.Errorf("%s: %d %v", path, status, out)
		}
	}
	c := e.client()
	c.path = "/cometd/37.0/handshake" // clients that append the message type
	c.handshake()
	status, out := c.post(map[string]any{"channel": "/meta/subscribe", "subscription": testChannel, "pad": strings.Repeat("x", MaxRequestBytes)})
	if status != http.StatusRequestEntityTooLarge || !strings.HasPrefix(out[0]["error"].(string), "413::") {
		t.Fatalf("oversized: %d %v", status, out)
	}
}

func TestCookieRequired(t *testing.T) {
	e := newEnv(t, time.Second)
	c := e.client()
	c.handshake()
	c.hc.Jar, _ = cookiejar.New(nil)
	m := c.connect()[0]
	if m["successful"] != false || !strings.Contains(m["error"].(string), "no BAYEUX_BROWSER cookie present") {
		t.Fatalf("connect without cookie %v", m)
	}
}

func TestSubscribeWakesHeldConnectWithBacklog(t *testing.T) {
	e := newEnv(t, 10*time.Second)
	ev := e.bus.Publish(testChannel, map[string]any{})
	c := e.client()
	c.handshake()
	c.connect()
	// The same session from a second goroutine, as the cometd JS client
	// subscribes while its connect is held.
	c2 := &bayeuxClient{e: e, hc: c.hc, token: c.token, path: c.path, id: 100, cid: c.cid}
	done := make(chan []map[string]any, 1)
	go func() { done <- c.connect() }()
	time.Sleep(50 * time.Millisecond)
	if s := c2.subscribe(testChannel, -2); s["successful"] != true {
		t.Fatalf("subscribe %v", s)
	}
	select {
	case out := <-done:
		if got := events(out); len(got) != 1 || got[0] != ev.ReplayID {
			t.Fatalf("events %v", got)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("held connect not woken by subscribe")
	}
}

func TestSnapshotRestore(t *testing.T) {
	e := newEnv(t, time.Second)
	e.bus.Publish(testChannel, map[string]any{"Amount__c": json.Number("10.25")})
	data, err := e.bus.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	b := NewBus(BusOptions{Clock: e.clock.Now})
	if err := b.Restore(data); err != nil {
		t.Fatal(err)
	}
	got := b.Events(testChannel)
	if len(got) != 1 || got[0].Payload["Amount__c"] != json.Number("10.25") || !b.exists(testChannel) {
		t.Fatalf("restored %v", got)
	}
	if next := b.Publish(testChannel, nil); next.ReplayID <= got[0].ReplayID {
		t.Fatalf("replay id went back: %d", next.ReplayID)
	}
	if err := b.Restore([]byte(`{"version":2}`)); err == nil {
		t.Fatal("accepted unknown version")
	}
}
