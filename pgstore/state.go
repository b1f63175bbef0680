package pgstore

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// SyncState returns the state of one record; ENOTFOUND if never synced.
func (s *Store) SyncState(ctx context.Context, t billsync.ObjectType, billingID string) (*billsync.SyncState, error) {
	st, err := scanSyncState(s.pool.QueryRow(ctx, sqlstore.SyncStateSQL, string(t), billingID))
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
	if err := sqlstore.CheckSalesforceID(sfID); err != nil {
		return nil, err
	}
	st, err := scanSyncState(s.pool.QueryRow(ctx, sqlstore.SyncStateBySalesforceSQL, sfID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, billsync.Errorf(billsync.ENOTFOUND, "no sync state for Salesforce id %s", sfID)
	}
	if err != nil {
		return nil, dbErr("sync state by Salesforce id", err)
	}
	return st, nil
}

func scanSyncState(row pgx.Row) (*billsync.SyncState, error) {
	var r sqlstore.SyncStateRow
	if err := row.Scan(r.Dest()...); err != nil {
		return nil, err
	}
	return r.SyncState()
}

// PutSyncState inserts or replaces the state of (Object, BillingID). A zero
// UpdatedAt is set to now, on st too. A Salesforce id already mapped to
// another record is ECONFLICT.
func (s *Store) PutSyncState(ctx context.Context, st *billsync.SyncState) error {
	args, err := sqlstore.SyncStateArgs(st, s.now)
	if err != nil {
		return err
	}
	return s.tx(ctx, "put sync state", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO sync_state (`+sqlstore.SyncStateColumns+`) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7)
			`+sqlstore.PutSyncStateConflict, args...)
		return err
	})
}

// DeleteSyncState forgets a record; forgetting an unknown record is not an
// error, so a repeated delete is harmless.
func (s *Store) DeleteSyncState(ctx context.Context, t billsync.ObjectType, billingID string) error {
	return s.tx(ctx, "delete sync state", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sqlstore.DeleteSyncStateSQL, string(t), billingID)
		return err
	})
}

// Meta returns a named value.
func (s *Store) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.pool.QueryRow(ctx, sqlstore.MetaSQL, key).Scan(&v)
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
	if err := sqlstore.CheckMetaKey(key); err != nil {
		return err
	}
	return s.tx(ctx, "set meta", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, sqlstore.SetMetaSQL, key, value)
		return err
	})
}
