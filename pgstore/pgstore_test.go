package pgstore

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/storetest"
)

func openTest(t testing.TB, dsn string, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), dsn, opts)
	return storetest.Opened(t, s, err)
}

func TestConformance(t *testing.T) {
	pgtest.BaseDSN(t) // skip before Run starts its parallel subtests
	storetest.Run(t, func(t *testing.T) billsync.Store {
		return openTest(t, pgtest.DSN(t), Options{})
	})
}

// TestReplicasMigrateOnce opens several stores on one new schema at once,
// as replicas starting together do: each must come up, and each migration
// must be applied once.
func TestReplicasMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const replicas = 5
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	stores := make([]*Store, replicas)
	for i := range replicas {
		wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dsn, Options{}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	var n, v int
	if err := stores[0].db.QueryRowContext(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &v); err != nil {
		t.Fatal(err)
	}
	if n != LatestSchemaVersion() || v != LatestSchemaVersion() {
		t.Errorf("schema_migrations has %d rows up to version %d, want %d", n, v, LatestSchemaVersion())
	}
	if got, err := stores[1].SchemaVersion(t.Context()); err != nil || got != LatestSchemaVersion() {
		t.Errorf("SchemaVersion = %d, %v", got, err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	s := openTest(t, dsn, Options{})
	if _, err := s.db.ExecContext(t.Context(), `INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, '9999_future', 0)`); err != nil {
		t.Fatal(err)
	}
	_, err := Open(t.Context(), dsn, Options{})
	if err == nil || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("Open on a newer schema = %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), "postgres://%zz", Options{})
	if billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("malformed DSN: %v", err)
	}
	// Port 1 on loopback refuses connections at once.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err = Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", Options{})
	if billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("unreachable database: %v (code %s)", err, billsync.ErrorCode(err))
	}
	if strings.Contains(fmt.Sprint(err), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

// TestReplicasShareTheQueue runs several stores (separate pools, as
// separate replicas have) on one schema. They enqueue into the same
// partitions at the same time, starting from empty partitions, while
// others claim and complete: every partition has at most one head, no
// change is handed out twice, none is lost, none runs beside another of
// its partition, and each partition runs in id order.
func TestReplicasShareTheQueue(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	const replicas, partitions, perProducer = 3, 6, 20
	stores := make([]*Store, replicas)
	for i := range stores {
		stores[i] = openTest(t, dsn, Options{})
	}
	ctx := t.Context()

	var (
		mu       sync.Mutex
		inFlight = map[string]int64{}
		done     = map[int64]int{}
		order    = map[string][]int64{}
		enqueued = map[int64]bool{}
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		failures = append(failures, fmt.Sprintf(format, args...))
		mu.Unlock()
	}

	// Producers: every replica enqueues into every partition, one change
	// per call and in small batches, racing for empty partitions.
	var producers sync.WaitGroup
	for r, s := range stores {
		producers.Go(func() {
			for i := range perProducer {
				var batch []*billsync.Change
				for p := range partitions {
					if (i+p)%2 == 0 || i%5 == 0 {
						batch = append(batch, &billsync.Change{
							Partition: fmt.Sprintf("account:%d", p), Source: billsync.SideBilling, Object: billsync.ObjectAccount,
							Op: billsync.OpUpdated, RecordID: fmt.Sprintf("%d/%d/%d", r, p, i), EventID: fmt.Sprintf("e-%d-%d-%d", r, p, i),
						})
					}
				}
				calls := [][]*billsync.Change{batch}
				if i%3 == 0 { // one change per call too
					calls = nil
					for _, c := range batch {
						calls = append(calls, []*billsync.Change{c})
					}
				}
				for _, cs := range calls {
					if _, err := s.Enqueue(ctx, cs...); err != nil {
						fail("replica %d: enqueue: %v", r, err)
						return
					}
					mu.Lock()
					for _, c := range cs {
						enqueued[c.ID] = true
					}
					mu.Unlock()
				}
			}
		})
	}
	producing := make(chan struct{})
	go func() { producers.Wait(); close(producing) }()

	// Each replica checks, whenever it claims, that its partition has one
	// head at most.
	heads := func(s *Store) {
		rows, err := s.db.QueryContext(ctx, `SELECT partition_key, count(*) FROM queue WHERE due_at IS NOT NULL GROUP BY 1 HAVING count(*) > 1`)
		if err != nil {
			fail("heads: %v", err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var p string
			var n int
			_ = rows.Scan(&p, &n)
			fail("partition %s has %d heads", p, n)
		}
	}

	deadline := time.Now().Add(30 * time.Second)
	var workers sync.WaitGroup
	for r, s := range stores {
		for w := range 2 {
			workers.Go(func() {
				for time.Now().Before(deadline) {
					got, err := s.Claim(ctx, 3, time.Minute)
					if err != nil {
						fail("replica %d worker %d: claim: %v", r, w, err)
						return
					}
					if len(got) == 0 {
						select {
						case <-producing:
							st, err := s.Stats(ctx)
							if err == nil && st.Pending == 0 && st.Running == 0 {
								return
							}
						default:
						}
						heads(s)
						time.Sleep(2 * time.Millisecond)
						continue
					}
					mu.Lock()
					for _, c := range got {
						if other, busy := inFlight[c.Partition]; busy {
							failures = append(failures, fmt.Sprintf("partition %s: %d claimed while %d in flight", c.Partition, c.ID, other))
						}
						inFlight[c.Partition] = c.ID
						order[c.Partition] = append(order[c.Partition], c.ID)
					}
					mu.Unlock()
					for _, c := range got {
						mu.Lock()
						delete(inFlight, c.Partition)
						done[c.ID]++
						mu.Unlock()
						if err := s.Complete(ctx, c.ID); err != nil {
							fail("replica %d: complete %d: %v", r, c.ID, err)
							return
						}
					}
				}
			})
		}
	}
	workers.Wait()
	<-producing
	for _, f := range failures {
		t.Error(f)
	}
	if len(done) != len(enqueued) {
		t.Fatalf("completed %d of %d changes", len(done), len(enqueued))
	}
	for id, n := range done {
		if n != 1 {
			t.Errorf("change %d handed out %d times", id, n)
		}
		if !enqueued[id] {
			t.Errorf("change %d was never enqueued", id)
		}
	}
	for p, ids := range order {
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("partition %s out of order: %v", p, ids)
				break
			}
		}
	}
}

// TestLeaseAcrossReplicas: two stores race for one lease; exactly one
// holds it, and when it lapses the other takes it.
func TestLeaseAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := openTest(t, dsn, Options{}), openTest(t, dsn, Options{})
	ctx := t.Context()
	okA, errA := a.TryLease(ctx, "subscription", "a", 300*time.Millisecond)
	okB, errB := b.TryLease(ctx, "subscription", "b", 300*time.Millisecond)
	if errA != nil || errB != nil || !okA || okB {
		t.Fatalf("a: %v %v, b: %v %v", okA, errA, okB, errB)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := b.TryLease(ctx, "subscription", "b", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b never took the lapsed lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if ok, _ := a.TryLease(ctx, "subscription", "a", time.Hour); ok {
		t.Fatal("a took the lease back from b")
	}
}

// TestClaimUsesIndexes pins the plans that keep the queue cheap with a
// backlog: Claim reads the partial index of partition heads, and a head
// is found through the partition index.
func TestClaimUsesIndexes(t *testing.T) {
	t.Parallel()
	s := openTest(t, pgtest.DSN(t), Options{})
	ctx := t.Context()
	var cs []*billsync.Change
	for i := range 5000 {
		cs = append(cs, &billsync.Change{Partition: fmt.Sprintf("account:%d", i%50), EventID: fmt.Sprintf("e%d", i)})
	}
	if _, err := s.Enqueue(ctx, cs...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE queue`); err != nil {
		t.Fatal(err)
	}
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := s.db.QueryContext(ctx, "EXPLAIN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var lines []string
		for rows.Next() {
			var l string
			if err := rows.Scan(&l); err != nil {
				t.Fatal(err)
			}
			lines = append(lines, l)
		}
		return strings.Join(lines, "\n")
	}
	if p := plan(claimSQL, int64(2), int64(1), 10); !strings.Contains(p, "queue_due") {
		t.Errorf("claim does not use queue_due:\n%s", p)
	}
	if p := plan(sqlstore.RefreshHeadSQL, "account:7"); !strings.Contains(p, "queue_partition") {
		t.Errorf("refreshing a head does not use queue_partition:\n%s", p)
	}
	// A table this small may be scanned for the heads; what matters is that
	// each run's followers are a range of queue_partition bound at both
	// ends, not whole partitions ranked.
	if p := plan(sqlstore.FollowersSQL(dialect), int64(2), "[1, 2]", 8); !strings.Contains(p, "queue_partition") ||
		!strings.Contains(p, "(id <= COALESCE(") || strings.Contains(p, "WindowAgg") {
		t.Errorf("claiming followers does not read a bounded range of queue_partition:\n%s", p)
	}
}
