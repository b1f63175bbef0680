package pgstore

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// settingsLockSQL serialises settings writers across replicas, so that the
// old value an audit entry records is the value the write replaced. Setting
// writes are rare; one lock for all keys costs nothing.
const settingsLockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('billsync.settings:' || coalesce(current_schema(), ''), 0))`

// Settings returns every stored setting, ordered by key.
func (s *Store) Settings(ctx context.Context) ([]billsync.Setting, error) {
	rows, err := s.pool.Query(ctx, sqlstore.SettingsSQL)
	if err != nil {
		return nil, dbErr("settings", err)
	}
	defer rows.Close()
	var out []billsync.Setting
	for rows.Next() {
		var r sqlstore.SettingRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return nil, dbErr("settings", err)
		}
		out = append(out, r.Setting())
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("settings", err)
	}
	return out, nil
}

// SetSetting stores value and audits the change in one transaction.
func (s *Store) SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (billsync.Setting, error) {
	if err := sqlstore.CheckSetting(key, value); err != nil {
		return billsync.Setting{}, err
	}
	now := s.now().UTC()
	err := s.tx(ctx, "set setting "+key, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, settingsLockSQL); err != nil {
			return err
		}
		var old *string
		err := tx.QueryRow(ctx, sqlstore.SettingValueSQL, key).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, sqlstore.SetSettingSQL, key, string(value), now.UnixNano(), actor); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, sqlstore.InsertAuditSQL, sqlstore.AuditArgs(now.UnixNano(), actor, key, old, value)...)
		return err
	})
	if err != nil {
		return billsync.Setting{}, err
	}
	return billsync.Setting{Key: key, Value: value, UpdatedAt: now, UpdatedBy: actor}, nil
}

// SeedSettings stores the values whose keys were never stored; of replicas
// starting together only the first seeds.
func (s *Store) SeedSettings(ctx context.Context, values map[string]json.RawMessage, actor string) error {
	keys, err := sqlstore.SeedKeys(values)
	if err != nil || len(keys) == 0 {
		return err
	}
	now := s.now().UnixNano()
	return s.tx(ctx, "seed settings", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, settingsLockSQL); err != nil {
			return err
		}
		for _, k := range keys {
			tag, err := tx.Exec(ctx, sqlstore.SeedSettingSQL, k, string(values[k]), now, actor)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue // stored before
			}
			if _, err := tx.Exec(ctx, sqlstore.InsertAuditSQL, sqlstore.AuditArgs(now, actor, k, nil, values[k])...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Audit returns the newest audit entries first (limit default 100, at most
// 1000).
func (s *Store) Audit(ctx context.Context, limit int) ([]billsync.AuditEntry, error) {
	limit = sqlstore.ClampLimit(limit, sqlstore.DefaultLimit, sqlstore.MaxLimit)
	rows, err := s.pool.Query(ctx, sqlstore.AuditSQL, limit)
	if err != nil {
		return nil, dbErr("audit", err)
	}
	defer rows.Close()
	var out []billsync.AuditEntry
	for rows.Next() {
		var r sqlstore.AuditRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return nil, dbErr("audit", err)
		}
		out = append(out, r.Entry())
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("audit", err)
	}
	return out, nil
}
