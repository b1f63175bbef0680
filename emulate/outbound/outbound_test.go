package outbound

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type job struct {
	id      string
	created time.Time
	State
}

// host is a minimal emulator: what is owed, and what happened to it.
type host struct {
	mu      sync.Mutex
	url     string
	owed    map[string]*job
	gone    map[string]bool
	held    bool
	maxAge  time.Duration
	dropped map[string]error
	retries int
	saves   int
}

func (h *host) Current(d *job) bool { return h.owed[d.id] == d }
func (h *host) Target(d *job) Target {
	switch {
	case h.gone[d.id]:
		return Target{Gone: true}
	case h.held:
		return Target{}
	}
	return Target{URL: h.url, Body: []byte(`{"id":"` + d.id + `"}`), Header: http.Header{"X-Test": {d.id}}}
}
func (h *host) Delivered(d *job)                    { delete(h.owed, d.id) }
func (h *host) Dropped(d *job, err error)           { delete(h.owed, d.id); h.dropped[d.id] = err }
func (h *host) Retrying(*job, time.Duration, error) { h.retries++ }
func (h *host) Expired(d *job) bool                 { return time.Since(d.created) >= h.maxAge }
func (h *host) Save()                               { h.saves++ }

func (h *host) pending() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.owed)
}

func (h *host) add(q *Queue[*job], id string, created time.Time) *job {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := &job{id: id, created: created}
	h.owed[id] = d
	q.AddLocked(d)
	return d
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// receiver answers 500 to the first fail requests of each id, then 204.
type receiver struct {
	fail int
	mu   sync.Mutex
	seen map[string]int
	ok   atomic.Int64
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	id := req.Header.Get("X-Test")
	r.mu.Lock()
	r.seen[id]++
	n := r.seen[id]
	r.mu.Unlock()
	if n <= r.fail {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	r.ok.Add(1)
	w.WriteHeader(http.StatusNoContent)
}

func start(t *testing.T, fail int, cfg Config) (*host, *receiver, *Queue[*job]) {
	t.Helper()
	rcv := &receiver{fail: fail, seen: map[string]int{}}
	srv := httptest.NewServer(rcv)
	t.Cleanup(srv.Close)
	h := &host{url: srv.URL, owed: map[string]*job{}, gone: map[string]bool{}, dropped: map[string]error{}, maxAge: time.Hour}
	if cfg.Backoff == nil {
		cfg.Backoff = func(int) time.Duration { return time.Millisecond }
	}
	cfg.Workers = 3
	q := New(&h.mu, h, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	q.Start(ctx, &wg)
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h, rcv, q
}

func TestDeliveredAfterRetries(t *testing.T) {
	h, rcv, q := start(t, 2, Config{})
	for _, id := range []string{"a", "b", "c", "d"} {
		h.add(q, id, time.Now())
	}
	eventually(t, "every delivery accepted", func() bool { return h.pending() == 0 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if rcv.ok.Load() != 4 || h.retries != 8 || len(h.dropped) != 0 {
		t.Errorf("accepted %d, retries %d, dropped %v; want 4, 8, none", rcv.ok.Load(), h.retries, h.dropped)
	}
}

func TestExpiredDeliveryIsDropped(t *testing.T) {
	h, rcv, q := start(t, 1000, Config{})
	h.add(q, "old", time.Now().Add(-2*time.Hour))
	eventually(t, "the old delivery dropped", func() bool { return h.pending() == 0 })
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.dropped["old"]; err == nil || rcv.ok.Load() != 0 {
		t.Errorf("dropped with %v after %d accepted; want the receiver's error", err, rcv.ok.Load())
	}
}

func TestGoneHeldPausedAndWaiting(t *testing.T) {
	var waiting atomic.Bool
	waiting.Store(true)
	h, rcv, q := start(t, 0, Config{Wait: waiting.Load})
	h.mu.Lock()
	h.gone["x"] = true
	h.mu.Unlock()
	h.add(q, "x", time.Now())
	h.add(q, "y", time.Now())
	// Nothing moves while Wait holds the workers.
	if h.pending() != 2 {
		t.Fatalf("%d pending while waiting, want 2", h.pending())
	}
	q.Pause(true)
	waiting.Store(false)
	h.mu.Lock()
	q.WakeLocked()
	h.mu.Unlock()
	if h.pending() != 2 || rcv.ok.Load() != 0 {
		t.Fatalf("sent while paused")
	}
	h.mu.Lock()
	h.held = true
	h.mu.Unlock()
	q.Pause(false)
	eventually(t, "the gone one dropped", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		_, ok := h.dropped["x"]
		return ok
	})
	if h.pending() != 1 || rcv.ok.Load() != 0 {
		t.Errorf("held delivery: %d pending, %d sent; want 1, 0", h.pending(), rcv.ok.Load())
	}
	// A held delivery goes when it is redelivered by hand.
	h.mu.Lock()
	h.held = false
	tgt := h.Target(h.owed["y"])
	h.mu.Unlock()
	if err := q.Post(context.Background(), tgt); err != nil || rcv.ok.Load() != 1 {
		t.Errorf("Post: %v, %d accepted", err, rcv.ok.Load())
	}
}
