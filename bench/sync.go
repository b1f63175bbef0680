package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/emulate/faults"
	"github.com/billsync/billsync/sandbox"
)

// benchEnv is the running emulators and what the workloads share.
type benchEnv struct {
	sb   *sandbox.Sandbox
	side billingSide // the billing platform the workloads write to
	// stripe is side when it is Stripe: its call counter.
	stripe *stripeSide
	// m3ter is side when it is m3ter: its call counter, and the proxy
	// billsync reaches m3ter through.
	m3ter *m3terSide
	opts  Options
	bs    Billsync
	log   *slog.Logger
	dir   string
	// bulkIngest is the started billsync's salesforce.bulkIngestThreshold
	// (0: its default; negative: Bulk ingest off).
	bulkIngest int
}

// BurstResult is a burst of N changes made in billing at once.
type BurstResult struct {
	Records int `json:"records"`
	// Synced is how many of them reached Salesforce (a success in the
	// sync log); fewer than Records means some failed or timed out.
	Synced int `json:"synced"`
	// Seconds runs from the first billing write to the last Salesforce
	// write of the burst.
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
	// DeliveredSeconds is when billsync had accepted every webhook: the
	// billing emulator's webhook delivery bounds the rest.
	DeliveredSeconds float64        `json:"deliveredSeconds"`
	APICalls         int            `json:"apiCalls"` // counted against the org's daily limit
	CallsPer1000     float64        `json:"callsPer1000"`
	CallsByKind      map[string]int `json:"callsByKind"`
	PeakRSSBytes     int64          `json:"peakRssBytes"`
}

// LatencyResult is a steady stream of changes with a slow Salesforce.
type LatencyResult struct {
	Rate          int     `json:"rate"`
	Seconds       float64 `json:"seconds"`
	SFLatencyMs   float64 `json:"sfLatencyMs"`
	Offered       int     `json:"offered"`
	OfferedPerSec float64 `json:"offeredPerSec"`
	Synced        int     `json:"synced"`
	// Accept→written: webhook committed to Salesforce written (the sync
	// log's latency).
	P50Ms float64 `json:"p50Ms"`
	P95Ms float64 `json:"p95Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
	// Created→written adds the billing emulator's webhook delivery.
	CreatedP50Ms float64 `json:"createdP50Ms"`
	CreatedP99Ms float64 `json:"createdP99Ms"`
	CallsPer1000 float64 `json:"callsPer1000"`
	PeakRSSBytes int64   `json:"peakRssBytes"`
}

// runSyncWorkloads runs the bursts and the latency workload against one
// billsync.
func (env *benchEnv) runSyncWorkloads(ctx context.Context, rep *Report) error {
	app, err := env.startApp(ctx, filepath.Join(env.dir, "billsync"))
	if err != nil {
		return err
	}
	admin := adminclient.New(app.URL(), sandbox.AdminToken, nil)
	var errs []error
	peak := func() int64 { p, _ := app.Memory(); return p }
	if env.opts.runs("burst") && ctx.Err() == nil {
		env.log.Info("bench: create burst", "records", env.opts.Records)
		res, accounts, err := env.burstCreate(ctx, admin)
		if res != nil {
			res.PeakRSSBytes = peak()
		}
		rep.Burst = res
		errs = append(errs, err)
		if err == nil && ctx.Err() == nil {
			env.log.Info("bench: update burst", "records", len(accounts))
			res, err := env.burstUpdate(ctx, admin, accounts)
			if res != nil {
				res.PeakRSSBytes = peak()
			}
			rep.Update = res
			errs = append(errs, err)
		}
	}
	if env.opts.runs("latency") && ctx.Err() == nil {
		env.log.Info("bench: latency", "rate", env.opts.Rate, "duration", env.opts.Duration, "sf_latency", env.opts.SFLatency)
		res, err := env.latency(ctx, admin)
		if res != nil {
			res.PeakRSSBytes = peak()
		}
		rep.Latency = res
		errs = append(errs, err)
	}
	if env.opts.runs("realistic") && ctx.Err() == nil {
		s := env.opts.Shape
		env.log.Info("bench: realistic", "accounts", s.Accounts, "balances", s.Balances, "transactions", s.Transactions,
			"rounds", s.Rounds, "clients", s.Clients, "sf_latency", env.opts.SFLatency)
		res, err := env.realistic(ctx, app, admin)
		rep.Realistic = res
		errs = append(errs, err)
	}
	rep.PeakRSSBytes = max(rep.PeakRSSBytes, peak())
	errs = append(errs, app.Stop())
	return errors.Join(errs...)
}

// callCounter takes the Salesforce emulator's counters at the start of a
// workload.
type callCounter struct {
	sb    *sandbox.Sandbox
	usage int
	kinds map[string]int
}

func (env *benchEnv) countCalls() callCounter {
	return callCounter{sb: env.sb, usage: env.sb.SF.APIUsage(), kinds: env.sb.SF.Calls()}
}

func (c callCounter) since() (usage int, kinds map[string]int) {
	kinds = map[string]int{}
	for k, n := range c.sb.SF.Calls() {
		if d := n - c.kinds[k]; d > 0 {
			kinds[k] = d
		}
	}
	return c.sb.SF.APIUsage() - c.usage, kinds
}

func (env *benchEnv) drainTimeout(changes int) time.Duration {
	if env.opts.DrainTimeout > 0 {
		return env.opts.DrainTimeout
	}
	// Generous: a hundred changes a second is far below any target.
	return time.Minute + time.Duration(changes)*10*time.Millisecond
}

func (env *benchEnv) burstCreate(ctx context.Context, admin *adminclient.Client) (*BurstResult, []string, error) {
	n := env.opts.Records
	calls := env.countCalls()
	start := time.Now()
	accounts := make([]string, 0, n)
	for i := range n {
		id, err := env.side.createAccount(ctx, fmt.Sprintf("BURST%07d", i), fmt.Sprintf("Burst account %d", i), fmt.Sprintf("ap%d@burst.example", i))
		if err != nil {
			return nil, nil, err
		}
		accounts = append(accounts, id)
	}
	res, err := env.finishBurst(ctx, admin, start, calls, ids(accounts), nil)
	return res, accounts, err
}

func (env *benchEnv) burstUpdate(ctx context.Context, admin *adminclient.Client, accounts []string) (*BurstResult, error) {
	calls := env.countCalls()
	start := time.Now()
	// Through the billing API, as a user would; a few at a time so the
	// writes arrive as a burst.
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		next = make(chan string)
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				if err := env.side.renameAccount(ctx, id, updatedSuffix); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, id := range accounts {
		next <- id
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return nil, errors.Join(errs[:min(len(errs), 3)]...)
	}
	return env.finishBurst(ctx, admin, start, calls, ids(accounts), func(r billsync.SObject) bool {
		return strings.HasSuffix(r.Str("Name"), updatedSuffix)
	})
}

// finishBurst waits until the burst is through and reads its figures from
// the Salesforce emulator: its records and its call counters.
func (env *benchEnv) finishBurst(ctx context.Context, admin *adminclient.Client, start time.Time, calls callCounter, want map[string]bool, done func(billsync.SObject) bool) (*BurstResult, error) {
	delivered, drained, err := env.waitDrained(ctx, admin, env.drainTimeout(len(want)))
	usage, kinds := calls.since()
	res := &BurstResult{Records: len(want), APICalls: usage, CallsByKind: kinds, DeliveredSeconds: delivered.Sub(start).Seconds()}
	written, werr := env.sfWritten(want, done)
	// The last Salesforce write ends the burst; the queue empties a
	// little later, after the echoes of those writes are skipped.
	end := drained
	if len(written) > 0 {
		end = time.Time{}
		for _, t := range written {
			if t.After(end) {
				end = t
			}
		}
	}
	res.Synced = len(written)
	res.Seconds = end.Sub(start).Seconds()
	if res.Seconds > 0 {
		res.RecordsPerSec = float64(res.Synced) / res.Seconds
	}
	res.CallsPer1000 = float64(usage) * 1000 / float64(len(want))
	if err == nil && werr == nil && res.Synced < res.Records {
		err = fmt.Errorf("only %d of %d records reached Salesforce", res.Synced, res.Records)
	}
	return res, errors.Join(err, werr)
}

// sfWritten returns when each wanted billing account was last written in
// Salesforce (its LastModifiedDate, stamped by the emulator after any
// injected latency), for the records done accepts.
func (env *benchEnv) sfWritten(want map[string]bool, done func(billsync.SObject) bool) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(want))
	for _, r := range env.sb.SF.Records("BillingAccount__c") {
		id := r.Str("BillingId__c")
		if !want[id] || (done != nil && !done(r)) {
			continue
		}
		t, err := time.Parse("2006-01-02T15:04:05.000-0700", r.Str("LastModifiedDate"))
		if err != nil {
			return out, fmt.Errorf("Salesforce record %s: LastModifiedDate %q: %w", r.ID(), r.Str("LastModifiedDate"), err)
		}
		out[id] = t
	}
	return out, nil
}

const updatedSuffix = " (updated)"

func ids(l []string) map[string]bool {
	m := make(map[string]bool, len(l))
	for _, id := range l {
		m[id] = true
	}
	return m
}

// waitDrained waits until every webhook is delivered and billsync's queue
// is empty. It returns when each happened.
func (env *benchEnv) waitDrained(ctx context.Context, admin *adminclient.Client, timeout time.Duration) (delivered, drained time.Time, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := ""
	for {
		now := time.Now()
		if delivered.IsZero() && env.side.pending() == 0 {
			delivered = now
		}
		if !delivered.IsZero() {
			st, err := admin.Queue(ctx)
			switch {
			case err != nil:
				last = err.Error()
			case st.Pending == 0 && st.Running == 0:
				return delivered, now, nil
			default:
				last = fmt.Sprintf("queue: %d pending, %d running", st.Pending, st.Running)
			}
		} else {
			last = fmt.Sprintf("%d webhooks not yet delivered", env.side.pending())
		}
		select {
		case <-ctx.Done():
			if delivered.IsZero() {
				delivered = time.Now()
			}
			return delivered, time.Now(), fmt.Errorf("waiting for the workload to reach Salesforce: %w (%s)", ctx.Err(), last)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// syncedEntries returns, per wanted billing id, the newest successful
// billing→Salesforce log entry since start.
func syncedEntries(ctx context.Context, admin *adminclient.Client, since time.Time, want map[string]bool) ([]billsync.LogEntry, error) {
	byID := map[string]billsync.LogEntry{}
	cursor := ""
	for {
		page, next, err := admin.Logs(ctx, billsync.LogFilter{Since: since, Object: billsync.ObjectAccount,
			Outcome: billsync.OutcomeSuccess, Limit: 1000, Cursor: cursor})
		if err != nil {
			return nil, fmt.Errorf("reading the sync log: %w", err)
		}
		for _, e := range page {
			if e.Direction != billsync.ToSalesforce || !want[e.BillingID] {
				continue
			}
			if old, ok := byID[e.BillingID]; !ok || e.Time.After(old.Time) {
				byID[e.BillingID] = e
			}
		}
		if next == "" || len(page) == 0 {
			break
		}
		cursor = next
	}
	out := make([]billsync.LogEntry, 0, len(byID))
	for _, e := range byID {
		out = append(out, e)
	}
	return out, nil
}

// latency creates accounts at a steady rate with every Salesforce call
// delayed, and measures how long each took to reach Salesforce.
func (env *benchEnv) latency(ctx context.Context, admin *adminclient.Client) (*LatencyResult, error) {
	o := env.opts
	restore, err := env.sfLatency(o.SFLatency)
	if err != nil {
		return nil, err
	}
	defer restore()
	calls := env.countCalls()
	created := map[string]time.Time{}
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var genErr error
loop:
	for {
		elapsed := time.Since(start)
		due := min(int(elapsed.Seconds()*float64(o.Rate)), int(o.Duration.Seconds()*float64(o.Rate)))
		for len(created) < due {
			i := len(created)
			id, err := env.side.createAccount(ctx, fmt.Sprintf("STEADY%07d", i), fmt.Sprintf("Steady account %d", i), "")
			if err != nil {
				genErr = err
				break loop
			}
			created[id] = time.Now()
		}
		if elapsed >= o.Duration {
			break
		}
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
	}
	genSeconds := time.Since(start).Seconds()
	res := &LatencyResult{Rate: o.Rate, Seconds: genSeconds, SFLatencyMs: ms(o.SFLatency), Offered: len(created)}
	if genSeconds > 0 {
		res.OfferedPerSec = float64(len(created)) / genSeconds
	}
	if genErr != nil || len(created) == 0 {
		return res, errors.Join(genErr, ctx.Err())
	}
	want := make(map[string]bool, len(created))
	for id := range created {
		want[id] = true
	}
	_, _, err = env.waitDrained(ctx, admin, env.drainTimeout(len(created)))
	usage, _ := calls.since()
	res.CallsPer1000 = float64(usage) * 1000 / float64(len(created))
	// Accepted: when billsync committed the webhook's change (the sync
	// log entry's time less its latency). Written: the record's
	// LastModifiedDate in Salesforce.
	entries, lerr := syncedEntries(ctx, admin, start, want)
	written, werr := env.sfWritten(want, nil)
	lerr = errors.Join(lerr, werr)
	accept := make([]time.Duration, 0, len(entries))
	fromCreate := make([]time.Duration, 0, len(entries))
	for _, e := range entries {
		w, ok := written[e.BillingID]
		if !ok {
			continue
		}
		accept = append(accept, w.Sub(e.Time.Add(-e.Latency)))
		fromCreate = append(fromCreate, w.Sub(created[e.BillingID]))
	}
	res.Synced = len(accept)
	slices.Sort(accept)
	slices.Sort(fromCreate)
	res.P50Ms, res.P95Ms, res.P99Ms = ms(percentile(accept, 50)), ms(percentile(accept, 95)), ms(percentile(accept, 99))
	res.MaxMs = ms(percentile(accept, 100))
	res.CreatedP50Ms, res.CreatedP99Ms = ms(percentile(fromCreate, 50)), ms(percentile(fromCreate, 99))
	if err == nil && lerr == nil && res.Synced < res.Offered {
		err = fmt.Errorf("only %d of %d records reached Salesforce", res.Synced, res.Offered)
	}
	return res, errors.Join(err, lerr)
}

// sfLatency delays every Salesforce data API call by d until the
// returned func is called.
func (env *benchEnv) sfLatency(d time.Duration) (restore func(), err error) {
	if d <= 0 {
		return func() {}, nil
	}
	// Rate 1: a rule strikes with probability Rate, and the zero value never does.
	if err := env.sb.SFFaults.Apply(faults.Config{Rules: []faults.Rule{{Name: "bench-latency", Path: "/services/data/", Rate: 1, Latency: d}}}); err != nil {
		return nil, fmt.Errorf("setting the Salesforce latency: %w", err)
	}
	return func() { env.sb.SFFaults.Set(faults.Config{}) }, nil
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(float64(len(sorted))*p/100+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
