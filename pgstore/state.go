package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
)

const syncStateColumns = `object, billing_id, salesforce_id, account_id, billing_version, agreed, updated_at`

// SyncState returns the state of one record; ENOTFOUND if never synced.
func (s *Store) SyncState(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.SyncState, error) {
	row := s.pool.QueryRow(ctx, `SELECT `+syncStateColumns+` FROM sync_state WHERE object = $1 AND billing_id = $2`, string(t), billingID)
	st, err := scanSyncState(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for %s %s", t, billingID)
	}
	if err != nil {
		return nil, dbErr("sync state", err)
	}
	return st, nil
}

// SyncStateBySalesforceID looks a record up by its Salesforce id.
func (s *Store) SyncStateBySalesforceID(ctx context.Context, sfID string) (*billsync.SyncState, error) {
	if sfID == "" {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for an empty Salesforce id")
	}
	row := s.pool.QueryRow(ctx, `SELECT `+syncStateColumns+` FROM sync_state WHERE salesforce_id = $1`, sfID)
	st, err := scanSyncState(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for Salesforce id %s", sfID)
	}
	if err != nil {
		return nil, dbErr("sync state by Salesforce id", err)
	}
	return st, nil
}

func scanSyncState(row pgx.Row) (*billsync.SyncState, error) {
	var st billsync.SyncState
	var object string
	var agreed []byte
	var sfID *string
	var at *int64
	if err := row.Scan(&object, &st.BillingID, &sfID, &st.AccountID, &st.BillingVersion, &agreed, &at); err != nil {
		return nil, err
	}
	st.Object = billsync.ObjectType(object)
	if sfID != nil {
		st.SalesforceID = *sfID
	}
	st.UpdatedAt = goTime(at)
	if err := json.Unmarshal(agreed, &st.Agreed); err != nil {
		return nil, fmt.Errorf("agreed values of %s %s: %w", object, st.BillingID, err)
	}
	return &st, nil
}

// PutSyncState inserts or replaces the state of (Object, BillingID). A zero
// UpdatedAt is set to now, on st too. A Salesforce id already mapped to
// another record is ECONFLICT.
func (s *Store) PutSyncState(ctx context.Context, st *billsync.SyncState) error {
	if st == nil || st.Object == "" || st.BillingID == "" {
		return billsync.Errorf(billsync.EINVALID, "sync state needs an object type and a billing id")
	}
	agreed, err := json.Marshal(st.Agreed)
	if err != nil {
		return billsync.Errorf(billsync.EINVALID, "agreed values of %s %s: %v", st.Object, st.BillingID, err)
	}
	if st.UpdatedAt.IsZero() {
		st.UpdatedAt = s.now().UTC()
	}
	var sfID any
	if st.SalesforceID != "" {
		sfID = st.SalesforceID
	}
	return s.tx(ctx, "put sync state", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sync_state (`+syncStateColumns+`) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7)
			ON CONFLICT (object, billing_id) DO UPDATE SET
				salesforce_id = excluded.salesforce_id, account_id = excluded.account_id,
				billing_version = excluded.billing_version, agreed = excluded.agreed, updated_at = excluded.updated_at`,
			string(st.Object), st.BillingID, sfID, st.AccountID, st.BillingVersion, string(agreed), st.UpdatedAt.UnixNano())
		return err
	})
}

// DeleteSyncState forgets a record; forgetting an unknown record is not an
// error, so a repeated delete is harmless.
func (s *Store) DeleteSyncState(ctx context.Context, t billsync.ObjectType, billingID string) error {
	return s.tx(ctx, "delete sync state", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `DELETE FROM sync_state WHERE object = $1 AND billing_id = $2`, string(t), billingID)
		return err
	})
}

// Meta returns a named value.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.pool.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, dbErr("meta", err)
	}
	return v, true, nil
}

// SetMeta stores a named value.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return billsync.Errorf(billsync.EINVALID, "meta key is empty")
	}
	return s.tx(ctx, "set meta", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
		return err
	})
}
