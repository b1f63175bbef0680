package sqlstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// A run takes exactly the next perRun-1 changes of its partition, in id
// order, for every run length, with other partitions' changes interleaved
// between them and more queued behind.
func TestRunLengths(t *testing.T) {
	forEngines(t, func(t *testing.T, open func(options) billsync.Store) {
		s := open(options{})
		ctx := t.Context()
		var changes []*billsync.Change
		for i := range 12 {
			changes = append(changes, &billsync.Change{Partition: fmt.Sprintf("account:%c", 'a'+i%2), RecordID: fmt.Sprint(i)})
		}
		if _, err := s.Enqueue(ctx, changes...); err != nil {
			t.Fatal(err)
		}
		for perRun := 1; perRun <= 8; perRun++ {
			runs, err := s.ClaimRuns(ctx, 2, perRun, time.Hour)
			if err != nil || len(runs) != 2 {
				t.Fatalf("perRun %d: %v, %v", perRun, runs, err)
			}
			for _, run := range runs {
				want := min(perRun, 6)
				if len(run) != want {
					t.Errorf("perRun %d: run of %s has %d changes, want %d", perRun, run[0].Partition, len(run), want)
				}
				for i, c := range run {
					if c.Partition != run[0].Partition || i > 0 && c.ID <= run[i-1].ID {
						t.Errorf("perRun %d: run %v is not one partition in id order", perRun, run)
					}
				}
				if run[0].ID != changes[0].ID && run[0].ID != changes[1].ID {
					t.Errorf("perRun %d: run starts at %d, not at a head", perRun, run[0].ID)
				}
			}
			var ids []int64
			for _, run := range runs {
				for _, c := range run {
					ids = append(ids, c.ID)
				}
			}
			if err := s.Release(ctx, ids...); err != nil {
				t.Fatal(err)
			}
		}
	})
}
