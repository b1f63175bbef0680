package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sort"

	"github.com/billsync/billsync"
)

// Settings SQL both engines run unchanged.
const (
	SettingsSQL     = `SELECT key, value, updated_at, updated_by FROM settings ORDER BY key`
	SettingValueSQL = `SELECT value FROM settings WHERE key = $1`
	// SetSettingSQL stores $2 under key $1, updated at $3 by $4.
	SetSettingSQL = `INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, updated_by = excluded.updated_by`
	// SeedSettingSQL is SetSettingSQL for a key never stored; it affects
	// no row otherwise. Settings rows are never deleted, so "no row" means
	// "never stored": a key an operator switched off stays off.
	SeedSettingSQL = `INSERT INTO settings (key, value, updated_at, updated_by) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO NOTHING`
	// InsertAuditSQL appends an audit entry: $1 at, $2 actor, $3 key, $4
	// old value (NULL if none), $5 new value.
	InsertAuditSQL = `INSERT INTO settings_audit (at, actor, key, old_value, new_value) VALUES ($1, $2, $3, $4, $5)`
	// AuditSQL lists the newest $1 audit entries first.
	AuditSQL = `SELECT id, at, actor, key, old_value, new_value FROM settings_audit ORDER BY id DESC LIMIT $1`
)

// CheckSetting is EINVALID for an empty key or a value that is not JSON.
func CheckSetting(key string, value json.RawMessage) error {
	if key == "" {
		return billsync.Errorf(billsync.EINVALID, "setting key is empty")
	}
	if !json.Valid(value) {
		return billsync.Errorf(billsync.EINVALID, "setting %s: value is not JSON", key)
	}
	return nil
}

// SeedKeys checks every value of a SeedSettings call and returns their
// keys sorted, so audit ids follow a stable order.
func SeedKeys(values map[string]json.RawMessage) ([]string, error) {
	keys := make([]string, 0, len(values))
	for k, v := range values {
		if err := CheckSetting(k, v); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, nil
}

// AuditArgs are the arguments of InsertAuditSQL; old is nil when the key
// had no value.
func AuditArgs(at int64, actor, key string, old *string, value json.RawMessage) []any {
	return []any{at, actor, key, old, string(value)}
}

// SettingRow is what a row of SettingsSQL is scanned into.
type SettingRow struct {
	st    billsync.Setting
	value string
	at    *int64
}

// Dest are the scan destinations of SettingsSQL.
func (r *SettingRow) Dest() []any { return []any{&r.st.Key, &r.value, &r.at, &r.st.UpdatedBy} }

// Setting is the scanned setting.
func (r *SettingRow) Setting() billsync.Setting {
	st := r.st
	st.Value = json.RawMessage(r.value)
	st.UpdatedAt = TimeFromNanos(r.at)
	return st
}

// AuditRow is what a row of AuditSQL is scanned into.
type AuditRow struct {
	e   billsync.AuditEntry
	at  *int64
	old *string
	nv  string
}

// Dest are the scan destinations of AuditSQL.
func (r *AuditRow) Dest() []any { return []any{&r.e.ID, &r.at, &r.e.Actor, &r.e.Key, &r.old, &r.nv} }

// Entry is the scanned audit entry.
func (r *AuditRow) Entry() billsync.AuditEntry {
	e := r.e
	e.Time = TimeFromNanos(r.at)
	if r.old != nil {
		e.Old = json.RawMessage(*r.old)
	}
	e.New = json.RawMessage(r.nv)
	return e
}

// Settings returns every stored setting, ordered by key.
func (s *Store) Settings(ctx context.Context) ([]billsync.Setting, error) {
	var out []billsync.Setting
	err := queryAll(ctx, s, "settings", SettingsSQL, nil, func(rows *sql.Rows) error {
		var r SettingRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return err
		}
		out = append(out, r.Setting())
		return nil
	})
	return out, err
}

// lockSettings takes the dialect's settings lock, if it has one.
func (s *Store) lockSettings(ctx context.Context, tx *txn) error {
	if s.d.LockSettingsSQL == "" {
		return nil
	}
	_, err := tx.ExecContext(ctx, s.d.LockSettingsSQL)
	return err
}

// SetSetting stores value and audits the change in one transaction.
func (s *Store) SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (billsync.Setting, error) {
	if err := CheckSetting(key, value); err != nil {
		return billsync.Setting{}, err
	}
	now := s.now().UTC()
	err := s.tx(ctx, "set setting "+key, func(tx *txn) error {
		if err := s.lockSettings(ctx, tx); err != nil {
			return err
		}
		var old *string
		err := tx.QueryRowContext(ctx, SettingValueSQL, key).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if _, err := tx.ExecContext(ctx, SetSettingSQL, key, string(value), now.UnixNano(), actor); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, InsertAuditSQL, AuditArgs(now.UnixNano(), actor, key, old, value)...)
		return err
	})
	if err != nil {
		return billsync.Setting{}, err
	}
	return billsync.Setting{Key: key, Value: value, UpdatedAt: now, UpdatedBy: actor}, nil
}

// SeedSettings stores the values whose keys were never stored; of
// processes starting together only the first seeds.
func (s *Store) SeedSettings(ctx context.Context, values map[string]json.RawMessage, actor string) error {
	keys, err := SeedKeys(values)
	if err != nil || len(keys) == 0 {
		return err
	}
	now := s.now().UnixNano()
	return s.tx(ctx, "seed settings", func(tx *txn) error {
		if err := s.lockSettings(ctx, tx); err != nil {
			return err
		}
		for _, k := range keys {
			n, err := rowsAffected(tx.ExecContext(ctx, SeedSettingSQL, k, string(values[k]), now, actor))
			if err != nil {
				return err
			}
			if n == 0 {
				continue // stored before
			}
			if _, err := tx.ExecContext(ctx, InsertAuditSQL, AuditArgs(now, actor, k, nil, values[k])...); err != nil {
				return err
			}
		}
		return nil
	})
}

// Audit returns the newest audit entries first (limit default 100, at most
// 1000).
func (s *Store) Audit(ctx context.Context, limit int) ([]billsync.AuditEntry, error) {
	limit = ClampLimit(limit, DefaultLimit, MaxLimit)
	var out []billsync.AuditEntry
	err := queryAll(ctx, s, "audit", AuditSQL, []any{limit}, func(rows *sql.Rows) error {
		var r AuditRow
		if err := rows.Scan(r.Dest()...); err != nil {
			return err
		}
		out = append(out, r.Entry())
		return nil
	})
	return out, err
}
