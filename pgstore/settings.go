package pgstore

import (
	"context"
	"encoding/json"
	"errors"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
)

// settingsLockSQL serialises settings writers across replicas, so that the
// old value an audit entry records is the value the write replaced. Setting
// writes are rare; one lock for all keys costs nothing.
const settingsLockSQL = `SELECT pg_advisory_xact_lock(hashtextextended('billsync.settings:' || coalesce(current_schema(), ''), 0))`

// Settings returns every stored setting, ordered by key.
func (s *Store) Settings(ctx context.Context) ([]billsync.Setting, error) {
	rows, err := s.pool.Query(ctx, `SELECT key, value, updated_at, updated_by FROM settings ORDER BY key`)
	if err != nil {
		return nil, dbErr("settings", err)
	}
	defer rows.Close()
	var out []billsync.Setting
	for rows.Next() {
		var st billsync.Setting
		var value string
		var at *int64
		if err := rows.Scan(&st.Key, &value, &at, &st.UpdatedBy); err != nil {
			return nil, dbErr("settings", err)
		}
		st.Value = json.RawMessage(value)
		st.UpdatedAt = goTime(at)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("settings", err)
	}
	return out, nil
}

// SetSetting stores value and audits the change in one transaction.
func (s *Store) SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (billsync.Setting, error) {
	if key == "" {
		return billsync.Setting{}, billsync.Errorf(billsync.EINVALID, "setting key is empty")
	}
	if !json.Valid(value) {
		return billsync.Setting{}, billsync.Errorf(billsync.EINVALID, "setting %s: value is not JSON", key)
	}
	now := s.now().UTC()
	err := s.tx(ctx, "set setting "+key, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, settingsLockSQL); err != nil {
			return err
		}
		var old *string
		err := tx.QueryRow(ctx, `SELECT value FROM settings WHERE key = $1`, key).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`,
			key, string(value), now.UnixNano(), actor); err != nil {
			return err
		}
		return insertAudit(ctx, tx, now.UnixNano(), actor, key, old, value)
	})
	if err != nil {
		return billsync.Setting{}, err
	}
	return billsync.Setting{Key: key, Value: value, UpdatedAt: now, UpdatedBy: actor}, nil
}

// SeedSettings stores the values whose keys were never stored.
func (s *Store) SeedSettings(ctx context.Context, values map[string]json.RawMessage, actor string) error {
	keys := make([]string, 0, len(values))
	for k, v := range values {
		if k == "" {
			return billsync.Errorf(billsync.EINVALID, "setting key is empty")
		}
		if !json.Valid(v) {
			return billsync.Errorf(billsync.EINVALID, "setting %s: value is not JSON", k)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys) // audit ids in a stable order
	now := s.now().UnixNano()
	return s.tx(ctx, "seed settings", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, settingsLockSQL); err != nil {
			return err
		}
		for _, k := range keys {
			// Settings rows are never deleted, so "no row" means "never
			// stored": a key an operator switched off stays off, and of
			// replicas starting together only the first seeds.
			tag, err := tx.Exec(ctx, `INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO NOTHING`, k, string(values[k]), now, actor)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				continue
			}
			if err := insertAudit(ctx, tx, now, actor, k, nil, values[k]); err != nil {
				return err
			}
		}
		return nil
	})
}

func insertAudit(ctx context.Context, tx pgx.Tx, at int64, actor, key string, old *string, value json.RawMessage) error {
	_, err := tx.Exec(ctx, `INSERT INTO settings_audit (at, actor, key, old_value, new_value) VALUES ($1, $2, $3, $4, $5)`,
		at, actor, key, old, string(value))
	return err
}

// Audit returns the newest audit entries first (limit default 100, at most
// 1000).
func (s *Store) Audit(ctx context.Context, limit int) ([]billsync.AuditEntry, error) {
	limit = clampLimit(limit, 100, 1000)
	rows, err := s.pool.Query(ctx, `SELECT id, at, actor, key, old_value, new_value FROM settings_audit ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, dbErr("audit", err)
	}
	defer rows.Close()
	var out []billsync.AuditEntry
	for rows.Next() {
		var e billsync.AuditEntry
		var at *int64
		var old *string
		var nv string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Key, &old, &nv); err != nil {
			return nil, dbErr("audit", err)
		}
		e.Time = goTime(at)
		if old != nil {
			e.Old = json.RawMessage(*old)
		}
		e.New = json.RawMessage(nv)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("audit", err)
	}
	return out, nil
}
