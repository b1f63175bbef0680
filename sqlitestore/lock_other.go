//go:build !unix

package sqlitestore

import (
	"errors"
	"os"
)

var errLocked = errors.New("locked")

// tryLock does not lock where flock is missing: there the operator must
// stop serve before a restore themselves (docs/operations.md).
func tryLock(*os.File, bool) error { return nil }

func unlock(*os.File) error { return nil }
