// Package outbound sends an emulator's webhooks the way the billing
// platforms do: from a pool of workers, in no promised order, each failed
// attempt retried after a growing backoff until the delivery is too old.
//
// The emulator keeps its owed deliveries itself (they are journaled with
// the rest of its state); a Queue only schedules them. Every Host method is
// called with the emulator's mutex held, the same mutex the Queue waits
// on, so a delivery's state is never read and written at once.
package outbound

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// DefaultBackoff doubles from one second up to five minutes.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// State is a delivery's attempt record. Emulators embed it in their own
// persisted delivery type, so its JSON fields join theirs.
type State struct {
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`

	notBefore time.Time // monotonic; a reload retries at once
	inflight  bool
}

// Delivery returns s; embedding State gives a type this method.
func (s *State) Delivery() *State { return s }

// InFlight reports whether a worker is sending the delivery now (a
// synchronous redelivery then leaves its outcome to that worker).
func (s *State) InFlight() bool { return s.inflight }

// Item is one owed delivery.
type Item interface {
	Delivery() *State
}

// Target is where a delivery goes now.
type Target struct {
	URL    string
	Body   []byte
	Header http.Header
	// Gone: the event or its destination no longer exists; the delivery
	// is dropped. A Target with no URL and not Gone is held (its
	// destination is switched off) until the event is redelivered.
	Gone bool
}

// Host is the emulator behind a Queue. Every method is called with the
// Queue's mutex held.
type Host[T Item] interface {
	// Current reports whether d is still owed (not delivered meanwhile).
	Current(d T) bool
	// Target resolves d's destination and body at the time of sending.
	Target(d T) Target
	// Delivered: d was accepted; forget it.
	Delivered(d T)
	// Dropped: d's target is gone (err nil) or it failed for too long.
	Dropped(d T, err error)
	// Retrying: d failed and is tried again after delay; d's State
	// already holds the attempt count and the error.
	Retrying(d T, delay time.Duration, err error)
	// Expired reports whether d is too old to be retried again.
	Expired(d T) bool
	// Save persists what the calls above changed.
	Save()
}

// Config is how a Queue sends.
type Config struct {
	Workers   int
	Backoff   func(attempt int) time.Duration // default DefaultBackoff
	Client    *http.Client
	UserAgent string
	// Wait, when set, holds the workers while it reports true (an
	// emulator whose webhook URL is not set yet); call Wake after it
	// changes.
	Wait func() bool
}

// Queue schedules deliveries: due ones in ready, failed ones waiting for
// their backoff in retry.
type Queue[T Item] struct {
	mu       *sync.Mutex
	cond     *sync.Cond
	host     Host[T]
	cfg      Config
	ready    []T
	retry    []T
	paused   bool
	stopping bool
	wake     chan struct{}
}

// New builds a Queue that locks mu around every Host call.
func New[T Item](mu *sync.Mutex, host Host[T], cfg Config) *Queue[T] {
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.Client == nil {
		cfg.Client = NewClient(cfg.Workers)
	}
	return &Queue[T]{mu: mu, cond: sync.NewCond(mu), host: host, cfg: cfg, wake: make(chan struct{}, 1)}
}

// NewClient is an HTTP client that keeps a connection per worker.
func NewClient(workers int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(workers, 2)
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// AddLocked makes d due now. The caller holds the mutex.
func (q *Queue[T]) AddLocked(d T) {
	q.ready = append(q.ready, d)
	q.cond.Signal()
}

// Pause holds every delivery (true) until called with false; Post still
// sends while paused.
func (q *Queue[T]) Pause(paused bool) {
	q.mu.Lock()
	q.paused = paused
	q.cond.Broadcast()
	q.mu.Unlock()
}

// WakeLocked lets waiting workers look again (Config.Wait changed). The
// caller holds the mutex.
func (q *Queue[T]) WakeLocked() { q.cond.Broadcast() }

// Stop ends the workers; it does not wait for them (Start's WaitGroup does).
func (q *Queue[T]) Stop() {
	q.mu.Lock()
	q.stopping = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Start runs the workers and the retry scheduler until ctx ends or Stop,
// counted in wg.
func (q *Queue[T]) Start(ctx context.Context, wg *sync.WaitGroup) {
	workers := max(q.cfg.Workers, 1)
	wg.Add(2 + workers)
	go func() { defer wg.Done(); q.retryLoop(ctx) }()
	go func() {
		defer wg.Done()
		<-ctx.Done()
		q.Stop()
	}()
	for range workers {
		go func() { defer wg.Done(); q.worker(ctx) }()
	}
}

func (q *Queue[T]) waiting() bool {
	return q.paused || len(q.ready) == 0 || (q.cfg.Wait != nil && q.cfg.Wait())
}

func (q *Queue[T]) worker(ctx context.Context) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for {
		for !q.stopping && q.waiting() {
			q.cond.Wait()
		}
		if q.stopping {
			return
		}
		d := q.ready[0]
		var zero T
		q.ready[0] = zero
		q.ready = q.ready[1:]
		st := d.Delivery()
		if !q.host.Current(d) || st.inflight {
			continue // delivered meanwhile (a redelivery), or dropped
		}
		t := q.host.Target(d)
		if t.Gone {
			q.host.Dropped(d, nil)
			q.host.Save()
			continue
		}
		if t.URL == "" {
			continue // held until switched on again and the event redelivered
		}
		st.inflight = true
		q.mu.Unlock()
		err := q.Post(ctx, t)
		q.mu.Lock()
		st.inflight = false
		q.settleLocked(d, err)
	}
}

func (q *Queue[T]) settleLocked(d T, err error) {
	defer q.host.Save()
	if !q.host.Current(d) {
		return
	}
	st := d.Delivery()
	st.Attempts++
	switch {
	case err == nil:
		q.host.Delivered(d)
	case q.host.Expired(d):
		q.host.Dropped(d, err)
	default:
		st.LastError = err.Error()
		delay := q.cfg.Backoff(st.Attempts)
		st.notBefore = time.Now().Add(delay)
		q.retry = append(q.retry, d)
		select {
		case q.wake <- struct{}{}:
		default:
		}
		q.host.Retrying(d, delay, err)
	}
}

// retryLoop hands failed deliveries back to the workers once their
// backoff has passed.
func (q *Queue[T]) retryLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		q.mu.Lock()
		now := time.Now()
		var wake time.Time
		keep := q.retry[:0]
		for _, d := range q.retry {
			nb := d.Delivery().notBefore
			if !nb.After(now) {
				q.ready = append(q.ready, d)
				q.cond.Signal()
				continue
			}
			keep = append(keep, d)
			if wake.IsZero() || nb.Before(wake) {
				wake = nb
			}
		}
		clear(q.retry[len(keep):])
		q.retry = keep
		q.mu.Unlock()
		next := time.Hour
		if !wake.IsZero() {
			next = time.Until(wake)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-q.wake:
		case <-timer.C:
		}
	}
}

// Post makes one delivery attempt; the receiver must answer 2xx.
func (q *Queue[T]) Post(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", t.URL, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if q.cfg.UserAgent != "" {
		req.Header.Set("User-Agent", q.cfg.UserAgent)
	}
	for k, v := range t.Header {
		req.Header[k] = v
	}
	resp, err := q.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("receiver answered %d: %s", resp.StatusCode, bytes.TrimSpace(snippet))
	}
	return nil
}
