package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/billsync/billsync"
)

// SyncStateColumns are the columns SyncStateRow scans and SyncStateArgs
// fills, in their order.
const SyncStateColumns = `object, billing_id, salesforce_id, account_id, billing_version, agreed, updated_at`

// Sync state and meta SQL both engines run unchanged.
const (
	SyncStateSQL             = `SELECT ` + SyncStateColumns + ` FROM sync_state WHERE object = $1 AND billing_id = $2`
	SyncStateBySalesforceSQL = `SELECT ` + SyncStateColumns + ` FROM sync_state WHERE salesforce_id = $1`
	DeleteSyncStateSQL       = `DELETE FROM sync_state WHERE object = $1 AND billing_id = $2`
	// PutSyncStateConflict follows the VALUES of an insert of
	// SyncStateColumns: the upsert of (object, billing_id).
	PutSyncStateConflict = `ON CONFLICT (object, billing_id) DO UPDATE SET
			salesforce_id = excluded.salesforce_id, account_id = excluded.account_id,
			billing_version = excluded.billing_version, agreed = excluded.agreed, updated_at = excluded.updated_at`

	MetaSQL    = `SELECT value FROM meta WHERE key = $1`
	SetMetaSQL = `INSERT INTO meta (key, value) VALUES ($1, $2)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`
)

// SyncStateArgs validates st for PutSyncState and returns the arguments
// of an insert of SyncStateColumns: agreed values as a JSON string, an
// empty Salesforce id as NULL. A zero UpdatedAt is set to now(), on st too.
func SyncStateArgs(st *billsync.SyncState, now func() time.Time) ([]any, error) {
	if st == nil || st.Object == "" || st.BillingID == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "sync state needs an object type and a billing id")
	}
	agreed, err := json.Marshal(st.Agreed)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "agreed values of %s %s: %v", st.Object, st.BillingID, err)
	}
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = now().UTC()
	}
	var sfID any
	if st.SalesforceID != "" {
		sfID = st.SalesforceID
	}
	return []any{string(st.Object), st.BillingID, sfID, st.AccountID, st.BillingVersion, string(agreed), st.UpdatedAt.UnixNano()}, nil
}

// CheckSalesforceID is ENOTFOUND for an empty Salesforce id, which no
// record has.
func CheckSalesforceID(sfID string) error {
	if sfID == "" {
		return billsync.Errorf(billsync.ENOTFOUND, "no sync state for an empty Salesforce id")
	}
	return nil
}

// CheckMetaKey is EINVALID for an empty meta key.
func CheckMetaKey(key string) error {
	if key == "" {
		return billsync.Errorf(billsync.EINVALID, "meta key is empty")
	}
	return nil
}

// SyncStateRow is what a row of SyncStateColumns is scanned into.
type SyncStateRow struct {
	st     billsync.SyncState
	object string
	agreed []byte
	sfID   *string
	at     *int64
}

// Dest are the scan destinations of SyncStateColumns.
func (r *SyncStateRow) Dest() []any {
	return []any{&r.object, &r.st.BillingID, &r.sfID, &r.st.AccountID, &r.st.BillingVersion, &r.agreed, &r.at}
}

// SyncState is the scanned state.
func (r *SyncStateRow) SyncState() (*billsync.SyncState, error) {
	st := r.st
	st.Object = billsync.ObjectType(r.object)
	if r.sfID != nil {
		st.SalesforceID = *r.sfID
	}
	st.UpdatedAt = TimeFromNanos(r.at)
	var err error
	if st.Agreed, err = decodeAgreed(r.agreed); err != nil {
		return nil, fmt.Errorf("agreed values of %s %s: %w", r.object, st.BillingID, err)
	}
	return &st, nil
}

// SyncState returns the state of one record; ENOTFOUND if never synced.
func (s *Store) SyncState(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.SyncState, error) {
	st, err := scanSyncState(s.readRow(ctx, SyncStateSQL, string(t), billingID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for %s %s", t, billingID)
	}
	if err != nil {
		return nil, s.err("sync state", err)
	}
	return st, nil
}

// SyncStateBySalesforceID looks a record up by its Salesforce id.
func (s *Store) SyncStateBySalesforceID(ctx context.Context, sfID string) (*billsync.SyncState, error) {
	if err := CheckSalesforceID(sfID); err != nil {
		return nil, err
	}
	st, err := scanSyncState(s.readRow(ctx, SyncStateBySalesforceSQL, sfID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for Salesforce id %s", sfID)
	}
	if err != nil {
		return nil, s.err("sync state by Salesforce id", err)
	}
	return st, nil
}

func scanSyncState(row *sql.Row) (*billsync.SyncState, error) {
	var r SyncStateRow
	if err := row.Scan(r.Dest()...); err != nil {
		return nil, err
	}
	return r.SyncState()
}

// PutSyncState inserts or replaces the state of (Object, BillingID). A zero
// UpdatedAt is set to now, on st too. A Salesforce id already mapped to
// another record is ECONFLICT.
func (s *Store) PutSyncState(ctx context.Context, st *billsync.SyncState) error {
	args, err := SyncStateArgs(st, s.now)
	if err != nil {
		return err
	}
	return s.tx(ctx, "put sync state", func(tx *txn) error {
		if err := s.checkFences(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, s.sql.putSyncState, args...)
		return err
	})
}

// DeleteSyncState forgets a record; forgetting an unknown record is not an
// error, so a repeated delete is harmless.
func (s *Store) DeleteSyncState(ctx context.Context, t billsync.ObjectType, billingID string) error {
	return s.tx(ctx, "delete sync state", func(tx *txn) error {
		if err := s.checkFences(ctx, tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, DeleteSyncStateSQL, string(t), billingID)
		return err
	})
}

// Meta returns a named value.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.readRow(ctx, MetaSQL, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, s.err("meta", err)
	}
	return v, true, nil
}

// SetMeta stores a named value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if err := CheckMetaKey(key); err != nil {
		return err
	}
	return s.tx(ctx, "set meta", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, SetMetaSQL, key, value)
		return err
	})
}
