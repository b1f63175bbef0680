package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
)

// TryLease takes or renews a named lease in one upsert. Concurrent takers
// of a free name serialise on its primary key: the first inserts, the
// others see its row and update it only if it is theirs or has run out, so
// two callers never both come away holding it.
func (s *Store) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, billsync.Errorf(billsync.EINVALID, "a lease needs a name, an owner and a positive ttl")
	}
	now := s.now().UTC()
	var held bool
	err := s.tx(ctx, "try lease", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
			ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE leases.owner = excluded.owner OR leases.expires_at <= $4`,
			name, owner, now.Add(ttl).UnixNano(), now.UnixNano())
		held = err == nil && tag.RowsAffected() == 1
		return err
	})
	return held, err
}

// ReleaseLease gives a lease up if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.tx(ctx, "release lease", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND owner = $2`, name, owner)
		return err
	})
}
