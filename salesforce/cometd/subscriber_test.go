package cometd_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/salesforce/streaming"
	"github.com/billsync/billsync/salesforce/cometd"
)

const channel = "/event/BillingObjectChange__e"

type fakeSession struct {
	url string

	mu          sync.Mutex
	tokens      []string // handed out in order; the last one repeats
	next        int
	invalidated []string
}

func (f *fakeSession) Session(ctx context.Context) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.url, f.tokens[min(f.next, len(f.tokens)-1)], nil
}

func (f *fakeSession) Invalidate(tok string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.invalidated = append(f.invalidated, tok)
	f.next++
}

type harness struct {
	bus     *streaming.Bus
	srv     *streaming.Server
	sess    *fakeSession
	sub     *cometd.Subscriber
	hs      *httptest.Server
	fail503 atomic.Int32 // answer this many requests with 503 first
	down    atomic.Bool  // answer every request with 503 while set
}

func newHarness(t *testing.T, tokens ...string) *harness {
	t.Helper()
	if len(tokens) == 0 {
		tokens = []string{"good"}
	}
	h := &harness{bus: streaming.NewBus(streaming.BusOptions{})}
	h.bus.Declare(channel)
	auth := func(r *http.Request) (string, error) {
		if r.Header.Get("Authorization") != "Bearer good" {
			return "", errors.New("invalid token")
		}
		return "005000000000001AAA", nil
	}
	h.srv = streaming.NewServer(h.bus, auth, streaming.ServerOptions{ConnectTimeout: 2 * time.Second})
	mux := http.NewServeMux()
	mux.Handle("/cometd/", h.srv)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.fail503.Add(-1) >= 0 || h.down.Load() {
			http.Error(w, "unavailable", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	h.hs = hs
	h.sess = &fakeSession{url: hs.URL, tokens: tokens}
	h.sub = cometd.New(cometd.Config{Session: h.sess, HTTPClient: hs.Client(),
		Backoff: func(int) time.Duration { return 20 * time.Millisecond }})
	return h
}

func (h *harness) publish(n int) []int64 {
	var ids []int64
	for i := range n {
		ids = append(ids, h.bus.Publish(channel, map[string]any{"CreatedById": "005000000000001AAA", "Seq__c": i}).ReplayID)
		h.bus.Publish("/event/Noise__e", nil)
	}
	return ids
}

// run starts Subscribe and collects handled replay ids.
type run struct {
	mu   sync.Mutex
	got  []billsync.StreamEvent
	done chan error
	stop context.CancelFunc
}

func (h *harness) start(t *testing.T, replayFrom billsync.ReplayID, fail func(billsync.StreamEvent) error) *run {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &run{done: make(chan error, 1), stop: cancel}
	go func() {
		r.done <- h.sub.Subscribe(ctx, channel, replayFrom, func(_ context.Context, ev billsync.StreamEvent) error {
			if fail != nil {
				if err := fail(ev); err != nil {
					return err
				}
			}
			r.mu.Lock()
			r.got = append(r.got, ev)
			r.mu.Unlock()
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(15 * time.Second):
			t.Error("Subscribe did not return after cancel")
		}
	})
	return r
}

func (r *run) ids() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, ev := range r.got {
		id, _ := ev.ReplayID.Int()
		out = append(out, id)
	}
	return out
}

func (r *run) waitFor(t *testing.T, want []int64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		got := r.ids()
		if len(got) >= len(want) {
			if !equal(got, want) {
				t.Fatalf("handled %v, want %v", got, want)
			}
			return
		}
		select {
		case err := <-r.done:
			t.Fatalf("Subscribe returned early: %v (handled %v)", err, got)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("timed out: handled %v, want %v", r.ids(), want)
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

func waitState(t *testing.T, sub *cometd.Subscriber, ok func(cometd.State) bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok(sub.State()) {
		if time.Now().After(deadline) {
			t.Fatalf("state never reached; last %+v", sub.State())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestDeliversBacklogThenLiveInOrder(t *testing.T) {
	h := newHarness(t)
	backlog := h.publish(5)
	r := h.start(t, billsync.ReplayAll, nil)
	r.waitFor(t, backlog)
	waitState(t, h.sub, func(s cometd.State) bool { return s.Connected })
	live := h.publish(3)
	r.waitFor(t, append(backlog, live...))
	ev := r.got[0]
	if ev.Channel != channel || ev.EventUUID == "" || ev.CreatedByID != "005000000000001AAA" || ev.CreatedDate.IsZero() {
		t.Fatalf("event %+v", ev)
	}
	st := h.sub.State()
	if st.LastReplayID != live[2] || st.LastEventAt.IsZero() {
		t.Fatalf("state %+v", st)
	}
}

func TestResumesAfterDropClientsWithoutLossOrRepeat(t *testing.T) {
	h := newHarness(t)
	r := h.start(t, billsync.ReplayNew, nil)
	waitState(t, h.sub, func(s cometd.State) bool { return s.Connected })
	first := h.publish(2)
	r.waitFor(t, first)
	h.srv.DropClients()
	second := h.publish(3) // published while no session exists
	r.waitFor(t, append(first, second...))
	waitState(t, h.sub, func(s cometd.State) bool { return s.Reconnects >= 1 })
}

// Health is nil only while the stream is connected: it reports the
// failure as soon as a session fails and while Subscribe retries on its
// own, and clears when a connect succeeds again.
func TestHealthFollowsTheConnection(t *testing.T) {
	h := newHarness(t)
	if err := h.sub.Health(); err == nil {
		t.Fatal("healthy before subscribing")
	}
	r := h.start(t, billsync.ReplayNew, nil)
	waitState(t, h.sub, func(s cometd.State) bool { return s.Connected })
	if err := h.sub.Health(); err != nil {
		t.Fatalf("connected but unhealthy: %v", err)
	}
	h.down.Store(true)
	h.srv.DropClients() // ends the held connect; the new handshake gets 503
	// First the dropped session ("handshake again"), then the refused
	// handshakes: both are down.
	waitState(t, h.sub, func(s cometd.State) bool {
		var re *billsync.RemoteError
		return !s.Connected && errors.As(s.Err, &re) && re.StatusCode == http.StatusServiceUnavailable
	})
	if err := h.sub.Health(); err == nil || !strings.Contains(err.Error(), "not connected") {
		t.Fatalf("health while the server answers 503: %v", err)
	}
	h.down.Store(false)
	waitState(t, h.sub, func(s cometd.State) bool { return s.Connected })
	if err := h.sub.Health(); err != nil {
		t.Fatalf("health after recovery: %v", err)
	}
	ids := h.publish(1)
	r.waitFor(t, ids)
}

func TestResumesFromReplayID(t *testing.T) {
	h := newHarness(t)
	ids := h.publish(4)
	r := h.start(t, billsync.ReplayInt(ids[1]), nil)
	r.waitFor(t, ids[2:])
}

// A position stored by another transport (a Pub/Sub replay id of 10
// bytes) is no CometD replay id: a gap, so the listener resyncs, rather
// than a failure retried forever.
func TestForeignReplayIDIsAGap(t *testing.T) {
	h := newHarness(t)
	foreign := billsync.ReplayID{0, 0, 0, 0, 0, 16, 219, 77, 0, 0}
	err := h.sub.Subscribe(context.Background(), channel, foreign, func(context.Context, billsync.StreamEvent) error { return nil })
	if !errors.Is(err, billsync.ErrReplayGap) {
		t.Fatalf("want ErrReplayGap, got %v", err)
	}
}

func TestExpiredReplayIDIsAGap(t *testing.T) {
	h := newHarness(t)
	ids := h.publish(2)
	h.bus.Purge(time.Now().Add(time.Hour))
	h.publish(1)
	err := h.sub.Subscribe(context.Background(), channel, billsync.ReplayInt(ids[0]), func(context.Context, billsync.StreamEvent) error { return nil })
	if !errors.Is(err, billsync.ErrReplayGap) {
		t.Fatalf("want ErrReplayGap, got %v", err)
	}
}

func TestRefusedTokenIsInvalidatedAndReplaced(t *testing.T) {
	h := newHarness(t, "stale", "good")
	ids := h.publish(1)
	r := h.start(t, billsync.ReplayAll, nil)
	r.waitFor(t, ids)
	h.sess.mu.Lock()
	inv := append([]string(nil), h.sess.invalidated...)
	h.sess.mu.Unlock()
	if len(inv) != 1 || inv[0] != "stale" {
		t.Fatalf("invalidated %v", inv)
	}
}

func TestPermanentlyRefusedTokenStops(t *testing.T) {
	h := newHarness(t, "bad")
	err := h.sub.Subscribe(context.Background(), channel, billsync.ReplayNew, func(context.Context, billsync.StreamEvent) error { return nil })
	if billsync.ErrorCode(err) != billsync.EUNAUTHORIZED {
		t.Fatalf("want unauthorized, got %v", err)
	}
}

func TestNetworkFailuresBackOffAndResume(t *testing.T) {
	h := newHarness(t)
	ids := h.publish(2)
	h.fail503.Store(3)
	r := h.start(t, billsync.ReplayAll, nil)
	r.waitFor(t, ids)
}

func TestHandlerErrorStopsWithoutAdvancing(t *testing.T) {
	h := newHarness(t)
	ids := h.publish(3)
	boom := errors.New("store down")
	r := h.start(t, billsync.ReplayAll, func(ev billsync.StreamEvent) error {
		if ev.ReplayID.Equal(billsync.ReplayInt(ids[1])) {
			return boom
		}
		return nil
	})
	select {
	case err := <-r.done:
		if !errors.Is(err, boom) {
			t.Fatalf("want handler error, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Subscribe did not stop on handler error")
	}
	r.done <- nil // for the cleanup
	if got := r.ids(); !equal(got, ids[:1]) {
		t.Fatalf("handled %v", got)
	}
	if st := h.sub.State(); st.LastReplayID != ids[0] {
		t.Fatalf("state advanced past the failed event: %+v", st)
	}
}

func TestCancelReturnsPromptly(t *testing.T) {
	h := newHarness(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- h.sub.Subscribe(ctx, channel, billsync.ReplayNew, func(context.Context, billsync.StreamEvent) error { return nil })
	}()
	waitState(t, h.sub, func(s cometd.State) bool { return s.Connected })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("want context.Canceled, got %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Subscribe ignored cancel")
	}
}

func TestUnknownChannelIsPermanent(t *testing.T) {
	h := newHarness(t)
	err := h.sub.Subscribe(context.Background(), "/event/Missing__e", billsync.ReplayNew, func(context.Context, billsync.StreamEvent) error { return nil })
	if err == nil || billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("want invalid, got %v (%s)", err, billsync.ErrorCode(err))
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	h := newHarness(t)
	ids := h.publish(2)
	r := h.start(t, billsync.ReplayAll, nil)
	r.waitFor(t, ids)
	h.srv.DropClients()
	r.waitFor(t, append(ids, h.publish(1)...))
	r.stop()
	if err := <-r.done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Subscribe: %v", err)
	}
	r.done <- nil // for the cleanup
	h.hs.Client().CloseIdleConnections()
	h.hs.Close()
	deadline := time.Now().Add(15 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
