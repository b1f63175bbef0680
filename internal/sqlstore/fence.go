package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/billsync/billsync"
)

// fenceSQL reads the fence of queued change $1; the dialect's FenceLock
// follows it.
const fenceSQL = `SELECT fence FROM queue WHERE id = $1`

// checkFences refuses, with billsync.ErrLeaseLost, a write made under
// fences (billsync.Fenced) one of which is no longer current: its change
// was claimed again, which bumped its fence, or is gone, finished by the
// claimer that took it over. It runs in the write's transaction, before
// the write, and holds what it read until the commit (FenceLock), so no
// claim can slip in between the check and the write: the write then lands
// before the other claim, as if this claimer had finished in time.
func (s *Store) checkFences(ctx context.Context, tx *txn) error {
	for _, f := range billsync.Fences(ctx) {
		var cur int64
		err := tx.QueryRowContext(ctx, s.sql.fence, f.ChangeID).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("change %d is no longer queued (another claimer finished it): %w", f.ChangeID, billsync.ErrLeaseLost)
		}
		if err != nil {
			return err
		}
		if cur != f.Token {
			return fmt.Errorf("change %d was claimed again (fence %d, this claim's %d): %w", f.ChangeID, cur, f.Token, billsync.ErrLeaseLost)
		}
	}
	return nil
}

// fenced reports whether ctx carries a fence for change id.
func fenced(ctx context.Context, id int64) bool {
	for _, f := range billsync.Fences(ctx) {
		if f.ChangeID == id {
			return true
		}
	}
	return false
}

// lostOrNotQueued is the error of a change that is not queued: lease lost
// when ctx fences it, else ENOTFOUND.
func lostOrNotQueued(ctx context.Context, id int64) error {
	if fenced(ctx, id) {
		return fmt.Errorf("change %d is no longer queued (another claimer finished it): %w", id, billsync.ErrLeaseLost)
	}
	return NotQueued(id)
}
