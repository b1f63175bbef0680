package sqlstore

import "time"

// Times are stored as UTC unix nanoseconds; the zero time as NULL.

// NanosOrNull is t as stored: its unix nanoseconds, or nil (NULL) for the
// zero time.
func NanosOrNull(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixNano()
}

// TimeFromNanos is a stored time in UTC; the zero time for NULL (nil).
// Both drivers scan a nullable integer column into a *int64.
func TimeFromNanos(n *int64) time.Time {
	if n == nil {
		return time.Time{}
	}
	return time.Unix(0, *n).UTC()
}
