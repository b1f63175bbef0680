package mock

import (
	"context"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

// The function-field mocks: each method calls the field of the same name
// with Fn appended; a test sets the fields its code path calls, and a
// call to one left nil panics, naming what the test did not expect.

var (
	_ billsync.ChangeSource = (*ChangeSource)(nil)
	_ billsync.Queue        = (*Queue)(nil)
	_ attempt.Observer      = (*Observer)(nil)
)

// ChangeSource is a mock of billsync.ChangeSource.
type ChangeSource struct {
	SubscribeFn func(ctx context.Context, channel string, replayFrom int64, handle func(context.Context, billsync.StreamEvent) error) error
}

func (s *ChangeSource) Subscribe(ctx context.Context, channel string, replayFrom int64, handle func(context.Context, billsync.StreamEvent) error) error {
	return s.SubscribeFn(ctx, channel, replayFrom, handle)
}

// Queue is a mock of billsync.Queue.
type Queue struct {
	EnqueueFn            func(ctx context.Context, changes ...*billsync.Change) ([]bool, error)
	EnqueueStreamEventFn func(ctx context.Context, channel string, replayID int64, c *billsync.Change) (bool, error)
	ReplayIDFn           func(ctx context.Context, channel string) (int64, bool, error)
	SetReplayIDFn        func(ctx context.Context, channel string, replayID int64) error
	ClaimFn              func(ctx context.Context, max int, lease time.Duration) ([]billsync.Change, error)
	CompleteFn           func(ctx context.Context, id int64, entries ...billsync.LogEntry) error
	RetryFn              func(ctx context.Context, id int64, at time.Time, lastError string, entries ...billsync.LogEntry) error
	BuryFn               func(ctx context.Context, id int64, errorCode, errorMessage string, entries ...billsync.LogEntry) error
	DeadLettersFn        func(ctx context.Context, limit int) ([]billsync.DeadLetter, error)
	ResurrectFn          func(ctx context.Context, id int64) error
	StatsFn              func(ctx context.Context) (billsync.QueueStats, error)
}

func (q *Queue) Enqueue(ctx context.Context, changes ...*billsync.Change) ([]bool, error) {
	return q.EnqueueFn(ctx, changes...)
}

func (q *Queue) EnqueueStreamEvent(ctx context.Context, channel string, replayID int64, c *billsync.Change) (bool, error) {
	return q.EnqueueStreamEventFn(ctx, channel, replayID, c)
}

func (q *Queue) ReplayID(ctx context.Context, channel string) (int64, bool, error) {
	return q.ReplayIDFn(ctx, channel)
}

func (q *Queue) SetReplayID(ctx context.Context, channel string, replayID int64) error {
	return q.SetReplayIDFn(ctx, channel, replayID)
}

func (q *Queue) Claim(ctx context.Context, max int, lease time.Duration) ([]billsync.Change, error) {
	return q.ClaimFn(ctx, max, lease)
}

func (q *Queue) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	return q.CompleteFn(ctx, id, entries...)
}

func (q *Queue) Retry(ctx context.Context, id int64, at time.Time, lastError string, entries ...billsync.LogEntry) error {
	return q.RetryFn(ctx, id, at, lastError, entries...)
}

func (q *Queue) Bury(ctx context.Context, id int64, errorCode, errorMessage string, entries ...billsync.LogEntry) error {
	return q.BuryFn(ctx, id, errorCode, errorMessage, entries...)
}

func (q *Queue) DeadLetters(ctx context.Context, limit int) ([]billsync.DeadLetter, error) {
	return q.DeadLettersFn(ctx, limit)
}

func (q *Queue) Resurrect(ctx context.Context, id int64) error { return q.ResurrectFn(ctx, id) }

func (q *Queue) Stats(ctx context.Context) (billsync.QueueStats, error) { return q.StatsFn(ctx) }

// Processor is a mock of what the runner applies changes with (the
// engine): Process and PausedUntil.
type Processor struct {
	ProcessFn     func(ctx context.Context, c billsync.Change) attempt.Result
	PausedUntilFn func() time.Time
}

func (p *Processor) Process(ctx context.Context, c billsync.Change) attempt.Result {
	return p.ProcessFn(ctx, c)
}

func (p *Processor) PausedUntil() time.Time { return p.PausedUntilFn() }

// Observer is a mock of attempt.Observer.
type Observer struct {
	ObserveSyncFn func(direction, object, outcome string, latency time.Duration)
}

func (o *Observer) ObserveSync(direction, object, outcome string, latency time.Duration) {
	o.ObserveSyncFn(direction, object, outcome, latency)
}
