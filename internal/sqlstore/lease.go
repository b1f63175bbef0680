package sqlstore

import (
	"context"
	"time"

	"github.com/billsync/billsync"
)

// Named lease SQL both engines run unchanged.
const (
	// TryLeaseSQL takes lease $1 for owner $2 until $3 unless another
	// owner holds it beyond now ($4); it affects one row when $2 holds the
	// lease afterwards.
	TryLeaseSQL = `INSERT INTO leases (name, owner, expires_at) VALUES ($1, $2, $3)
	ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
	WHERE leases.owner = excluded.owner OR leases.expires_at <= $4`
	// ReleaseLeaseSQL gives lease $1 up if owner $2 holds it.
	ReleaseLeaseSQL = `DELETE FROM leases WHERE name = $1 AND owner = $2`
)

// TryLeaseArgs checks a TryLease call and returns the arguments of
// TryLeaseSQL, the lease running from now() for ttl.
func TryLeaseArgs(name, owner string, ttl time.Duration, now func() time.Time) ([]any, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "a lease needs a name, an owner and a positive ttl")
	}
	t := now().UTC()
	return []any{name, owner, t.Add(ttl).UnixNano(), t.UnixNano()}, nil
}

// TryLease takes or renews a named lease in one statement. Concurrent
// takers of a free name serialise on its primary key (or on SQLite's single
// writer): the first inserts, the others see its row and update it only if
// it is theirs or has run out, so two callers never both come away holding
// it.
func (s *Store) TryLease(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	args, err := TryLeaseArgs(name, owner, ttl, s.now)
	if err != nil {
		return false, err
	}
	var held bool
	err = s.tx(ctx, "try lease", func(tx *txn) error {
		n, err := rowsAffected(tx.ExecContext(ctx, TryLeaseSQL, args...))
		held = n == 1
		return err
	})
	return held, err
}

// ReleaseLease gives a lease up if owner holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, owner string) error {
	return s.tx(ctx, "release lease", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, ReleaseLeaseSQL, name, owner)
		return err
	})
}
