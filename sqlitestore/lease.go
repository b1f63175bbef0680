package sqlitestore

import (
	"context"
	"database/sql"
	"time"

	"github.com/billsync/billsync/internal/sqlstore"
)

// TryLease takes or renews a named lease in one immediate transaction, so
// two callers never both come away holding it.
func (s *Store) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	args, err := sqlstore.TryLeaseArgs(name, owner, ttl, s.now)
	if err != nil {
		return false, err
	}
	var held bool
	err = s.tx(ctx, "try lease", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, sqlstore.TryLeaseSQL, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		held = n == 1
		return err
	})
	return held, err
}

// ReleaseLease gives a lease up if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.tx(ctx, "release lease", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, sqlstore.ReleaseLeaseSQL, name, owner)
		return err
	})
}
