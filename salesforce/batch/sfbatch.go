package batch

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// Options tunes a Batcher.
type Options struct {
	// MaxWait is how long a batch waits after its latest request for
	// another to join; default 20 ms, so a lone change still lands at
	// once. While requests keep arriving faster than that, the batch
	// keeps growing, up to MaxBatch or MaxLinger.
	MaxWait time.Duration
	// MaxLinger caps how long the first request of a growing batch
	// waits; default 1 s, or 5 × MaxWait if that is longer. Under a
	// steady stream too slow to fill a call in that time, it sets the
	// latency and the call rate: at 1 s, a day of such a stream costs at
	// most 86,400 calls per kind of write.
	MaxLinger time.Duration
	// MaxBatch is the most records in one call; default and maximum 200
	// (the sObject Collections limit).
	MaxBatch int
	// Idle, when set, reports whether no more work is on its way to the
	// joined callers (Join): it is false while the runner has changes due
	// that it has not claimed yet, or new ones keep arriving. While
	// callers are joined, a batch is sent when it is full, when every
	// joined caller waits and Idle holds, or MaxLinger after its first
	// request, whichever comes first; MaxWait is then only how often the
	// two conditions are looked at again. A burst is thus cut by size, not
	// by how fast the machine happens to run its callers. Nil: always
	// idle.
	Idle func() bool
	// CallTimeout bounds one merged call; default 60 s. A merged call
	// outlives the context of any one caller.
	CallTimeout time.Duration
	Logger      *slog.Logger
	// Bulk, BulkThreshold, BulkMax, BulkLinger, BulkTimeout and Wide set
	// the Bulk API 2.0 path (bulk.go); without Bulk every write goes
	// through collections.
	BulkOptions
}

// Batcher is a billsync.CRM that merges concurrent requests.
type Batcher struct {
	crm  billsync.CRM
	opts Options

	mu     sync.Mutex
	queues map[batchKey]*pending
	// inFlight counts, per batch key, the calls in flight naming each
	// record: a later request for the record waits until they answered.
	inFlight map[batchKey]map[string]int
	held     bool // Hold: nothing is sent until release
	// joined callers (Join) in flight, and how many of them wait for a
	// batch not sent yet: when every one does, nobody else is coming.
	joined, queued int
	stats          bulkStats
}

var _ billsync.CRM = (*Batcher)(nil)

type op int

const (
	opUpsert op = iota
	opCreate
	opUpdate
	opDelete
	opRead
)

// batchKey groups requests that can share one call.
type batchKey struct {
	op     op
	object string
	field  string // upsert: the external id field; read: the field list
}

type item struct {
	rec  billsync.SObject // write: the record; read/delete: {"Id": id}
	done chan result
	req  *request
}

// request is one call's items, as the joined-caller count sees them.
type request struct {
	joined bool // made by a joined caller
	unsent int  // items not yet in a call
}

// memberKey marks a context of a joined caller of one Batcher.
type memberKey struct{ b *Batcher }

type result struct {
	save billsync.SaveResult
	row  billsync.SObject // read: the record, nil when absent
	err  error
}

type pending struct {
	items []*item
	timer *time.Timer
	first time.Time // when the oldest waiting request arrived
}

// arm (re)sets the flush timer: MaxWait after the latest request, but no
// later than MaxLinger after the first.
func (b *Batcher) arm(key batchKey, p *pending) {
	now := time.Now()
	if len(p.items) == 0 || p.first.IsZero() {
		p.first = now
	}
	d := min(b.opts.MaxWait, time.Until(p.first.Add(b.linger(key))))
	if p.timer == nil {
		p.timer = time.AfterFunc(d, func() { b.expire(key) })
		return
	}
	p.timer.Reset(d)
}

// expire runs when a batch's timer fires. Without joined callers the
// batch goes. With them it goes only once MaxLinger passed since its
// first request, or every joined caller waits and no more work is on its
// way (Options.Idle); otherwise it waits another MaxWait.
func (b *Batcher) expire(key batchKey) {
	b.mu.Lock()
	p := b.queues[key]
	if p != nil && b.joined > 0 && time.Since(p.first) < b.linger(key) && !(b.allWaitingLocked() && b.idle()) {
		d := min(b.opts.MaxWait, time.Until(p.first.Add(b.linger(key))))
		p.timer.Reset(d)
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	b.flush(key, false)
}

func (b *Batcher) idle() bool { return b.opts.Idle == nil || b.opts.Idle() }

// New returns a Batcher in front of crm.
func New(crm billsync.CRM, opts Options) *Batcher {
	if opts.MaxWait <= 0 {
		opts.MaxWait = 20 * time.Millisecond
	}
	if opts.MaxLinger < opts.MaxWait {
		opts.MaxLinger = max(time.Second, 5*opts.MaxWait)
	}
	if opts.MaxBatch <= 0 || opts.MaxBatch > 200 {
		opts.MaxBatch = 200
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.BulkOptions = opts.BulkOptions.withDefaults()
	return &Batcher{crm: crm, opts: opts, queues: map[batchKey]*pending{}, inFlight: map[batchKey]map[string]int{}}
}

// Hold stops sending until release is called: requests keep queueing and
// even full batches wait. On release everything waiting is sent in calls
// of up to MaxBatch records. It makes how a burst is cut into calls
// independent of when its requests arrive, which a test of call counts
// needs on a loaded machine.
func (b *Batcher) Hold() (release func()) {
	b.mu.Lock()
	b.held = true
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.held = false
			b.mu.Unlock()
			b.flushAll()
		})
	}
}

// Join registers a caller that is about to make requests under the
// returned context, until it calls leave. While every joined caller
// waits for a batch not sent yet, nothing more can join those batches,
// so they are sent at once instead of on a timer: how a burst is cut
// into calls then follows how its callers proceed, not how fast the
// machine runs them. The runner joins each change it processes.
func (b *Batcher) Join(ctx context.Context) (context.Context, func()) {
	b.mu.Lock()
	b.joined++
	b.mu.Unlock()
	var once sync.Once
	return context.WithValue(ctx, memberKey{b}, true), func() {
		once.Do(func() {
			b.mu.Lock()
			b.joined--
			all := b.allWaitingLocked() && b.idle()
			b.mu.Unlock()
			if all {
				b.flushAll()
			}
		})
	}
}

// allWaitingLocked reports whether every joined caller waits for an
// unsent batch.
func (b *Batcher) allWaitingLocked() bool {
	return b.joined > 0 && b.queued >= b.joined
}

// flushAll sends everything queued.
func (b *Batcher) flushAll() {
	b.mu.Lock()
	keys := make([]batchKey, 0, len(b.queues))
	for k := range b.queues {
		keys = append(keys, k)
	}
	b.mu.Unlock()
	for _, k := range keys {
		b.flush(k, false)
	}
}

// Waiting is how many records wait for a call.
func (b *Batcher) Waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, p := range b.queues {
		n += len(p.items)
	}
	return n
}

// submit queues items under key and waits for their results.
func (b *Batcher) submit(ctx context.Context, key batchKey, recs []billsync.SObject) ([]result, error) {
	req := &request{joined: ctx.Value(memberKey{b}) != nil, unsent: len(recs)}
	items := make([]*item, len(recs))
	for i, r := range recs {
		items[i] = &item{rec: r, done: make(chan result, 1), req: req}
	}
	b.mu.Lock()
	p := b.queues[key]
	if p == nil {
		p = &pending{}
		b.queues[key] = p
	}
	if req.joined && len(recs) > 0 {
		b.queued++
	}
	b.arm(key, p)
	p.items = append(p.items, items...)
	full := len(p.items) >= b.fullSize(key)
	all := b.allWaitingLocked() && b.idle()
	b.mu.Unlock()
	switch {
	case all:
		b.flushAll()
	case full:
		b.flush(key, true)
	}
	out := make([]result, len(items))
	for i, it := range items {
		select {
		case r := <-it.done:
			out[i] = r
		case <-ctx.Done():
			// The merged call goes on for the others; this caller's
			// record may still be written, which its retry tolerates.
			return nil, ctx.Err()
		}
	}
	return out, nil
}

// flush sends what is queued under key: full batches at once, and, when
// the wait ran out, the remainder too. At least BulkThreshold records of
// a write that may go through Bulk go as one ingest job (bulk.go).
func (b *Batcher) flush(key batchKey, fullOnly bool) {
	b.mu.Lock()
	p := b.queues[key]
	if p == nil || b.held {
		b.mu.Unlock()
		return
	}
	var batches []outgoing
	// Records in calls still in flight count as sent: two calls in
	// flight together have no order, so a record's next write waits.
	sent := map[string]bool{}
	for id := range b.inFlight[key] {
		sent[id] = true
	}
	for len(p.items) >= b.fullSize(key) || (!fullOnly && len(p.items) > 0) {
		cut := b.cut(key, len(p.items))
		batch, rest := take(p.items, cut, key.field, sent)
		if len(batch) == 0 {
			break
		}
		p.items = rest
		batches = append(batches, b.split(key, batch)...)
		for _, it := range batch {
			if it.req.unsent--; it.req.unsent == 0 && it.req.joined {
				b.queued--
			}
		}
	}
	switch {
	case len(p.items) == 0:
		p.timer.Stop()
		delete(b.queues, key)
	case !fullOnly:
		// Requests for records already in a call now wait for the next.
		p.first = time.Time{}
		b.arm(key, p)
	}
	b.markInFlight(key, batches, 1)
	b.mu.Unlock()
	for _, o := range batches {
		if o.bulk {
			go b.sendBulk(key, o.items)
			continue
		}
		go b.send(key, o.items)
	}
}

// markInFlight adds delta to the in-flight count of every record the
// batches name; b.mu is held. A record's request left waiting behind a
// call goes with a later flush (its timer's, or every joined caller
// waiting), once the call answered.
func (b *Batcher) markInFlight(key batchKey, batches []outgoing, delta int) {
	m := b.inFlight[key]
	if m == nil {
		m = map[string]int{}
		b.inFlight[key] = m
	}
	for _, batch := range batches {
		for _, it := range batch.items {
			if id := recordKey(it.rec, key.field); id != "" {
				if m[id] += delta; m[id] <= 0 {
					delete(m, id)
				}
			}
		}
	}
	if len(m) == 0 {
		delete(b.inFlight, key)
	}
}

// take cuts a batch of at most n items. A request for a record already
// in this flush (seen) is left for a later call: a collection must not
// name one record twice, and two calls in flight together have no order.
func take(items []*item, n int, extField string, seen map[string]bool) (batch, rest []*item) {
	for _, it := range items {
		id := recordKey(it.rec, extField)
		if len(batch) < n && (id == "" || !seen[id]) {
			if id != "" {
				seen[id] = true
			}
			batch = append(batch, it)
			continue
		}
		rest = append(rest, it)
	}
	return batch, rest
}

func recordKey(r billsync.SObject, extField string) string {
	if id := r.ID(); id != "" {
		return "id:" + idKey(id)
	}
	if extField != "" {
		if s := r.Str(extField); s != "" {
			return "ext:" + s
		}
	}
	return ""
}

func (b *Batcher) send(key batchKey, batch []*item) {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.CallTimeout)
	defer cancel()
	// The call answered before any caller hears of it: a caller's next
	// request for the record must not find it still in flight.
	done := func() {
		b.mu.Lock()
		b.markInFlight(key, []outgoing{{items: batch}}, -1)
		b.mu.Unlock()
	}
	recs := make([]billsync.SObject, len(batch))
	for i, it := range batch {
		recs[i] = it.rec
	}
	if key.op == opRead {
		b.sendRead(ctx, key, batch, recs, done)
		return
	}
	res, err := b.call(ctx, key, recs)
	if err == nil && len(res) != len(batch) {
		err = billsync.Errorf(billsync.EINTERNAL, "salesforce answered %d results for %d records", len(res), len(batch))
	}
	done()
	for i, it := range batch {
		if err != nil {
			it.done <- result{err: err}
			continue
		}
		it.done <- result{save: res[i]}
	}
}

func (b *Batcher) sendRead(ctx context.Context, key batchKey, batch []*item, recs []billsync.SObject, done func()) {
	ids := make([]string, 0, len(recs))
	for _, r := range recs {
		ids = append(ids, r.ID())
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	rows, err := b.crm.RetrieveRecords(ctx, key.object, strings.Split(key.field, ","), ids)
	done()
	byID := map[string]billsync.SObject{}
	for _, r := range rows {
		byID[idKey(r.ID())] = r
	}
	for _, it := range batch {
		if err != nil {
			it.done <- result{err: err}
			continue
		}
		it.done <- result{row: byID[idKey(it.rec.ID())]}
	}
}

// idKey compares ids by their first 15 characters, the case-sensitive
// part shared by the 15- and 18-character forms.
func idKey(id string) string {
	if len(id) > 15 {
		return id[:15]
	}
	return id
}

// call makes one collections call of key's write for recs.
func (b *Batcher) call(ctx context.Context, key batchKey, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	switch key.op {
	case opUpsert:
		return b.crm.Upsert(ctx, key.object, key.field, recs)
	case opCreate:
		return b.crm.Create(ctx, key.object, recs)
	case opUpdate:
		return b.crm.Update(ctx, key.object, recs)
	case opDelete:
		ids := make([]string, len(recs))
		for i, r := range recs {
			ids[i] = r.ID()
		}
		return b.crm.Delete(ctx, ids)
	}
	return nil, billsync.Errorf(billsync.EINTERNAL, "batch: %s is not a write", opName(key.op))
}

func (b *Batcher) write(ctx context.Context, key batchKey, recs []billsync.SObject) ([]billsync.SaveResult, error) {
	res, err := b.submit(ctx, key, recs)
	if err != nil {
		return nil, err
	}
	out := make([]billsync.SaveResult, len(res))
	for i, r := range res {
		if r.err != nil {
			// The merged call failed as a whole: every record gets the
			// call's error, as its own result (Salesforce's code kept).
			return nil, r.err
		}
		out[i] = r.save
	}
	return out, nil
}

// Upsert merges upserts of one object by one external id field.
func (b *Batcher) Upsert(ctx context.Context, object, extIDField string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	return b.write(ctx, batchKey{opUpsert, object, extIDField}, records)
}

// Create merges inserts of one object.
func (b *Batcher) Create(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	return b.write(ctx, batchKey{op: opCreate, object: object}, records)
}

// Update merges updates of one object.
func (b *Batcher) Update(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error) {
	return b.write(ctx, batchKey{op: opUpdate, object: object}, records)
}

// Delete merges deletes.
func (b *Batcher) Delete(ctx context.Context, ids []string) ([]billsync.SaveResult, error) {
	recs := make([]billsync.SObject, len(ids))
	for i, id := range ids {
		recs[i] = billsync.SObject{"Id": id}
	}
	return b.write(ctx, batchKey{op: opDelete}, recs)
}

// RetrieveRecords merges reads of one object with the same fields into
// one query per 200 ids.
func (b *Batcher) RetrieveRecords(ctx context.Context, object string, fields []string, ids []string) ([]billsync.SObject, error) {
	recs := make([]billsync.SObject, len(ids))
	for i, id := range ids {
		recs[i] = billsync.SObject{"Id": id}
	}
	res, err := b.submit(ctx, batchKey{opRead, object, strings.Join(fields, ",")}, recs)
	if err != nil {
		return nil, err
	}
	var out []billsync.SObject
	for _, r := range res {
		if r.err != nil {
			return nil, r.err
		}
		if r.row != nil {
			out = append(out, r.row)
		}
	}
	return out, nil
}

// Identity, Retrieve, Query and Describe pass straight through.
func (b *Batcher) Identity(ctx context.Context) (string, string, error) { return b.crm.Identity(ctx) }

func (b *Batcher) Retrieve(ctx context.Context, object, id string, fields []string) (billsync.SObject, error) {
	return b.crm.Retrieve(ctx, object, id, fields)
}

func (b *Batcher) Query(ctx context.Context, soql string) ([]billsync.SObject, error) {
	return b.crm.Query(ctx, soql)
}

func (b *Batcher) Describe(ctx context.Context, object string) (*billsync.SObjectDescribe, error) {
	return b.crm.Describe(ctx, object)
}
