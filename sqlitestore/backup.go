package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/internal/sqlstore"
)

// Copy is what Backup wrote or Restore put in place.
type Copy struct {
	Path          string
	Bytes         int64
	SchemaVersion int
	// Replaced is where Restore moved the store it replaced ("" when
	// there was none).
	Replaced string
}

// Backup writes a consistent copy of the store at dbPath to dst while
// other processes (serve) may be writing it: VACUUM INTO reads one
// snapshot in a read transaction, which in WAL mode never blocks the
// writer. The copy is written beside dst, checked, synced and then
// renamed into place, so dst is either the whole copy or absent. dst
// must not exist.
func Backup(ctx context.Context, dbPath, dst string) (Copy, error) {
	src, err := existingStore(dbPath)
	if err != nil {
		return Copy{}, err
	}
	dst, err = filepath.Abs(dst)
	if err != nil {
		return Copy{}, fmt.Errorf("backup: %w", err)
	}
	if _, err := os.Lstat(dst); err == nil {
		return Copy{}, billsync.Errorf(billsync.EINVALID, "backup: %s exists; choose a new file name", dst)
	}
	tmp, err := privateTemp(dst)
	if err != nil {
		return Copy{}, err
	}
	defer os.Remove(tmp)

	// Not query_only: SQLite counts writing the VACUUM INTO target as a
	// write. The connection writes nothing to the store itself.
	db, err := sql.Open(driverName, dsn(src, "_pragma=busy_timeout(10000)"))
	if err != nil {
		return Copy{}, fmt.Errorf("backup: open %s: %w", src, err)
	}
	defer db.Close()
	// VACUUM INTO writes into an empty file: the one privateTemp made
	// with the store's private permissions.
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return Copy{}, fmt.Errorf("backup: copy %s: %w", src, err)
	}
	c, err := checkCopy(ctx, tmp)
	if err != nil {
		return Copy{}, fmt.Errorf("backup: the copy fails its check: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return Copy{}, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return Copy{}, fmt.Errorf("backup: %w", err)
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return Copy{}, fmt.Errorf("backup: %w", err)
	}
	c.Path = dst
	return c, nil
}

// Restore replaces the store at dbPath with the backup at src. It holds
// the store's lock exclusively throughout, so it refuses while serve (or
// anything else) has the store open, and nothing opens it meanwhile. The
// backup is copied beside the store and checked before anything is
// replaced; the replaced store (with its write-ahead log) is kept, renamed
// with a ".replaced-<time>" suffix.
func Restore(ctx context.Context, src, dbPath string) (Copy, error) {
	dbPath, err := filepath.Abs(dbPath)
	if err != nil {
		return Copy{}, fmt.Errorf("restore: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dbPath), 0o700); err != nil {
		return Copy{}, fmt.Errorf("restore: %w", err)
	}
	lock, err := lockStore(dbPath, true)
	if err != nil {
		return Copy{}, err
	}
	defer lock.release()

	tmp, err := privateTemp(dbPath)
	if err != nil {
		return Copy{}, err
	}
	defer os.Remove(tmp)
	if err := copyFile(src, tmp); err != nil {
		return Copy{}, fmt.Errorf("restore: %w", err)
	}
	c, err := checkCopy(ctx, tmp)
	if err != nil {
		return Copy{}, fmt.Errorf("restore: %s is not a usable billsync backup: %w", src, err)
	}
	if c.SchemaVersion > sqlstore.LatestSchemaVersion() {
		return Copy{}, billsync.Errorf(billsync.EINVALID, "restore: %s has schema version %d, newer than this build knows (%d); restore it with a newer billsync",
			src, c.SchemaVersion, sqlstore.LatestSchemaVersion())
	}
	if err := syncFile(tmp); err != nil {
		return Copy{}, fmt.Errorf("restore: %w", err)
	}
	if c.Replaced, err = moveAside(dbPath); err != nil {
		return Copy{}, fmt.Errorf("restore: keeping the current store: %w", err)
	}
	if err := os.Rename(tmp, dbPath); err != nil {
		return Copy{}, fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(filepath.Dir(dbPath)); err != nil {
		return Copy{}, fmt.Errorf("restore: %w", err)
	}
	c.Path = dbPath
	return c, nil
}

// existingStore is dbPath made absolute, if a store is there. Backup
// must not create an empty store where the operator mistyped a path.
func existingStore(dbPath string) (string, error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return "", fmt.Errorf("backup: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", billsync.Errorf(billsync.ENOTFOUND, "backup: no store at %s (is --data right?)", abs)
		}
		return "", fmt.Errorf("backup: %w", err)
	}
	if st.Size() == 0 {
		return "", billsync.Errorf(billsync.ENOTFOUND, "backup: the store at %s is empty", abs)
	}
	return abs, nil
}

func dsn(path, query string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + query
}

// checkCopy opens a copy, checks its integrity and reads its schema
// version and size.
func checkCopy(ctx context.Context, path string) (Copy, error) {
	db, err := sql.Open(driverName, dsn(path, "_pragma=busy_timeout(10000)"))
	if err != nil {
		return Copy{}, err
	}
	defer db.Close()
	var ok string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil {
		return Copy{}, err
	}
	if ok != "ok" {
		return Copy{}, fmt.Errorf("integrity check: %s", ok)
	}
	var v sql.NullInt64
	if err := db.QueryRowContext(ctx, sqlstore.SchemaVersionSQL).Scan(&v); err != nil {
		return Copy{}, fmt.Errorf("no billsync schema: %w", err)
	}
	if !v.Valid {
		return Copy{}, errors.New("no billsync schema version recorded")
	}
	// A clean close folds any write-ahead log back in, so the single
	// file is the whole copy.
	if err := db.Close(); err != nil {
		return Copy{}, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return Copy{}, err
	}
	return Copy{Bytes: st.Size(), SchemaVersion: int(v.Int64)}, nil
}

// privateTemp creates an empty file beside path, readable by this user
// only (the store holds webhook payloads and settings).
func privateTemp(path string) (string, error) {
	var b [6]byte
	_, _ = rand.Read(b[:])
	tmp := path + ".tmp-" + hex.EncodeToString(b[:])
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("create %s: %w", tmp, err)
	}
	return tmp, f.Close()
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// moveAside renames the store at dbPath and its write-ahead log (which
// may hold commits a killed process never checkpointed) out of the way
// together, and drops its shared-memory index, which SQLite rebuilds. It
// returns the new name, or "" when there was no store.
func moveAside(dbPath string) (string, error) {
	if _, err := os.Stat(dbPath); errors.Is(err, fs.ErrNotExist) {
		return "", removeIfExists(dbPath+"-wal", dbPath+"-shm")
	}
	aside := dbPath + ".replaced-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := renameIfExists(dbPath+"-wal", aside+"-wal"); err != nil {
		return "", err
	}
	if err := os.Rename(dbPath, aside); err != nil {
		return "", err
	}
	return aside, removeIfExists(dbPath+"-shm", dbPath+"-journal")
}

func renameIfExists(from, to string) error {
	if err := os.Rename(from, to); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

func removeIfExists(paths ...string) error {
	for _, p := range paths {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}
