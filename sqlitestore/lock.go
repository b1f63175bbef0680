package sqlitestore

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/billsync/billsync"
)

// A SQLite store belongs to one billsync process: Open releases every
// lease at start on that assumption, and a restore replaces the file
// under it. Every Open holds a shared lock on a file beside the store
// (short-lived commands may share the file with serve); a restore holds
// it exclusively, so it cannot start while the store is open anywhere,
// and nothing can open the store while it runs. The kernel drops a lock
// when its process dies, so a crash leaves nothing to clean up.

// LockPath is the lock file of the store at dbPath.
func LockPath(dbPath string) string { return dbPath + ".lock" }

// fileLock is a held lock on a store's lock file.
type fileLock struct {
	f    *os.File
	once sync.Once
}

// lockStore takes the lock of the store at dbPath: exclusive for a
// restore, shared for everything else.
func lockStore(dbPath string, exclusive bool) (*fileLock, error) {
	path := LockPath(dbPath)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite store: lock %s: %w", path, err)
	}
	if err := tryLock(f, exclusive); err != nil {
		_ = f.Close()
		if !errors.Is(err, errLocked) {
			return nil, fmt.Errorf("sqlite store: lock %s: %w", path, err)
		}
		if exclusive {
			return nil, billsync.Errorf(billsync.EUNAVAILABLE, "sqlite store: %s is open in a running billsync (serve); stop it first", dbPath)
		}
		return nil, billsync.Errorf(billsync.EUNAVAILABLE, "sqlite store: %s is being restored; start billsync once the restore has finished", dbPath)
	}
	return &fileLock{f: f}, nil
}

// release drops the lock. The file stays: removing it would let a
// process that opened it before the removal lock a file nobody else sees.
func (l *fileLock) release() {
	if l == nil {
		return
	}
	l.once.Do(func() {
		_ = unlock(l.f)
		_ = l.f.Close()
	})
}

// Close closes the store, then lets another process have it.
func (s *Store) Close() error {
	err := s.Store.Close()
	s.lock.release()
	return err
}
