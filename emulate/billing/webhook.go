package billing

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/billsync/billsync"
)

// maxRetryAge is how long a sender keeps retrying one event (SPEC §5.2).
const maxRetryAge = 24 * time.Hour

// event is one webhook awaiting delivery. Body is fixed when the write
// happens; only the signature headers change between attempts.
type event struct {
	ID        string    `json:"id"`
	Partition string    `json:"partition"`
	Seq       int64     `json:"seq"`
	Body      string    `json:"body"`
	CreatedAt time.Time `json:"createdAt"`
	Attempts  int       `json:"attempts"`
	LastError string    `json:"lastError,omitempty"`

	notBefore time.Time // monotonic; not persisted, a reload retries at once
}

// DefaultRetryBackoff doubles from one second up to five minutes.
func DefaultRetryBackoff(attempt int) time.Duration {
	d := time.Second
	for i := 1; i < attempt && d < 5*time.Minute; i++ {
		d *= 2
	}
	return min(d, 5*time.Minute)
}

// emitLocked queues the webhook for a write. Called with e.mu held, in
// the same critical section as the write, so queue order is write order.
func (e *Emulator) emitLocked(t billsync.ObjectType, op billsync.Op, data billsync.Entity, now time.Time) {
	body, err := json.Marshal(struct {
		Type      string          `json:"type"`
		Timestamp string          `json:"timestamp"`
		Data      billsync.Entity `json:"data"`
	}{string(t) + "." + string(op), stamp(now), data})
	if err != nil {
		e.log.Error("billing emulator: cannot encode webhook", "type", t, "op", op, "id", data.ID(), "err", err)
		return
	}
	e.evSeq++
	ev := &event{ID: newID("msg_"), Partition: partition(t, data), Seq: e.evSeq, Body: string(body), CreatedAt: now}
	e.enqueueLocked(ev)
	e.markDirtyLocked()
}

func (e *Emulator) enqueueLocked(ev *event) {
	e.queues[ev.Partition] = append(e.queues[ev.Partition], ev)
	e.pending++
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// SetWebhookURL changes where webhooks go; held events are sent there.
func (e *Emulator) SetWebhookURL(u string) {
	e.mu.Lock()
	e.webhookURL = u
	e.mu.Unlock()
	select {
	case e.kick <- struct{}{}:
	default:
	}
}

// Pending is the number of webhooks not yet delivered.
func (e *Emulator) Pending() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pending
}

// Delivered is the number of webhooks a receiver accepted with a 2xx.
func (e *Emulator) Delivered() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.delivered
}

// dispatch hands each partition whose head event is due to a worker, at
// most one worker per partition, which is what keeps an account's events
// in order while different accounts proceed in parallel.
func (e *Emulator) dispatch(ctx context.Context, jobs chan<- string) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		var ready []*event
		var wake time.Time
		now := time.Now()
		if e.webhookURL != "" {
			for p, q := range e.queues {
				if len(q) == 0 || e.busy[p] {
					continue
				}
				if head := q[0]; head.notBefore.After(now) {
					if wake.IsZero() || head.notBefore.Before(wake) {
						wake = head.notBefore
					}
					continue
				}
				ready = append(ready, q[0])
			}
		}
		// Oldest first, so a busy account cannot starve the others.
		sort.Slice(ready, func(i, j int) bool { return ready[i].Seq < ready[j].Seq })
		free := e.workers - e.inflight
		if len(ready) > free {
			ready = ready[:free]
		}
		for _, ev := range ready {
			e.busy[ev.Partition] = true
			e.inflight++
		}
		e.mu.Unlock()
		for _, ev := range ready {
			jobs <- ev.Partition // buffered to the worker count: never blocks
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !wake.IsZero() {
			timer.Reset(time.Until(wake))
		} else {
			timer.Reset(time.Hour)
		}
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		case <-timer.C:
		}
	}
}

func (e *Emulator) worker(ctx context.Context, jobs <-chan string) {
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-jobs:
			e.deliverHead(ctx, p)
		}
	}
}

func (e *Emulator) deliverHead(ctx context.Context, p string) {
	e.mu.Lock()
	q := e.queues[p]
	if len(q) == 0 {
		delete(e.busy, p)
		e.inflight--
		e.mu.Unlock()
		return
	}
	ev := q[0]
	url := e.webhookURL
	e.mu.Unlock()

	err := e.post(ctx, url, ev)

	e.mu.Lock()
	defer func() {
		delete(e.busy, p)
		e.inflight--
		e.markDirtyLocked()
		e.mu.Unlock()
		select {
		case e.kick <- struct{}{}:
		default:
		}
	}()
	ev.Attempts++
	if err == nil {
		e.popLocked(p)
		e.delivered++
		e.log.Debug("billing emulator: webhook delivered", "webhook_id", ev.ID, "attempts", ev.Attempts)
		return
	}
	ev.LastError = err.Error()
	if age := e.now().Sub(ev.CreatedAt); age >= maxRetryAge {
		e.popLocked(p)
		e.log.Error("billing emulator: webhook dropped after 24 h of failed deliveries",
			"webhook_id", ev.ID, "attempts", ev.Attempts, "err", err)
		return
	}
	delay := e.backoff(ev.Attempts)
	ev.notBefore = time.Now().Add(delay)
	e.log.Warn("billing emulator: webhook delivery failed; will retry",
		"webhook_id", ev.ID, "attempt", ev.Attempts, "retry_in", delay, "err", err)
}

func (e *Emulator) popLocked(p string) {
	q := e.queues[p]
	q[0] = nil
	if len(q) == 1 {
		delete(e.queues, p)
	} else {
		e.queues[p] = q[1:]
	}
	e.pending--
}

// post makes one delivery attempt, signed now: same webhook-id on every
// attempt, a fresh webhook-timestamp and signature.
func (e *Emulator) post(ctx context.Context, url string, ev *event) error {
	ts := e.now()
	sig, err := e.signer.Sign(ev.ID, ts, []byte(ev.Body))
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader([]byte(ev.Body)))
	if err != nil {
		return fmt.Errorf("webhook URL %q: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "billsync-billing-emulator")
	req.Header.Set("webhook-id", ev.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := e.httpClient.Do(req)
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
