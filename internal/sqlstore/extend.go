package sqlstore

import (
	"cmp"
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/billsync/billsync"
)

// ExtendSQL renews the lease of change $1 until $2 if its fence is still
// $3 and it is running. A running head's due_at is its lease_until (see
// RefreshHeadSQL), so a head's moves with it; every other row keeps
// due_at NULL. (The cast: PostgreSQL cannot tell $2's type from the CASE.)
const ExtendSQL = `UPDATE queue SET lease_until = CAST($2 AS BIGINT),
	due_at = CASE WHEN due_at IS NULL THEN NULL ELSE CAST($2 AS BIGINT) END
	WHERE id = $1 AND fence = $3 AND state = 'running'`

// extendPartitionsSQL returns the id and partition of each running change
// named in the JSON array $2 ($1 is 'running'); the dialect's IDsInJSON
// reads the array.
func extendPartitionsSQL(d Dialect) string {
	return `SELECT id, partition_key FROM queue WHERE state = $1 AND id IN (` + d.IDsInJSON + `)`
}

// SortFences orders fences by change id (then token) without repeats, the
// order Extend writes in.
func SortFences(fences []billsync.Fence) []billsync.Fence {
	fs := slices.Clone(fences)
	slices.SortFunc(fs, func(a, b billsync.Fence) int {
		return cmp.Or(cmp.Compare(a.ChangeID, b.ChangeID), cmp.Compare(a.Token, b.Token))
	})
	return slices.Compact(fs)
}

// Extend renews the leases of the claimed changes whose fences are
// current, in one transaction, and returns the ids of the others.
//
// Where the dialect has partition locks it takes them as Enqueue does,
// every partition's in sorted order before any row, and then updates the
// rows partition by partition, each partition's from its lowest id (the
// claim's head) up. So it waits on no writer that waits on it: writers
// take their partition's lock before its rows, and a claim that got to a
// head first makes Extend wait at that head holding no other row of that
// partition (a claim that finds the head locked passes the partition
// over).
func (s *Store) Extend(ctx context.Context, lease time.Duration, fences ...billsync.Fence) ([]int64, error) {
	if err := CheckLease(lease); err != nil {
		return nil, err
	}
	fences = SortFences(fences)
	if len(fences) == 0 {
		return nil, nil
	}
	until := s.now().UTC().Add(lease).UnixNano()
	var lost []int64
	err := s.tx(ctx, "extend leases", func(tx *txn) error {
		order, err := s.lockExtended(ctx, tx, fences)
		if err != nil {
			return err
		}
		var b batch
		updates := make([]*Query, len(order))
		for i, f := range order {
			updates[i] = b.exec(ExtendSQL, f.ChangeID, until, f.Token)
		}
		if err := s.run(ctx, tx, b); err != nil {
			return err
		}
		lost = lost[:0]
		for _, f := range fences {
			i := slices.Index(order, f)
			if i < 0 || updates[i].Affected == 0 {
				lost = append(lost, f.ChangeID)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return slices.Compact(lost), nil
}

// lockExtended takes the partition locks of the running changes among
// fences, where the dialect has them, and returns those fences in the
// order to write them: by partition, then id. Without partition locks it
// returns fences as they are (by id); a fence it leaves out is lost.
func (s *Store) lockExtended(ctx context.Context, tx *txn, fences []billsync.Fence) ([]billsync.Fence, error) {
	if s.d.LockPartition == nil {
		return fences, nil
	}
	ids := make([]int64, len(fences))
	for i, f := range fences {
		ids[i] = f.ChangeID
	}
	list, _ := json.Marshal(ids)
	partOf := make(map[int64]string, len(ids))
	err := func() error {
		rows, err := tx.QueryContext(ctx, s.sql.extendParts, "running", string(list))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var p string
			if err := rows.Scan(&id, &p); err != nil {
				return err
			}
			partOf[id] = p
		}
		return rows.Err()
	}()
	if err != nil {
		return nil, err
	}
	// A row's partition never changes, so reading it before the lock is
	// safe; a change finished meanwhile is caught by ExtendSQL's own
	// conditions.
	order := make([]billsync.Fence, 0, len(partOf))
	for _, f := range fences {
		if _, ok := partOf[f.ChangeID]; ok {
			order = append(order, f)
		}
	}
	slices.SortStableFunc(order, func(a, b billsync.Fence) int { return cmp.Compare(partOf[a.ChangeID], partOf[b.ChangeID]) })
	parts := make([]string, 0, len(order))
	for _, f := range order {
		parts = append(parts, partOf[f.ChangeID])
	}
	parts = slices.Compact(parts)
	var b batch
	for _, p := range parts {
		b.exec(`SELECT `+s.d.LockPartition("$1"), p)
	}
	return order, s.run(ctx, tx, b)
}
