package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// fakeQueue is the queue's figures and the held count, set by the test.
type fakeQueue struct {
	st   billsync.QueueStats
	held int64
	err  error
}

func (q *fakeQueue) Stats(context.Context) (billsync.QueueStats, error) { return q.st, q.err }
func (q *fakeQueue) CountHeld(context.Context) (int64, error)           { return q.held, q.err }

func (q *fakeQueue) HeldRuns(_ context.Context, f billsync.HeldRunFilter) ([]billsync.HeldRun, error) {
	if f.State != billsync.HeldPending {
		return nil, errors.New("asked for held runs other than pending ones")
	}
	return make([]billsync.HeldRun, q.held), q.err
}

// recorder is a Sender that keeps what it was given, or fails.
type recorder struct {
	mu   sync.Mutex
	got  []Message
	fail bool
}

func (r *recorder) Send(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return errors.New("receiver down")
	}
	r.got = append(r.got, m)
	return nil
}

func (r *recorder) states() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.got {
		out = append(out, m.Alert+" "+m.State)
	}
	return out
}

// clock is a test's time, moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time       { return c.t }
func (c *clock) step(d time.Duration) { c.t = c.t.Add(d) }
func newClock() *clock                { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func newEval(t *testing.T, c *clock, s Sender, rules ...Rule) *Evaluator {
	t.Helper()
	e, err := New(Config{Rules: rules, Sender: s, Clock: c.now, Interval: 15 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func wantSent(t *testing.T, r *recorder, want ...string) {
	t.Helper()
	if got := r.states(); strings.Join(got, ", ") != strings.Join(want, ", ") {
		t.Fatalf("sent %q, want %q", got, want)
	}
}

// H6: the stream must stay down for the rule's For, seen at two
// evaluations, before one firing message; standby is not down; one
// resolved message when it is back, and nothing while nothing changes.
func TestStreamRuleFiresOncePerTransition(t *testing.T) {
	c, r := newClock(), &recorder{}
	var down error
	e := newEval(t, c, r, StreamRule(func() error { return down }, 15*time.Second))
	ctx := context.Background()

	e.Evaluate(ctx) // connected (or standby: the listener's Err is nil then too)
	down = errors.New("stream: 503")
	c.step(15 * time.Second)
	e.Evaluate(ctx) // first bad reading: pending
	if st := e.Statuses()[0]; st.State != StatePending {
		t.Fatalf("after one bad reading: %+v", st)
	}
	wantSent(t, r)
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	wantSent(t, r, "stream_down firing")
	if st := e.Statuses()[0]; st.State != StateFiring || st.Last == nil || !strings.Contains(st.Last.Text, "503") {
		t.Fatalf("firing status %+v", st)
	}
	down = nil
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	wantSent(t, r, "stream_down firing", "stream_down resolved")
	if m := r.got[1]; !strings.Contains(m.Text, "RESOLVED") || !m.Since.Equal(r.got[0].Since) || !m.At.Equal(c.t.Add(-15*time.Second)) {
		t.Errorf("resolved message %+v", m)
	}

	// A blip shorter than For never fires.
	down = errors.New("blip")
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	down = nil
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	wantSent(t, r, "stream_down firing", "stream_down resolved")
}

func TestPendingRule(t *testing.T) {
	c, r := newClock(), &recorder{}
	q := &fakeQueue{}
	e := newEval(t, c, r, PendingRule(q, 5*time.Minute))
	ctx := context.Background()
	e.Evaluate(ctx)
	q.st = billsync.QueueStats{Pending: 3, OldestPending: c.t.Add(-4 * time.Minute)}
	e.Evaluate(ctx)
	wantSent(t, r)
	q.st.OldestPending = c.t.Add(-6 * time.Minute)
	e.Evaluate(ctx)
	wantSent(t, r, "pending_too_old firing")
	if d := r.got[0].Detail; !strings.Contains(d, "6m0s") || !strings.Contains(d, "alerts.pendingAge") {
		t.Errorf("detail %q", d)
	}
	q.st = billsync.QueueStats{}
	e.Evaluate(ctx)
	wantSent(t, r, "pending_too_old firing", "pending_too_old resolved")
}

// Dead letters fire when the count grew within the window and resolve
// once a whole window passes without growth; a count that falls (retried
// or discarded) is no alert.
func TestDeadLetterRule(t *testing.T) {
	c, r := newClock(), &recorder{}
	q := &fakeQueue{st: billsync.QueueStats{DeadLetters: 4}}
	e := newEval(t, c, r, DeadLetterRule(q, time.Minute))
	ctx := context.Background()
	e.Evaluate(ctx) // the baseline: dead letters from before start are no news
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	wantSent(t, r)
	q.st.DeadLetters = 5
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	wantSent(t, r, "dead_letters_rising firing")
	for range 3 { // still within a minute of the rise
		c.step(15 * time.Second)
		e.Evaluate(ctx)
	}
	wantSent(t, r, "dead_letters_rising firing")
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	wantSent(t, r, "dead_letters_rising firing", "dead_letters_rising resolved")
	q.st.DeadLetters = 0
	c.step(15 * time.Second)
	e.Evaluate(ctx)
	wantSent(t, r, "dead_letters_rising firing", "dead_letters_rising resolved")
}

func TestBudgetRule(t *testing.T) {
	c, r := newClock(), &recorder{}
	used, limit, ok := 0, 0, false
	e := newEval(t, c, r, BudgetRule(func() (int, int, bool) { return used, limit, ok }, 0.8))
	ctx := context.Background()
	e.Evaluate(ctx) // no figures yet: the rule keeps its state
	if st := e.Statuses()[0]; st.State != StateOK || st.Error == "" {
		t.Fatalf("without figures: %+v", st)
	}
	used, limit, ok = 800, 1000, true
	e.Evaluate(ctx)
	wantSent(t, r)
	used = 801
	e.Evaluate(ctx)
	wantSent(t, r, "api_budget_high firing")
	ok = false // figures gone: still firing, nothing sent
	e.Evaluate(ctx)
	wantSent(t, r, "api_budget_high firing")
	used, ok = 10, true
	e.Evaluate(ctx)
	wantSent(t, r, "api_budget_high firing", "api_budget_high resolved")
}

func TestHeldRule(t *testing.T) {
	c, r := newClock(), &recorder{}
	q := &fakeQueue{}
	e := newEval(t, c, r, HeldRule(q))
	ctx := context.Background()
	e.Evaluate(ctx)
	q.held = 2
	e.Evaluate(ctx)
	e.Evaluate(ctx)
	q.err = errors.New("store down") // cannot say: no change either way
	q.held = 0
	e.Evaluate(ctx)
	q.err = nil
	e.Evaluate(ctx)
	wantSent(t, r, "conflicts_held firing", "conflicts_held resolved")
}

// A failed delivery is retried at the next evaluation, in order, and
// sent once.
func TestDeliveryRetriedAtNextEvaluation(t *testing.T) {
	c, r := newClock(), &recorder{fail: true}
	q := &fakeQueue{held: 1}
	e := newEval(t, c, r, HeldRule(q))
	ctx := context.Background()
	e.Evaluate(ctx)
	q.held = 0
	e.Evaluate(ctx)
	if st := e.Statuses()[0]; st.Unsent != 2 || st.Last.State != Resolved {
		t.Fatalf("with the receiver down: %+v", st)
	}
	r.fail = false
	e.Evaluate(ctx)
	e.Evaluate(ctx)
	wantSent(t, r, "conflicts_held firing", "conflicts_held resolved")
	if st := e.Statuses()[0]; st.Unsent != 0 {
		t.Errorf("after delivery: %+v", st)
	}
}

// The webhook receives the Slack-compatible body, retries a 5xx, and no
// error or log line carries the URL's secret path or query.
func TestWebhookDeliversAndKeepsTheURLSecret(t *testing.T) {
	var mu sync.Mutex
	var bodies []map[string]any
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		var b map[string]any
		if err := json.NewDecoder(r.Body).Decode(&b); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("body %v, content type %q", err, r.Header.Get("Content-Type"))
		}
		bodies = append(bodies, b)
	}))
	defer srv.Close()
	secretURL := srv.URL + "/services/T0/B0/s3cr3t?token=k3y"
	w, err := NewWebhook(secretURL, WebhookOptions{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Send(context.Background(), Message{Text: "billsync FIRING: x", Alert: "x", State: Firing}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if len(bodies) != 1 || bodies[0]["text"] != "billsync FIRING: x" || bodies[0]["state"] != "firing" {
		t.Errorf("received %v", bodies)
	}
	mu.Unlock()

	// Nobody listens any more: the error names the host only.
	srv.Close()
	var logs bytes.Buffer
	c := newClock()
	e, err := New(Config{Rules: []Rule{HeldRule(&fakeQueue{held: 1})}, Sender: w, Clock: c.now,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	e.Evaluate(context.Background())
	if !strings.Contains(logs.String(), "delivery failed") {
		t.Fatalf("no warning logged: %s", logs.String())
	}
	for _, secret := range []string{"s3cr3t", "k3y", "/services"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a log line shows %q: %s", secret, logs.String())
		}
	}
	if _, err := NewWebhook("ftp://x/s3cr3t", WebhookOptions{}); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad URL: %v", err)
	}
}

// A run the mass-change guard held fires until it is approved or
// discarded; a store that cannot say changes nothing.
func TestHeldRunsRule(t *testing.T) {
	c, r := newClock(), &recorder{}
	q := &fakeQueue{}
	e := newEval(t, c, r, HeldRunsRule(q))
	ctx := context.Background()
	e.Evaluate(ctx)
	q.held = 1
	e.Evaluate(ctx)
	if st := e.Statuses()[0]; st.State != Firing || !strings.Contains(st.Detail, "1 runs held") {
		t.Errorf("with a held run: %+v", st)
	}
	q.err = errors.New("store down")
	q.held = 0
	e.Evaluate(ctx)
	q.err = nil
	e.Evaluate(ctx)
	wantSent(t, r, "runs_held firing", "runs_held resolved")
}
