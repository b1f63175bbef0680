package billsync

import (
	"context"
	"encoding/json"
	"slices"
	"sync/atomic"
	"time"
)

// SettingsStore keeps settings and their audit trail (A4).
type SettingsStore interface {
	// Settings returns every stored setting (keys never set are absent;
	// NewSettings fills in defaults).
	Settings(ctx context.Context) ([]Setting, error)
	// SetSetting validates nothing (callers use ValidateSetting), stores
	// the value and appends an AuditEntry with the old and new values, in
	// one transaction.
	SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (Setting, error)
	// SeedSettings stores each value whose key has never been stored, so
	// a config file seeds settings on first start only and a restart never
	// turns a switch back on. Seeded keys are audited too.
	SeedSettings(ctx context.Context, values map[string]json.RawMessage, actor string) error
	// Audit returns the newest audit entries first.
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
}

// StateStore keeps per-record sync state: the id map, the last applied
// billing version, and the agreed values (B6, D1).
type StateStore interface {
	// SyncState returns ENOTFOUND when the record was never synced.
	SyncState(ctx context.Context, t ObjectType, billingID string) (*SyncState, error)
	// SyncStateBySalesforceID looks a record up by its Salesforce id;
	// ENOTFOUND when unknown.
	SyncStateBySalesforceID(ctx context.Context, sfID string) (*SyncState, error)
	// PutSyncState inserts or replaces the state of (Object, BillingID).
	PutSyncState(ctx context.Context, s *SyncState) error
	// DeleteSyncState forgets a record (after a mirrored delete).
	DeleteSyncState(ctx context.Context, t ObjectType, billingID string) error
}

// LogStore keeps the sync log (G1–G3).
type LogStore interface {
	AppendLog(ctx context.Context, entries ...LogEntry) error
	// Logs returns entries matching f, newest first, and a cursor for the
	// next page ("" on the last page).
	Logs(ctx context.Context, f LogFilter) (entries []LogEntry, nextCursor string, err error)
	// PruneLogs deletes entries older than before (G3 retention).
	PruneLogs(ctx context.Context, before time.Time) (int64, error)
}

// QueueStats summarises the queue for metrics (G4).
type QueueStats struct {
	Pending       int64     `json:"pending"`
	Running       int64     `json:"running"`
	DeadLetters   int64     `json:"deadLetters"`
	OldestPending time.Time `json:"oldestPending"` // zero when empty
}

// Queue is the durable, partitioned work queue (B1, B2, E1, H3).
//
// A partition's changes are claimed in ID order and by one claimer at a
// time: Claim hands out a partition's head, ClaimRuns its head and the
// changes queued behind it, and nothing more of that partition is handed
// out until what was claimed is finished or its lease runs out. A change
// waiting for its retry time holds back the rest of its partition.
// Different partitions proceed in parallel.
type Queue interface {
	// Enqueue stores changes durably and assigns their IDs. A change whose
	// EventID was enqueued before (even if long since processed) is not
	// stored again; dup[i] reports that for changes[i].
	Enqueue(ctx context.Context, changes ...*Change) (dup []bool, err error)
	// EnqueueStreamEvent stores a change from the Salesforce event stream
	// and advances channel's replay checkpoint to replayID in the same
	// transaction, so a crash between the two loses nothing and applies
	// nothing twice. c may be nil to advance the checkpoint only (an event
	// that needs no work).
	EnqueueStreamEvent(ctx context.Context, channel string, replayID ReplayID, c *Change) (dup bool, err error)
	// ReplayID returns the stored checkpoint of channel (ok false if none),
	// byte for byte as it was stored.
	ReplayID(ctx context.Context, channel string) (replayID ReplayID, ok bool, err error)
	// SetReplayID moves the checkpoint (used to restart at ReplayAll after a gap).
	SetReplayID(ctx context.Context, channel string, replayID ReplayID) error

	// Claim leases up to max changes, each the head of its partition,
	// whose retry time has come. Leases of changes claimed earlier and not
	// finished before their lease ran out are treated as abandoned (a
	// crashed worker) and claimed again. Attempt is incremented.
	Claim(ctx context.Context, max int, lease time.Duration) ([]Change, error)
	// ClaimRuns leases up to max partition runs: a run is the head of a
	// partition, due as Claim's heads are, followed by up to perRun-1 of
	// the changes queued after it in that partition, in ID order. Every
	// change of a run is leased until the lease ends and its Attempt is
	// incremented. A change of a run becomes claimable again only as its
	// partition's head once the lease ran out, so a run belongs to one
	// claimer. perRun <= 1 claims heads only, as Claim does.
	ClaimRuns(ctx context.Context, max, perRun int, lease time.Duration) ([][]Change, error)
	// Release hands claimed changes back unattempted: unleased, due as
	// they were before the claim, their Attempt as it was and their last
	// error kept. Ids no longer queued are passed over (another claimer
	// finished them after the lease ran out).
	//
	// Release, Complete, Retry and Bury made under Fenced are refused
	// with ErrLeaseLost, with nothing written, when a fence is no longer
	// current: the change was claimed again (or finished) by another
	// claimer after this claimer's lease ran out.
	Release(ctx context.Context, ids ...int64) error
	// Extend renews the lease of claimed changes: each change whose fence
	// is still current (no other claim took it) and that is still
	// running is leased until now+lease, counted from when Extend runs,
	// as a claim would lease it, in one transaction. It returns, in id
	// order, the ids of the fences that are stale or whose changes are no
	// longer queued or running: their claim is lost, and nothing is
	// written for them. Extending an extended lease again is fine; a
	// lease that ran out but that no other claim took is renewed too.
	Extend(ctx context.Context, lease time.Duration, fences ...Fence) (lost []int64, err error)
	// Complete removes a finished change and appends its log entries, in
	// one transaction.
	Complete(ctx context.Context, id int64, entries ...LogEntry) error
	// Retry releases the change to be claimed again no earlier than at,
	// keeping its place at the head of its partition.
	Retry(ctx context.Context, id int64, at time.Time, lastError string, entries ...LogEntry) error
	// Bury moves the change to the dead letters (H3); its partition moves on.
	Bury(ctx context.Context, id int64, errorCode, errorMessage string, entries ...LogEntry) error
	// DeadLetters lists dead letters, oldest first.
	DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error)
	// Resurrect moves dead letters back to the queue, each at the tail of
	// its partition, with its attempts reset. It moves all of ids or
	// none: if any id is not a dead letter, nothing moves and the error
	// (ENOTFOUND, NoDeadLetters) names every such id.
	Resurrect(ctx context.Context, ids ...int64) error
	// Discard deletes dead letters for good, all of ids or none as
	// Resurrect, and appends to the sync log, in the same transaction,
	// one DiscardEntry per dead letter naming actor. Their event ids stay
	// known, so a redelivery is not processed again.
	Discard(ctx context.Context, actor string, ids ...int64) error
	// Stats summarises the queue.
	Stats(ctx context.Context) (QueueStats, error)
}

// Fence is the fencing token of one claimed change: its id and the
// Change.Fence its claim handed out.
type Fence struct {
	ChangeID, Token int64
}

type fencesKey struct{}

// Fenced returns ctx carrying the fences of the claimed changes given
// (those with a Fence; others are passed over), added to any ctx carries.
// Every store write made under it for a claimed change's work (Complete,
// Retry, Bury, Release, PutSyncState, DeleteSyncState, AppendLog,
// AddConflict, ResolveConflict) first checks, in its own transaction, that
// each fence is still current, and is refused with ErrLeaseLost, writing
// nothing, once another claim took any of those changes over (or finished
// it). A write without fences is not checked.
func Fenced(ctx context.Context, changes ...Change) context.Context {
	// A copy: ctx's own slice may be shared by its other children.
	fs := slices.Clone(Fences(ctx))
	n := len(fs)
	for _, c := range changes {
		f := Fence{ChangeID: c.ID, Token: c.Fence}
		if c.Fence != 0 && !slices.Contains(fs, f) {
			fs = append(fs, f)
		}
	}
	if len(fs) == n {
		return ctx
	}
	return context.WithValue(ctx, fencesKey{}, fs)
}

// Fences returns the fences ctx carries (Fenced).
func Fences(ctx context.Context) []Fence {
	fs, _ := ctx.Value(fencesKey{}).([]Fence)
	return fs
}

type leaseEndKey struct{}

// LeaseEnd is when a claim's lease ends by this process's clock, moved on
// each time the claimer renews the lease (Queue.Extend). It is safe for
// concurrent use: the renewer moves it while the claim's work reads it.
type LeaseEnd struct{ end atomic.Pointer[time.Time] }

// NewLeaseEnd returns a LeaseEnd at end.
func NewLeaseEnd(end time.Time) *LeaseEnd {
	e := &LeaseEnd{}
	e.Set(end)
	return e
}

// Set moves the lease end to end. The time keeps its monotonic reading,
// so a wall clock that jumps does not move the end.
func (e *LeaseEnd) Set(end time.Time) { e.end.Store(&end) }

// Get returns the lease end.
func (e *LeaseEnd) Get() time.Time { return *e.end.Load() }

// WithLeaseEnd returns ctx carrying when the claim it works under ends by
// this process's clock (the claim's time plus its lease).
func WithLeaseEnd(ctx context.Context, end time.Time) context.Context {
	return WithRenewedLease(ctx, NewLeaseEnd(end))
}

// WithRenewedLease returns ctx carrying the end of the claim it works
// under as the claimer keeps it, renewals included: LeaseOver reads it
// each time it is asked.
func WithRenewedLease(ctx context.Context, end *LeaseEnd) context.Context {
	return context.WithValue(ctx, leaseEndKey{}, end)
}

// LeaseOver reports whether ctx carries a claim's lease end (WithLeaseEnd,
// WithRenewedLease) that has passed: the claimer stalled or ran long past
// its last renewal, and another may have taken its changes over. The
// store fences its own writes; this guards the writes it cannot see, to
// Salesforce and billing, that are not the change's own (a failure
// marker written after a failed call).
func LeaseOver(ctx context.Context) bool {
	end, ok := ctx.Value(leaseEndKey{}).(*LeaseEnd)
	return ok && !time.Now().Before(end.Get())
}

// MetaStore keeps small named values, such as the Salesforce org id and
// billing tenant the store is bound to (§4).
type MetaStore interface {
	Meta(ctx context.Context, key string) (value string, ok bool, err error)
	SetMeta(ctx context.Context, key, value string) error
}

// Meta keys.
const (
	MetaSalesforceOrg = "binding.salesforce_org"
	MetaBillingTenant = "binding.billing_tenant"
	MetaListenSince   = "stream.listen_since" // RFC 3339; events published before it predate billsync
	// MetaRestored is set by billsync restore (the time, RFC 3339): the
	// next start resyncs, as billing webhooks accepted after the backup
	// are in no store, and clears it. MetaRestoreResync is that
	// resync's id.
	MetaRestored      = "restore.resync_pending"
	MetaRestoreResync = "restore.resync_id"
)

// LeaseStore grants named, expiring leases, one holder at a time: with
// several replicas on one database, exactly one holds the Salesforce event
// subscription.
type LeaseStore interface {
	// TryLease takes the lease name for owner, or renews it when owner
	// already holds it, until now+ttl. It reports whether owner holds it
	// afterwards; a lease whose holder let it run out goes to the next
	// caller.
	TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, name, owner string) error
}

// Store is everything billsync persists.
type Store interface {
	SettingsStore
	StateStore
	LogStore
	Queue
	MetaStore
	ConflictStore
	LeaseStore
	HeldRunStore
	Close() error
}
