package bench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/billsync/billsync/adminclient"
)

// RealisticResult is the realistic workload: accounts written as a
// client writes them, through the billing API, with Salesforce slow.
type RealisticResult struct {
	Accounts     int     `json:"accounts"`
	Balances     int     `json:"balances"`     // per account
	Transactions int     `json:"transactions"` // per balance
	Rounds       int     `json:"rounds"`
	Clients      int     `json:"clients"`
	SFLatencyMs  float64 `json:"sfLatencyMs"`
	RunFigures
	// CPUSeconds is billsync's own CPU time (user + system) from the
	// first write until its queue was empty; CPUMeasured is false when
	// billsync ran in this process, whose CPU is everyone's.
	CPUSeconds  float64 `json:"cpuSeconds"`
	CPUPer1000  float64 `json:"cpuSecondsPer1000"`
	CPUMeasured bool    `json:"cpuMeasured"`
	// PerRecord is the same workload synced by a per-record integration
	// (one Salesforce call per billing write, perRecordWorkers at a time).
	PerRecord *RunFigures `json:"perRecord,omitempty"`
	// Speedup is billsync's records/s over the per-record integration's.
	Speedup float64 `json:"speedup"`
}

// RunFigures are what one sync of the workload cost and how fast it was.
type RunFigures struct {
	// Changes is every create and update billing accepted; Landed how
	// many of them Salesforce came to hold.
	Changes int `json:"changes"`
	Landed  int `json:"landed"`
	// WriteCalls are Salesforce write requests; APICalls every request
	// counted against the org's daily limit.
	WriteCalls        int     `json:"writeCalls"`
	APICalls          int     `json:"apiCalls"`
	WriteCallsPer1000 float64 `json:"writeCallsPer1000"`
	CallsPer1000      float64 `json:"callsPer1000"`
	// Seconds runs from the first billing write to convergence: Salesforce
	// holding every record's last written values.
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
	// ConvergenceMs runs from the last billing write to convergence;
	// DeliveredMs to the billing platform having delivered every webhook,
	// so the part of ConvergenceMs that is the sync's own is the rest.
	ConvergenceMs float64 `json:"convergenceMs"`
	DeliveredMs   float64 `json:"deliveredMs"`
	// Billing write (its commit stamp) to Salesforce holding its values.
	P50Ms float64 `json:"p50Ms"`
	P99Ms float64 `json:"p99Ms"`
	MaxMs float64 `json:"maxMs"`
	// StripeCalls are the requests billsync made to Stripe (with
	// --billing stripe): the other side of the API budget.
	StripeCalls        int     `json:"stripeCalls,omitempty"`
	StripeCallsPer1000 float64 `json:"stripeCallsPer1000,omitempty"`
	// M3terCalls are the requests billsync made to m3ter (with --billing
	// m3ter), its token requests included.
	M3terCalls        int     `json:"m3terCalls,omitempty"`
	M3terCallsPer1000 float64 `json:"m3terCallsPer1000,omitempty"`
}

// realistic runs the workload against billsync, then against the
// per-record integration on the same emulators.
func (env *benchEnv) realistic(ctx context.Context, app benchApp, admin *adminclient.Client) (*RealisticResult, error) {
	o := env.opts
	shape := o.Shape
	res := &RealisticResult{Accounts: shape.Accounts, Balances: shape.Balances, Transactions: shape.Transactions,
		Rounds: shape.Rounds, Clients: shape.Clients, SFLatencyMs: ms(o.SFLatency)}
	restore, err := env.sfLatency(o.SFLatency)
	if err != nil {
		return nil, err
	}
	defer restore()

	cpu0, cpuOK := app.CPU()
	figs, err := env.syncRun(ctx, "REAL", shape, func(ctx context.Context) error {
		_, _, err := env.waitDrained(ctx, admin, env.drainTimeout(shape.Changes()))
		return err
	})
	res.RunFigures = figs
	if cpu1, ok := app.CPU(); cpuOK && ok && figs.Changes > 0 {
		res.CPUMeasured = true
		res.CPUSeconds = (cpu1 - cpu0).Seconds()
		res.CPUPer1000 = res.CPUSeconds * 1000 / float64(figs.Changes)
	}
	if err != nil || ctx.Err() != nil {
		return res, errors.Join(err, ctx.Err())
	}
	if env.sb.Billing == nil {
		// The per-record integration takes the contract's webhooks; with
		// another platform there is nothing to compare with.
		return res, nil
	}

	env.log.Info("bench: realistic, per-record integration", "workers", perRecordWorkers)
	url, pr, stop, err := startPerRecord(ctx, env.sb.AppConfig(env.sb.AppAddr))
	if err != nil {
		return res, fmt.Errorf("starting the per-record integration: %w", err)
	}
	env.sb.Billing.SetWebhookURL(url)
	prFigs, err := env.syncRun(ctx, "PREC", shape, nil)
	env.sb.Billing.SetWebhookURL(env.sb.AppURL() + "/webhooks/billing")
	err = errors.Join(err, stop(), pr.err())
	if err != nil {
		err = fmt.Errorf("%w (after %d changes written, %d landed; %d webhooks undelivered)", err, prFigs.Changes, prFigs.Landed, env.sb.Billing.Pending())
	}
	res.PerRecord = &prFigs
	if prFigs.RecordsPerSec > 0 {
		res.Speedup = res.RecordsPerSec / prFigs.RecordsPerSec
	}
	if err != nil {
		err = fmt.Errorf("per-record integration: %w", err)
	}
	return res, err
}

// syncRun writes the workload (codes starting with prefix) and waits
// until Salesforce holds every record's last values, then for settle
// (billsync's queue to empty), and reads the figures.
func (env *benchEnv) syncRun(ctx context.Context, prefix string, shape Shape, settle func(context.Context) error) (RunFigures, error) {
	var figs RunFigures
	obs := newSFObserver(env.sb.SF)
	defer obs.install()()
	calls := env.countCalls()
	stripe0, m3ter0 := 0, 0
	if env.stripe != nil {
		stripe0 = env.stripe.billsyncCalls()
	}
	if env.m3ter != nil {
		m3ter0 = env.m3ter.billsyncCalls()
	}
	writes, werr := runShape(ctx, env.side, obs, shape, prefix)
	if werr != nil {
		werr = fmt.Errorf("writing the workload to billing: %w", werr)
	}
	figs.Changes = writes
	delivered := make(chan time.Time, 1)
	go func() { delivered <- env.waitDelivered(ctx) }()
	conv, cerr := env.waitConverged(ctx, obs, env.drainTimeout(shape.Changes()))
	var serr error
	if cerr == nil && settle != nil {
		serr = settle(ctx)
	}
	figs.WriteCalls = obs.writeCalls()
	figs.APICalls, _ = calls.since()
	first, last := obs.span()
	lat := obs.latencies()
	slices.Sort(lat)
	figs.Landed = len(lat)
	figs.P50Ms, figs.P99Ms, figs.MaxMs = ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100))
	if env.stripe != nil {
		figs.StripeCalls = env.stripe.billsyncCalls() - stripe0
	}
	if env.m3ter != nil {
		figs.M3terCalls = env.m3ter.billsyncCalls() - m3ter0
	}
	if writes > 0 {
		figs.StripeCallsPer1000 = float64(figs.StripeCalls) * 1000 / float64(writes)
		figs.M3terCallsPer1000 = float64(figs.M3terCalls) * 1000 / float64(writes)
		figs.WriteCallsPer1000 = float64(figs.WriteCalls) * 1000 / float64(writes)
		figs.CallsPer1000 = float64(figs.APICalls) * 1000 / float64(writes)
	}
	if cerr == nil {
		figs.Seconds = conv.Sub(first).Seconds()
		figs.ConvergenceMs = ms(conv.Sub(last))
		if d := <-delivered; !d.IsZero() {
			figs.DeliveredMs = ms(d.Sub(last))
		}
		if figs.Seconds > 0 {
			figs.RecordsPerSec = float64(writes) / figs.Seconds
		}
	}
	return figs, errors.Join(werr, cerr, serr)
}

// waitDelivered polls until the billing emulator has no webhook left to
// deliver and returns when it saw that; zero if ctx ended first.
func (env *benchEnv) waitDelivered(ctx context.Context) time.Time {
	for env.side.pending() > 0 {
		select {
		case <-ctx.Done():
			return time.Time{}
		case <-time.After(5 * time.Millisecond):
		}
	}
	return time.Now()
}

// waitConverged waits until the observer has seen every record's last
// write land, checks that against the records Salesforce holds, and
// returns when the last of them landed.
func (env *benchEnv) waitConverged(ctx context.Context, obs *sfObserver, timeout time.Duration) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		wait := 10 * time.Millisecond
		done, total, last := obs.progress()
		if done == total && total > 0 {
			wrong, examples := obs.verify()
			if wrong == 0 {
				return last, nil
			}
			wait = 200 * time.Millisecond // reading every record is dear
			// A write the emulator refused after its hook saw it: the
			// sync will retry it, and the observer will see that too.
			env.log.Warn("bench: Salesforce does not hold what was written to it", "records", wrong, "examples", strings.Join(examples, "; "))
		}
		select {
		case <-ctx.Done():
			wrong, examples := obs.verify()
			return time.Time{}, fmt.Errorf("waiting for Salesforce to hold every record's last values: %w (%d of %d records not there; %d differ in Salesforce: %s)",
				ctx.Err(), total-done, total, wrong, strings.Join(examples, "; "))
		case <-time.After(wait):
		}
	}
}
