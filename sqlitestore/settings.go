package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// Settings returns every stored setting, ordered by key.
func (s *Store) Settings(ctx context.Context) ([]billsync.Setting, error) {
	rows, err := s.rdb.QueryContext(ctx, sqlstore.SettingsSQL)
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
	err := s.tx(ctx, "set setting "+key, func(tx *sql.Tx) error {
		var old *string
		err := tx.QueryRowContext(ctx, sqlstore.SettingValueSQL, key).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, sqlstore.SetSettingSQL, key, string(value), now.UnixNano(), actor); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, sqlstore.InsertAuditSQL, sqlstore.AuditArgs(now.UnixNano(), actor, key, old, value)...)
		return err
	})
	if err != nil {
		return billsync.Setting{}, err
	}
	return billsync.Setting{Key: key, Value: value, UpdatedAt: now, UpdatedBy: actor}, nil
}

// SeedSettings stores the values whose keys were never stored.
func (s *Store) SeedSettings(ctx context.Context, values map[string]json.RawMessage, actor string) error {
	keys, err := sqlstore.SeedKeys(values)
	if err != nil || len(keys) == 0 {
		return err
	}
	now := s.now().UnixNano()
	return s.tx(ctx, "seed settings", func(tx *sql.Tx) error {
		for _, k := range keys {
			res, err := tx.ExecContext(ctx, sqlstore.SeedSettingSQL, k, string(values[k]), now, actor)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				continue // stored before
			}
			if _, err := tx.ExecContext(ctx, sqlstore.InsertAuditSQL, sqlstore.AuditArgs(now, actor, k, nil, values[k])...); err != nil {
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
	rows, err := s.rdb.QueryContext(ctx, sqlstore.AuditSQL, limit)
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
