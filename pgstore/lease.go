package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync/internal/sqlstore"
)

// TryLease takes or renews a named lease in one upsert. Concurrent takers
// of a free name serialise on its primary key: the first inserts, the
// others see its row and update it only if it is theirs or has run out, so
// two callers never both come away holding it.
func (s *Store) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	args, err := sqlstore.TryLeaseArgs(name, owner, ttl, s.now)
	if err != nil {
		return false, err
	}
	var held bool
	err = s.tx(ctx, "try lease", func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, sqlstore.TryLeaseSQL, args...)
		held = err == nil && tag.RowsAffected() == 1
		return err
	})
	return held, err
}

// ReleaseLease gives a lease up if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.tx(ctx, "release lease", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sqlstore.ReleaseLeaseSQL, name, owner)
		return err
	})
}
