package attempt_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
	"github.com/billsync/billsync/mock"
)

var now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func change(source billsync.Side, n int) billsync.Change {
	return billsync.Change{ID: 7, Partition: "account:acc_1", Source: source, Object: billsync.ObjectAccount, RecordID: "rec_1",
		EventID: "evt_1", Attempt: n, EnqueuedAt: now.Add(-3 * time.Second)}
}

// observed records what an Observer saw.
type observed struct {
	mu   sync.Mutex
	seen []string
}

func (o *observed) observer() *mock.Observer {
	return &mock.Observer{ObserveSyncFn: func(direction, object, outcome string, latency time.Duration) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.seen = append(o.seen, direction+" "+object+" "+outcome+" "+latency.String())
	}}
}

func policy(obs attempt.Observer, pause func() time.Time) *attempt.Policy {
	return &attempt.Policy{MaxAttempts: 3, Backoff: func(n int) time.Duration { return time.Duration(n) * time.Minute },
		PauseForLimit: pause, Observer: obs, Now: func() time.Time { return now }}
}

// G1: an entry carries the change's attempt, latency, event and change
// ids; Finish names the change's own record on its side.
func TestEntriesAndObserver(t *testing.T) {
	t.Parallel()
	obs := &observed{}
	a := attempt.New(policy(obs.observer(), nil), change(billsync.SideBilling, 2), billsync.ToSalesforce, billsync.NewSettings(nil))
	if !a.Now().Equal(now) || a.Settings == nil || a.Dir != billsync.ToSalesforce {
		t.Fatalf("attempt %+v", a)
	}
	a.Note(a.Entry(billsync.ObjectBalance, "bal_1", "a02", "upsert", billsync.OutcomeSuccess, "", "", "brought along"))
	a.Finish(billsync.OutcomeSuccess, "", "create", "", "", "", "a01")
	r := a.Result()
	if r.Disposition != attempt.Done || r.Err != nil || len(r.Entries) != 2 || len(a.Entries()) != 2 {
		t.Fatalf("result %+v", r)
	}
	le := r.Entries[1]
	want := billsync.LogEntry{Time: now, Direction: billsync.ToSalesforce, Object: billsync.ObjectAccount, BillingID: "rec_1", SalesforceID: "a01",
		Operation: "create", Outcome: billsync.OutcomeSuccess, Attempt: 2, Latency: 3 * time.Second, EventID: "evt_1", ChangeID: 7}
	if le != want {
		t.Fatalf("entry\n got %+v\nwant %+v", le, want)
	}
	if got := strings.Join(obs.seen, "; "); got != "billing_to_salesforce balance success 3s; billing_to_salesforce account success 3s" {
		t.Fatalf("observed %s", got)
	}
	sf := attempt.New(policy(nil, nil), change(billsync.SideSalesforce, 1), billsync.ToBilling, nil)
	sf.Finish(billsync.OutcomeSkipped, billsync.ReasonEcho, "", "", "", "acc_1", "")
	if le := sf.Result().Entries[0]; le.SalesforceID != "rec_1" || le.BillingID != "acc_1" {
		t.Fatalf("Salesforce-side entry %+v", le)
	}
}

// H3: how each kind of failure is retried, dead-lettered or paused.
func TestFail(t *testing.T) {
	t.Parallel()
	locked := &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Code: "UNABLE_TO_LOCK_ROW", Message: "locked", Transient: true}
	limit := &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 403, Code: "REQUEST_LIMIT_EXCEEDED", Message: "TotalRequests Limit exceeded.",
		Transient: true, RateLimited: true}
	required := &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 400, Code: "REQUIRED_FIELD_MISSING", Message: "Required fields are missing: [Name]"}
	resume := now.Add(time.Hour)
	for _, tc := range []struct {
		name     string
		err      error
		attempt  int
		pause    bool
		disp     attempt.Disposition
		retryAt  time.Time
		outcome  billsync.Outcome
		reason   string
		code     string
		msgStart string
	}{
		{"transient, retried with backoff", locked, 2, false, attempt.Retry, now.Add(2 * time.Minute), billsync.OutcomeRetrying, billsync.ReasonRemoteError, "UNABLE_TO_LOCK_ROW", "salesforce 400 UNABLE_TO_LOCK_ROW: locked"},
		{"transient at the limit", locked, 3, false, attempt.Dead, time.Time{}, billsync.OutcomeDead, billsync.ReasonRetryLimit, "UNABLE_TO_LOCK_ROW", "gave up after 3 attempts: salesforce"},
		{"rate limited: paused, however many attempts", limit, 50, true, attempt.Retry, resume, billsync.OutcomeRetrying, billsync.ReasonRemoteError, "REQUEST_LIMIT_EXCEEDED", "salesforce 403 REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.; Salesforce calls paused until 2026-11-24T11:00:00Z"},
		{"rate limited without a pause: an ordinary transient failure", limit, 1, false, attempt.Retry, now.Add(time.Minute), billsync.OutcomeRetrying, billsync.ReasonRemoteError, "REQUEST_LIMIT_EXCEEDED", "salesforce 403"},
		{"permanent", required, 1, false, attempt.Dead, time.Time{}, billsync.OutcomeDead, billsync.ReasonRemoteError, "REQUIRED_FIELD_MISSING", "salesforce 400 REQUIRED_FIELD_MISSING"},
		{"invalid input", billsync.Errorf(billsync.EINVALID, "quote has no account"), 1, false, attempt.Dead, time.Time{}, billsync.OutcomeDead, billsync.ReasonValidation, billsync.EINVALID, "quote has no account"},
		{"unavailable", billsync.Errorf(billsync.EUNAVAILABLE, "store busy"), 1, false, attempt.Retry, now.Add(time.Minute), billsync.OutcomeRetrying, billsync.ReasonRemoteError, billsync.EUNAVAILABLE, "store busy"},
		{"plain error", errors.New("boom"), 1, false, attempt.Dead, time.Time{}, billsync.OutcomeDead, billsync.ReasonRemoteError, billsync.EINTERNAL, "boom"},
	} {
		var pause func() time.Time
		if tc.pause {
			pause = func() time.Time { return resume }
		}
		a := attempt.New(policy(nil, pause), change(billsync.SideBilling, tc.attempt), billsync.ToSalesforce, nil)
		a.FailOp(tc.err, "upsert", "", "a01")
		r := a.Result()
		le := r.Entries[0]
		if r.Disposition != tc.disp || !r.RetryAt.Equal(tc.retryAt) || !errors.Is(r.Err, tc.err) || le.Outcome != tc.outcome || le.Reason != tc.reason ||
			le.ErrorCode != tc.code || le.Operation != "upsert" || !strings.HasPrefix(le.Message, tc.msgStart) || le.SalesforceID != "a01" {
			t.Errorf("%s: %s %v\n%+v", tc.name, r.Disposition, r.RetryAt, le)
		}
	}
}

// B4: waiting for a parent retries under its own reason and still gives
// up at the limit.
func TestWait(t *testing.T) {
	t.Parallel()
	a := attempt.New(policy(nil, nil), change(billsync.SideSalesforce, 1), billsync.ToBilling, nil)
	a.Wait(billsync.ReasonWaitingParent, "parent is not in billing yet", "", "")
	r := a.Result()
	if le := r.Entries[0]; r.Disposition != attempt.Retry || le.Reason != billsync.ReasonWaitingParent || le.Operation != "wait" || le.ErrorCode != billsync.ReasonWaitingParent {
		t.Fatalf("%s %+v", r.Disposition, le)
	}
	// Waiting is billsync's decision: said in plain words, not dressed as
	// an error Salesforce sent, and the code not repeated in the text.
	a = attempt.New(policy(nil, nil), change(billsync.SideSalesforce, 1), billsync.ToBilling, nil)
	a.Wait(billsync.ReasonWaitingParent, billsync.ReasonWaitingParent+": parent is not in billing yet", "", "")
	if msg := a.Result().Entries[0].Message; msg != "parent is not in billing yet" {
		t.Errorf("message %q", msg)
	}
	a = attempt.New(policy(nil, nil), change(billsync.SideSalesforce, 3), billsync.ToBilling, nil)
	a.Wait(billsync.ReasonWaitingParent, "parent is not in billing yet", "", "")
	if r := a.Result(); r.Disposition != attempt.Dead || r.Entries[0].Reason != billsync.ReasonWaitingParent {
		t.Fatalf("at the limit: %s %+v", r.Disposition, r.Entries[0])
	}
}

// A zero Policy has the documented defaults: eight attempts, the default
// backoff, the wall clock.
func TestZeroPolicy(t *testing.T) {
	t.Parallel()
	p := &attempt.Policy{}
	before := time.Now().UTC()
	a := attempt.New(p, change(billsync.SideBilling, 7), billsync.ToSalesforce, nil)
	if got := a.Now(); got.Before(before) || got.Location() != time.UTC {
		t.Fatalf("Now %v", got)
	}
	a.Fail(&billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 503, Transient: true}, "", "")
	r := a.Result()
	if wait := r.RetryAt.Sub(a.Now()); r.Disposition != attempt.Retry || wait < 40*time.Second || wait > 80*time.Second {
		t.Fatalf("attempt 7 of 8: %s, retry in %v", r.Disposition, wait)
	}
	a = attempt.New(p, change(billsync.SideBilling, 8), billsync.ToSalesforce, nil)
	a.Fail(&billsync.RemoteError{System: billsync.SystemBilling, StatusCode: 503, Transient: true}, "", "")
	if r := a.Result(); r.Disposition != attempt.Dead {
		t.Fatalf("attempt 8 of 8: %s", r.Disposition)
	}
}

// H3: 1 s doubling, capped at five minutes, ±20 %.
func TestDefaultBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		attempt int
		base    time.Duration
	}{{-1, time.Second}, {0, time.Second}, {1, time.Second}, {2, 2 * time.Second}, {4, 8 * time.Second}, {9, 256 * time.Second},
		{10, 5 * time.Minute}, {40, 5 * time.Minute}} {
		for range 50 {
			d := attempt.DefaultBackoff(tc.attempt)
			if d < tc.base*8/10 || d > tc.base*12/10 {
				t.Fatalf("DefaultBackoff(%d) = %v, want %v ±20 %%", tc.attempt, d, tc.base)
			}
		}
	}
}

func TestDispositionString(t *testing.T) {
	t.Parallel()
	if got := attempt.Done.String() + attempt.Retry.String() + attempt.Dead.String(); got != "doneretrydead" {
		t.Fatal(got)
	}
}

// A store write refused for a lost lease makes the attempt Lost, with no
// entry, whatever the engine does with it afterwards: a later failure
// neither retries nor buries the change another claimer now holds.
func TestLeaseLost(t *testing.T) {
	t.Parallel()
	obs := &observed{}
	a := attempt.New(policy(obs.observer(), nil), change(billsync.SideBilling, 1), billsync.ToSalesforce, billsync.NewSettings(nil))
	lost := fmt.Errorf("postgres store: put sync state: change 7 was claimed again: %w", billsync.ErrLeaseLost)
	a.Fail(lost, "rec_1", "")
	a.Fail(&billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 503, Transient: true}, "rec_1", "")
	a.Wait("parent_pending", "waiting for the parent", "rec_1", "")
	r := a.Result()
	if r.Disposition != attempt.Lost || !errors.Is(r.Err, billsync.ErrLeaseLost) || len(r.Entries) != 0 {
		t.Fatalf("result %+v, want Lost with the store's error and no entries", r)
	}
	if r.Disposition.String() != "lost" {
		t.Errorf("disposition %q", r.Disposition)
	}
	if len(obs.seen) != 0 {
		t.Errorf("observed %v for a lost attempt", obs.seen)
	}
}
