package sqlstore

import (
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
