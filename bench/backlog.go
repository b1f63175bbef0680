package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/sandbox"
	"github.com/billsync/billsync/sqlitestore"
)

// BacklogResult is the cost of queue operations, and billsync's start
// time, drain rate and memory, with Queued changes waiting.
type BacklogResult struct {
	Queued     int64   `json:"queued"`
	FillPerSec float64 `json:"fillPerSec"` // bulk enqueue (1,000 a transaction) to reach Queued
	// One change per Enqueue call, as a webhook does.
	EnqueueUs    float64 `json:"enqueueUs"`
	EnqueueP99Us float64 `json:"enqueueP99Us"`
	// One Claim of up to 8 changes, then a Complete of each, per change.
	ClaimCompleteUs float64 `json:"claimCompleteUs"`
	DBBytes         int64   `json:"dbBytes"`
	// billsync started on this store: from exec to /readyz, changes it
	// synced per second in BacklogWindow, and its memory at the end.
	AppStartSeconds float64 `json:"appStartSeconds"`
	AppDrainPerSec  float64 `json:"appDrainPerSec"`
	AppRSSBytes     int64   `json:"appRssBytes"`
	AppPeakRSSBytes int64   `json:"appPeakRssBytes"`
}

// runBacklog grows one store through the sizes in opts.Backlog. At each
// size it times the queue operations in this process, then runs billsync
// on the store for a while and reads its memory.
func (env *benchEnv) runBacklog(ctx context.Context) ([]BacklogResult, error) {
	data := filepath.Join(env.dir, "backlog")
	path := filepath.Join(data, "billsync.db") // where billsync serving --data data keeps it
	var out []BacklogResult
	var seq int64
	for _, size := range env.opts.Backlog {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		env.log.Info("bench: backlog", "queued", size)
		res, err := env.backlogStep(ctx, path, int64(size), &seq)
		if err != nil {
			return out, fmt.Errorf("backlog of %d: %w", size, err)
		}
		start := time.Now()
		app, err := env.startApp(ctx, data)
		if err != nil {
			return out, fmt.Errorf("backlog of %d: %w", size, err)
		}
		res.AppStartSeconds = time.Since(start).Seconds()
		drain, derr := backlogDrain(ctx, adminclient.New(app.URL(), sandbox.AdminToken, nil), env.opts.BacklogWindow)
		res.AppDrainPerSec = drain
		res.AppPeakRSSBytes, res.AppRSSBytes = app.Memory()
		if err := errors.Join(derr, app.Stop()); err != nil {
			return append(out, *res), fmt.Errorf("backlog of %d: %w", size, err)
		}
		out = append(out, *res)
	}
	return out, nil
}

// backlogStep tops the store up to size queued changes and times single
// enqueues and claims on it.
func (env *benchEnv) backlogStep(ctx context.Context, path string, size int64, seq *int64) (*BacklogResult, error) {
	store, err := sqlitestore.Open(ctx, path, sqlitestore.Options{Logger: env.log})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	st, err := store.Stats(ctx)
	if err != nil {
		return nil, err
	}
	res := &BacklogResult{}
	if need := size - st.Pending; need > 0 {
		start := time.Now()
		for need > 0 {
			batch := make([]*billsync.Change, 0, min(need, 1000))
			for range cap(batch) {
				*seq++
				c, err := backlogChange(*seq)
				if err != nil {
					return nil, err
				}
				batch = append(batch, c)
			}
			if _, err := store.Enqueue(ctx, batch...); err != nil {
				return nil, err
			}
			need -= int64(len(batch))
		}
		res.FillPerSec = float64(size-st.Pending) / time.Since(start).Seconds()
	}

	ops := env.opts.BacklogOps
	enq := make([]time.Duration, 0, ops)
	for range ops {
		*seq++
		c, err := backlogChange(*seq)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		if _, err := store.Enqueue(ctx, c); err != nil {
			return nil, err
		}
		enq = append(enq, time.Since(t0))
	}
	var claimed int
	var claimTime time.Duration
	for claimed < ops {
		t0 := time.Now()
		cs, err := store.Claim(ctx, min(8, ops-claimed), time.Minute)
		if err != nil {
			return nil, err
		}
		if len(cs) == 0 {
			return nil, errors.New("claim found nothing due in a full queue")
		}
		for _, c := range cs {
			if err := store.Complete(ctx, c.ID, billsync.LogEntry{Time: time.Now(), Direction: billsync.ToSalesforce,
				Object: c.Object, BillingID: c.RecordID, Operation: "upsert", Outcome: billsync.OutcomeSuccess, Attempt: c.Attempt}); err != nil {
				return nil, err
			}
		}
		claimTime += time.Since(t0)
		claimed += len(cs)
	}
	slices.Sort(enq)
	var sum time.Duration
	for _, d := range enq {
		sum += d
	}
	res.EnqueueUs = us(sum / time.Duration(len(enq)))
	res.EnqueueP99Us = us(percentile(enq, 99))
	res.ClaimCompleteUs = us(claimTime / time.Duration(claimed))
	if st, err = store.Stats(ctx); err != nil {
		return nil, err
	}
	res.Queued = st.Pending
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			res.DBBytes += fi.Size()
		}
	}
	return res, nil
}

// backlogChange is the change a billing account.created webhook makes,
// built by the same code the webhook handler uses.
func backlogChange(i int64) (*billsync.Change, error) {
	n := strconv.FormatInt(i, 10)
	now := time.Now()
	body := []byte(`{"type":"account.created","timestamp":"` + now.UTC().Format(time.RFC3339Nano) +
		`","data":{"id":"acc_backlog` + n + `","code":"BACKLOG` + n + `","name":"Backlog account ` + n +
		`","emailAddress":"ap` + n + `@backlog.example","currency":"USD","version":1}}`)
	return billingapi.DecodeWebhook("msg_backlog_"+n, body, now)
}

// backlogDrain lets billsync work on its backlog for window and returns
// how many changes a second it finished.
func backlogDrain(ctx context.Context, admin *adminclient.Client, window time.Duration) (float64, error) {
	before, err := admin.Queue(ctx)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(window):
	}
	after, err := admin.Queue(ctx)
	if err != nil {
		return 0, err
	}
	// Echoes of billsync's own Salesforce writes join the queue meanwhile,
	// so this slightly understates the rate.
	return float64(before.Pending-after.Pending) / time.Since(start).Seconds(), nil
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
