package httpserver

import (
	"context"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// maxGroup bounds the webhooks committed in one transaction.
const maxGroup = 1000

// ingester commits webhooks in groups: while one transaction (and its
// fsync) is in flight, the webhooks arriving meanwhile wait, and the next
// transaction takes them all. Each webhook is still answered only after
// its own row is committed, and a lone webhook waits for nothing.
type ingester struct {
	q Enqueuer

	mu      sync.Mutex
	pending []*ingestReq
	running bool
}

type ingestReq struct {
	cs   []*billsync.Change // one webhook's changes, committed together
	done chan ingestRes
}

type ingestRes struct {
	dup bool
	err error
}

// enqueue stores one webhook's changes durably, sharing a transaction
// with concurrent calls; dup reports that every one was stored before.
func (g *ingester) enqueue(ctx context.Context, cs ...*billsync.Change) (dup bool, err error) {
	r := &ingestReq{cs: cs, done: make(chan ingestRes, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, r)
	if !g.running {
		g.running = true
		go g.commitLoop()
	}
	g.mu.Unlock()
	select {
	case res := <-r.done:
		return res.dup, res.err
	case <-ctx.Done():
		// The row may still be committed; the sender's retry carries the
		// same webhook-id and is answered as a duplicate.
		return false, ctx.Err()
	}
}

// commitLoop commits what is pending until nothing is; it runs only while
// there is work, so an idle server holds no goroutine for it.
func (g *ingester) commitLoop() {
	for {
		g.mu.Lock()
		n, rows := 0, 0
		for n < len(g.pending) && (n == 0 || rows+len(g.pending[n].cs) <= maxGroup) {
			rows += len(g.pending[n].cs)
			n++
		}
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.pending[:n:n]
		g.pending = g.pending[n:]
		g.mu.Unlock()

		changes := make([]*billsync.Change, 0, rows)
		for _, r := range batch {
			changes = append(changes, r.cs...)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		dups, err := g.q.Enqueue(ctx, changes...)
		cancel()
		i := 0
		for _, r := range batch {
			res := ingestRes{err: err, dup: err == nil}
			for range r.cs {
				res.dup = res.dup && i < len(dups) && dups[i]
				i++
			}
			r.done <- res
		}
	}
}
