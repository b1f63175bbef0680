package batch

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/billsync/billsync"
)

// BulkWriter writes records through Bulk API 2.0 ingest jobs, one
// result per record in input order, as the collections calls answer
// (*bulk.Client is one). A record the job never processed (the job
// failed or was aborted) has the error code Unprocessed.
type BulkWriter interface {
	Insert(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error)
	Update(ctx context.Context, object string, records []billsync.SObject) ([]billsync.SaveResult, error)
	Upsert(ctx context.Context, object, extIDField string, records []billsync.SObject) ([]billsync.SaveResult, error)
}

// Unprocessed is the error code of a record a Bulk job left unprocessed.
const Unprocessed = "UNPROCESSED"

// BulkOptions sets the Bulk API 2.0 path of a Batcher.
type BulkOptions struct {
	// Bulk, when set, takes a flush of at least BulkThreshold waiting
	// records of one object and one write (insert, update, or upsert by
	// one external id field) as one ingest job instead of calls of 200.
	// Deletes and reads always go through collections.
	Bulk BulkWriter
	// BulkThreshold is the fewest records sent as an ingest job; default
	// 2,000 (below it, Salesforce advises collections).
	BulkThreshold int
	// BulkMax is the most records one ingest job carries, and, while
	// Wide holds, the size at which a batch is full; default 50,000 (a
	// job's calls do not grow with its rows, so larger is cheaper).
	BulkMax int
	// Wide, when set, reports that the runner is working through a large
	// backlog with its bulk workers (runner.Config.BulkWorkers). While it
	// holds, a batch of a write Bulk may carry is full only at BulkMax
	// and its first request waits up to BulkLinger; it goes when every
	// joined caller waits for a batch and Idle holds (the runner, wide,
	// is idle too when all its slots are taken): so a backlog's level
	// joins one job instead of leaving 200 records at a time.
	Wide func() bool
	// BulkLinger caps how long a batch waits for company while Wide
	// holds; default 10 s.
	BulkLinger time.Duration
	// BulkTimeout bounds one ingest job, its upload, polls and results;
	// default 10 minutes.
	BulkTimeout time.Duration
}

func (o BulkOptions) withDefaults() BulkOptions {
	if o.BulkThreshold <= 0 {
		o.BulkThreshold = 2000
	}
	if o.BulkMax < o.BulkThreshold {
		o.BulkMax = max(50000, o.BulkThreshold)
	}
	if o.BulkLinger <= 0 {
		o.BulkLinger = 10 * time.Second
	}
	if o.BulkTimeout <= 0 {
		o.BulkTimeout = 10 * time.Minute
	}
	return o
}

// outgoing is one call's items: a collections call, or an ingest job.
type outgoing struct {
	items []*item
	bulk  bool
}

// bulkStats counts what went through ingest jobs.
type bulkStats struct{ jobs, records, fellBack atomic.Int64 }

// BulkStats reports the ingest jobs the batcher sent, the records they
// carried, and the records they left unprocessed that went through
// collections instead.
func (b *Batcher) BulkStats() (jobs, records, fellBack int64) {
	return b.stats.jobs.Load(), b.stats.records.Load(), b.stats.fellBack.Load()
}

// bulkOK reports whether key's writes may go through an ingest job.
func (b *Batcher) bulkOK(key batchKey) bool {
	if b.opts.Bulk == nil {
		return false
	}
	switch key.op {
	case opUpsert, opCreate, opUpdate:
		return true
	}
	return false
}

func (b *Batcher) wide() bool { return b.opts.Wide != nil && b.opts.Wide() }

// fullSize is how many waiting records make key's batch full.
func (b *Batcher) fullSize(key batchKey) int {
	if b.bulkOK(key) && b.wide() {
		return b.opts.BulkMax
	}
	return b.opts.MaxBatch
}

// linger is how long key's first waiting request may wait for company.
func (b *Batcher) linger(key batchKey) time.Duration {
	if b.bulkOK(key) && b.wide() {
		return max(b.opts.MaxLinger, b.opts.BulkLinger)
	}
	return b.opts.MaxLinger
}

// cut is how many of n waiting records the next batch may take.
func (b *Batcher) cut(key batchKey, n int) int {
	if b.bulkOK(key) && n >= b.opts.BulkThreshold {
		return b.opts.BulkMax
	}
	return b.opts.MaxBatch
}

// split makes a cut batch one ingest job when it is large enough, or
// collections calls of up to MaxBatch.
func (b *Batcher) split(key batchKey, batch []*item) []outgoing {
	if b.bulkOK(key) && len(batch) >= b.opts.BulkThreshold {
		return []outgoing{{items: batch, bulk: true}}
	}
	var out []outgoing
	for lo := 0; lo < len(batch); lo += b.opts.MaxBatch {
		out = append(out, outgoing{items: batch[lo:min(lo+b.opts.MaxBatch, len(batch))]})
	}
	return out
}

// sendBulk sends batch as one ingest job and hands each record its row's
// result, as a collections call would: a row Salesforce refused fails
// its change alone, with its code (the engine retries or dead-letters by
// it). Rows the job left unprocessed were not applied and go through
// collections instead. A job that could not run at all fails every
// record with its error, as a failed call does.
//
// Rows are sent grouped by parent: Salesforce runs a job 200 rows at a
// time in parallel, and children of one parent in different chunks lock
// it against each other (UNABLE_TO_LOCK_ROW).
func (b *Batcher) sendBulk(key batchKey, batch []*item) {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.BulkTimeout)
	defer cancel()
	batch = slices.Clone(batch)
	slices.SortStableFunc(batch, func(x, y *item) int { return cmp.Compare(parentKey(x.rec), parentKey(y.rec)) })
	recs := make([]billsync.SObject, len(batch))
	for i, it := range batch {
		recs[i] = it.rec
	}
	var res []billsync.SaveResult
	var err error
	switch key.op {
	case opUpsert:
		res, err = b.opts.Bulk.Upsert(ctx, key.object, key.field, recs)
	case opCreate:
		res, err = b.opts.Bulk.Insert(ctx, key.object, recs)
	case opUpdate:
		res, err = b.opts.Bulk.Update(ctx, key.object, recs)
	}
	if err == nil && len(res) != len(batch) {
		err = billsync.Errorf(billsync.EINTERNAL, "salesforce bulk job answered %d results for %d records", len(res), len(batch))
	}
	b.stats.jobs.Add(1)
	b.stats.records.Add(int64(len(batch)))
	if err == nil {
		b.collectUnprocessed(ctx, key, recs, res)
	}
	b.opts.Logger.Info("Salesforce write sent as a Bulk API 2.0 ingest job", "object", key.object, "op", opName(key.op), "records", len(batch), "err", err)
	b.mu.Lock()
	b.markInFlight(key, []outgoing{{items: batch}}, -1)
	b.mu.Unlock()
	for i, it := range batch {
		if err != nil {
			it.done <- result{err: err}
			continue
		}
		it.done <- result{save: res[i]}
	}
}

// collectUnprocessed writes the rows a job left unprocessed through
// collections, in calls of up to MaxBatch, and puts their results in
// res. A call that fails leaves its rows' unprocessed results.
func (b *Batcher) collectUnprocessed(ctx context.Context, key batchKey, recs []billsync.SObject, res []billsync.SaveResult) {
	var idx []int
	for i, r := range res {
		if !r.Success && len(r.Errors) > 0 && r.Errors[0].StatusCode == Unprocessed {
			idx = append(idx, i)
		}
	}
	for lo := 0; lo < len(idx); lo += b.opts.MaxBatch {
		part := idx[lo:min(lo+b.opts.MaxBatch, len(idx))]
		sub := make([]billsync.SObject, len(part))
		for j, i := range part {
			sub[j] = recs[i]
		}
		got, err := b.call(ctx, key, sub)
		if err != nil || len(got) != len(sub) {
			b.opts.Logger.Warn("Salesforce rows a Bulk job left unprocessed could not be sent through collections", "object", key.object, "records", len(sub), "err", err)
			continue
		}
		b.stats.fellBack.Add(int64(len(sub)))
		for j, i := range part {
			res[i] = got[j]
		}
	}
}

// parentKey is what groups a record's row with its siblings: the values
// of its parent references.
func parentKey(r billsync.SObject) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(r)) {
		switch v := r[k].(type) {
		case map[string]any:
			for _, sk := range slices.Sorted(maps.Keys(v)) {
				parts = append(parts, k+"."+sk+"="+anyString(v[sk]))
			}
		case billsync.SObject:
			for _, sk := range slices.Sorted(maps.Keys(v)) {
				parts = append(parts, k+"."+sk+"="+anyString(v[sk]))
			}
		}
	}
	return strings.Join(parts, "\x00")
}

func anyString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func opName(o op) string {
	switch o {
	case opUpsert:
		return "upsert"
	case opCreate:
		return "insert"
	case opUpdate:
		return "update"
	case opDelete:
		return "delete"
	}
	return "read"
}
