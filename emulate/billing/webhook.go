package billing

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
	e.noteLocked(journalEntry{Event: ev})
	q := e.queues[ev.Partition]
	e.queues[ev.Partition] = append(q, ev)
	e.pending++
	if len(q) == 0 { // a new head: the partition was idle
		e.readyLocked(ev.Partition)
	}
}

// readyLocked makes an idle partition's head deliverable.
func (e *Emulator) readyLocked(p string) {
	heap.Push(&e.ready, readyPartition{p, e.queues[p][0].Seq})
	e.work.Signal()
}

// SetWebhookURL changes where webhooks go; held events are sent there.
func (e *Emulator) SetWebhookURL(u string) {
	e.mu.Lock()
	e.webhookURL = u
	e.work.Broadcast()
	e.mu.Unlock()
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

// readyPartition is a partition whose head event is due; head orders the
// heap, oldest first, so a busy account cannot starve the others.
type readyPartition struct {
	p    string
	head int64
}

type readyHeap []readyPartition

func (h readyHeap) Len() int           { return len(h) }
func (h readyHeap) Less(i, j int) bool { return h[i].head < h[j].head }
func (h readyHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *readyHeap) Push(x any)        { *h = append(*h, x.(readyPartition)) }
func (h *readyHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// worker delivers the oldest due head of any partition. Holding a
// partition while its head is in flight keeps one account's events in
// order; the workers together keep that many accounts in flight. After a
// delivery the worker goes on with the same account when its next event
// is the oldest due one, so a busy account costs no hand-over.
func (e *Emulator) worker(ctx context.Context) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for {
		for !e.stopping && (e.webhookURL == "" || e.ready.Len() == 0) {
			e.work.Wait()
		}
		if e.stopping {
			return
		}
		p := heap.Pop(&e.ready).(readyPartition).p
		e.busy[p] = true
		for more := true; more; {
			ev, url := e.queues[p][0], e.webhookURL
			e.mu.Unlock()
			err := e.post(ctx, url, ev)
			e.mu.Lock()
			more = e.settleLocked(p, ev, err)
		}
	}
}

// settleLocked records how a delivery of p's head ended and reports
// whether the worker should deliver p's next event now; false means it
// let go of p.
func (e *Emulator) settleLocked(p string, ev *event, err error) bool {
	defer e.saveLocked()
	ev.Attempts++
	switch {
	case err == nil:
		e.popLocked(p)
		e.delivered++
		e.noteLocked(journalEntry{Sent: &sendOutcome{Partition: p, ID: ev.ID, Outcome: outcomeDelivered, Attempts: ev.Attempts}})
		e.log.Debug("billing emulator: webhook delivered", "webhook_id", ev.ID, "attempts", ev.Attempts)
	case e.now().Sub(ev.CreatedAt) >= maxRetryAge:
		e.popLocked(p)
		e.noteLocked(journalEntry{Sent: &sendOutcome{Partition: p, ID: ev.ID, Outcome: outcomeDropped, Attempts: ev.Attempts, LastError: err.Error()}})
		e.log.Error("billing emulator: webhook dropped after 24 h of failed deliveries",
			"webhook_id", ev.ID, "attempts", ev.Attempts, "err", err)
	default:
		ev.LastError = err.Error()
		e.noteLocked(journalEntry{Sent: &sendOutcome{Partition: p, ID: ev.ID, Outcome: outcomeFailed, Attempts: ev.Attempts, LastError: ev.LastError}})
		delay := e.backoff(ev.Attempts)
		ev.notBefore = time.Now().Add(delay)
		delete(e.busy, p)
		e.retryAt[p] = ev.notBefore
		select {
		case e.retry <- struct{}{}:
		default:
		}
		e.log.Warn("billing emulator: webhook delivery failed; will retry",
			"webhook_id", ev.ID, "attempt", ev.Attempts, "retry_in", delay, "err", err)
		return false
	}
	q := e.queues[p]
	switch {
	case len(q) == 0:
		delete(e.busy, p)
		return false
	case e.stopping || e.webhookURL == "" || e.ready.Len() > 0 && e.ready[0].head < q[0].Seq:
		delete(e.busy, p)
		e.readyLocked(p)
		return false
	}
	return true
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

// retryLoop hands a partition whose head failed back to the workers once
// its backoff has passed.
func (e *Emulator) retryLoop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		e.mu.Lock()
		now := time.Now()
		var wake time.Time
		for p, at := range e.retryAt {
			if !at.After(now) {
				delete(e.retryAt, p)
				e.readyLocked(p)
			} else if wake.IsZero() || at.Before(wake) {
				wake = at
			}
		}
		e.mu.Unlock()
		next := time.Hour
		if !wake.IsZero() {
			next = time.Until(wake)
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-e.retry:
		case <-timer.C:
		}
	}
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
