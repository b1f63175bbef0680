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
	_ billsync.ChangeSource     = (*ChangeSource)(nil)
	_ billsync.Queue            = (*Queue)(nil)
	_ billsync.LogStore         = (*LogStore)(nil)
	_ billsync.ConflictStore    = (*ConflictStore)(nil)
	_ billsync.ConflictResolver = (*ConflictResolver)(nil)
	_ billsync.Resyncer         = (*Resyncer)(nil)
	_ attempt.Observer          = (*Observer)(nil)
)

// ChangeSource is a mock of billsync.ChangeSource.
type ChangeSource struct {
	SubscribeFn func(ctx context.Context, channel string, replayFrom billsync.ReplayID, handle func(context.Context, billsync.StreamEvent) error) error
}

func (s *ChangeSource) Subscribe(ctx context.Context, channel string, replayFrom billsync.ReplayID, handle func(context.Context, billsync.StreamEvent) error) error {
	return s.SubscribeFn(ctx, channel, replayFrom, handle)
}

// Queue is a mock of billsync.Queue.
type Queue struct {
	EnqueueFn            func(ctx context.Context, changes ...*billsync.Change) ([]bool, error)
	EnqueueStreamEventFn func(ctx context.Context, channel string, replayID billsync.ReplayID, c *billsync.Change) (bool, error)
	ReplayIDFn           func(ctx context.Context, channel string) (billsync.ReplayID, bool, error)
	SetReplayIDFn        func(ctx context.Context, channel string, replayID billsync.ReplayID) error
	ClaimFn              func(ctx context.Context, max int, lease time.Duration) ([]billsync.Change, error)
	ClaimRunsFn          func(ctx context.Context, max, perRun int, lease time.Duration) ([][]billsync.Change, error)
	ReleaseFn            func(ctx context.Context, ids ...int64) error
	ExtendFn             func(ctx context.Context, lease time.Duration, fences ...billsync.Fence) ([]int64, error)
	CompleteFn           func(ctx context.Context, id int64, entries ...billsync.LogEntry) error
	RetryFn              func(ctx context.Context, id int64, at time.Time, lastError string, entries ...billsync.LogEntry) error
	BuryFn               func(ctx context.Context, id int64, errorCode, errorMessage string, entries ...billsync.LogEntry) error
	DeadLettersFn        func(ctx context.Context, limit int) ([]billsync.DeadLetter, error)
	ResurrectFn          func(ctx context.Context, ids ...int64) error
	DiscardFn            func(ctx context.Context, actor string, ids ...int64) error
	StatsFn              func(ctx context.Context) (billsync.QueueStats, error)
}

func (q *Queue) Enqueue(ctx context.Context, changes ...*billsync.Change) ([]bool, error) {
	return q.EnqueueFn(ctx, changes...)
}

func (q *Queue) EnqueueStreamEvent(ctx context.Context, channel string, replayID billsync.ReplayID, c *billsync.Change) (bool, error) {
	return q.EnqueueStreamEventFn(ctx, channel, replayID, c)
}

func (q *Queue) ReplayID(ctx context.Context, channel string) (billsync.ReplayID, bool, error) {
	return q.ReplayIDFn(ctx, channel)
}

func (q *Queue) SetReplayID(ctx context.Context, channel string, replayID billsync.ReplayID) error {
	return q.SetReplayIDFn(ctx, channel, replayID)
}

func (q *Queue) Claim(ctx context.Context, max int, lease time.Duration) ([]billsync.Change, error) {
	return q.ClaimFn(ctx, max, lease)
}

func (q *Queue) ClaimRuns(ctx context.Context, max, perRun int, lease time.Duration) ([][]billsync.Change, error) {
	return q.ClaimRunsFn(ctx, max, perRun, lease)
}

func (q *Queue) Release(ctx context.Context, ids ...int64) error {
	return q.ReleaseFn(ctx, ids...)
}

func (q *Queue) Extend(ctx context.Context, lease time.Duration, fences ...billsync.Fence) ([]int64, error) {
	return q.ExtendFn(ctx, lease, fences...)
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

func (q *Queue) Resurrect(ctx context.Context, ids ...int64) error { return q.ResurrectFn(ctx, ids...) }

func (q *Queue) Discard(ctx context.Context, actor string, ids ...int64) error {
	return q.DiscardFn(ctx, actor, ids...)
}

func (q *Queue) Stats(ctx context.Context) (billsync.QueueStats, error) { return q.StatsFn(ctx) }

// LogStore is a mock of billsync.LogStore.
type LogStore struct {
	AppendLogFn func(ctx context.Context, entries ...billsync.LogEntry) error
	LogsFn      func(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error)
	PruneLogsFn func(ctx context.Context, before time.Time) (int64, error)
}

func (s *LogStore) AppendLog(ctx context.Context, entries ...billsync.LogEntry) error {
	return s.AppendLogFn(ctx, entries...)
}

func (s *LogStore) Logs(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	return s.LogsFn(ctx, f)
}

func (s *LogStore) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	return s.PruneLogsFn(ctx, before)
}

// ConflictStore is a mock of billsync.ConflictStore.
type ConflictStore struct {
	AddConflictFn     func(ctx context.Context, c *billsync.Conflict) error
	ConflictsFn       func(ctx context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error)
	ConflictFn        func(ctx context.Context, id int64) (*billsync.Conflict, error)
	HeldConflictFn    func(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error)
	ResolveConflictFn func(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error)
	CountHeldFn       func(ctx context.Context) (int64, error)
}

func (s *ConflictStore) AddConflict(ctx context.Context, c *billsync.Conflict) error {
	return s.AddConflictFn(ctx, c)
}

func (s *ConflictStore) Conflicts(ctx context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error) {
	return s.ConflictsFn(ctx, f)
}

func (s *ConflictStore) Conflict(ctx context.Context, id int64) (*billsync.Conflict, error) {
	return s.ConflictFn(ctx, id)
}

func (s *ConflictStore) HeldConflict(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.Conflict, error) {
	return s.HeldConflictFn(ctx, t, billingID)
}

func (s *ConflictStore) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string, at time.Time) (*billsync.Conflict, error) {
	return s.ResolveConflictFn(ctx, id, winner, actor, at)
}

func (s *ConflictStore) CountHeld(ctx context.Context) (int64, error) { return s.CountHeldFn(ctx) }

// ConflictResolver is a mock of billsync.ConflictResolver (the engine's
// side of an operator's decision).
type ConflictResolver struct {
	ResolveConflictFn func(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error)
}

func (r *ConflictResolver) ResolveConflict(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
	return r.ResolveConflictFn(ctx, id, winner, actor)
}

// Resyncer is a mock of billsync.Resyncer.
type Resyncer struct {
	StartResyncFn func(ctx context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error)
	ResyncFn      func(ctx context.Context, id string) (*billsync.ResyncReport, error)
}

func (r *Resyncer) StartResync(ctx context.Context, req billsync.ResyncRequest) (*billsync.ResyncReport, error) {
	return r.StartResyncFn(ctx, req)
}

func (r *Resyncer) Resync(ctx context.Context, id string) (*billsync.ResyncReport, error) {
	return r.ResyncFn(ctx, id)
}

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
