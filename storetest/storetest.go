package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
)

// waitFor is how long a test polls for a time-based outcome (a lease or a
// retry time running out) before it fails.
const waitFor = 15 * time.Second

// Run runs the suite. newStore must return a new, empty store and arrange
// for it to be closed when t ends (t.Cleanup). Subtests run in parallel,
// each with its own store.
func Run(t *testing.T, newStore func(t *testing.T) billsync.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s billsync.Store)
	}{
		{"Settings/SetAndAudit", testSettingsSetAndAudit},
		{"Settings/SeedOnce", testSettingsSeedOnce},
		{"SyncState/RoundTrip", testSyncStateRoundTrip},
		{"SyncState/BySalesforceID", testSyncStateBySalesforceID},
		{"Log/Filters", testLogFilters},
		{"Log/Paging", testLogPaging},
		{"Log/Prune", testLogPrune},
		{"Queue/EnqueueAndDedupe", testQueueEnqueueDedupe},
		{"Queue/RoundTrip", testQueueRoundTrip},
		{"Queue/PartitionOrder", testQueuePartitionOrder},
		{"Queue/PartitionsInParallel", testQueuePartitionsInParallel},
		{"Queue/RetryKeepsHead", testQueueRetryKeepsHead},
		{"Queue/LeaseExpiry", testQueueLeaseExpiry},
		{"Queue/BuryAndResurrect", testQueueBuryResurrect},
		{"Queue/UnknownIDs", testQueueUnknownIDs},
		{"Queue/DeadLettersAllOrNone", testDeadLettersAllOrNone},
		{"Queue/CompleteAppendsLog", testQueueCompleteAppendsLog},
		{"Queue/StreamEvent", testQueueStreamEvent},
		{"Queue/Stats", testQueueStats},
		{"Queue/ConcurrentClaimers", testQueueConcurrentClaimers},
		{"Queue/ClaimRuns", testQueueClaimRuns},
		{"Queue/ClaimRunsAttempts", testQueueClaimRunsAttempts},
		{"Queue/Release", testQueueRelease},
		{"Meta", testMeta},
		{"Conflicts/AddAndGet", testConflictAddAndGet},
		{"Conflicts/ListFilters", testConflictListFilters},
		{"Conflicts/Paging", testConflictPaging},
		{"Conflicts/Held", testConflictHeld},
		{"Conflicts/Resolve", testConflictResolve},
		{"Conflicts/CountHeld", testConflictCountHeld},
		{"Leases", testLeases},
		{"Fence/Tokens", testFenceTokens},
		{"Fence/StaleRefused", testFenceStaleRefused},
		{"Fence/ReleaseAllOrNone", testFenceReleaseAllOrNone},
		{"Fence/Unfenced", testFenceUnfenced},
		{"Extend/Holds", testExtendHolds},
		{"Extend/StaleLost", testExtendStaleLost},
		{"Extend/FinishedLost", testExtendFinishedLost},
		{"Extend/Concurrent", testExtendConcurrent},
		{"Held/RoundTrip", testHeldRoundTrip},
		{"Held/List", testHeldList},
		{"Held/Approve", testHeldApprove},
		{"Held/Discard", testHeldDiscard},
		{"Held/Burst", testHeldBurst},
		{"Held/BurstOverwrites", testHeldBurstOverwrites},
		{"Held/BurstConcurrent", testHeldBurstConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newStore(t))
		})
	}
}

// Opened returns s, the result of opening a store, and closes it when t
// ends; it fails t at once if err is not nil.
func Opened[S interface{ Close() error }](t testing.TB, s S, err error) S {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// equateTime compares times by instant; stores need not keep the
// monotonic reading or the location of what they were given.
var equateTime = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := billsync.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testMeta(t *testing.T, s billsync.Store) {
	ctx := t.Context()
	_, ok, err := s.Meta(ctx, billsync.MetaSalesforceOrg)
	must(t, err)
	if ok {
		t.Fatal("new store has meta")
	}
	must(t, s.SetMeta(ctx, billsync.MetaSalesforceOrg, "00D000000000001"))
	must(t, s.SetMeta(ctx, billsync.MetaBillingTenant, "tenant-1"))
	must(t, s.SetMeta(ctx, billsync.MetaSalesforceOrg, "00D000000000002"))
	v, ok, err := s.Meta(ctx, billsync.MetaSalesforceOrg)
	must(t, err)
	if !ok || v != "00D000000000002" {
		t.Errorf("Meta = %q, %v", v, ok)
	}
	v, ok, err = s.Meta(ctx, billsync.MetaBillingTenant)
	must(t, err)
	if !ok || v != "tenant-1" {
		t.Errorf("Meta = %q, %v", v, ok)
	}
	must(t, s.SetMeta(ctx, billsync.MetaListenSince, ""))
	v, ok, err = s.Meta(ctx, billsync.MetaListenSince)
	must(t, err)
	if !ok || v != "" {
		t.Errorf("empty meta value = %q, %v", v, ok)
	}
}
