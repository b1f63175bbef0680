package mock

import (
	"context"
	"slices"
	"strconv"
	"time"

	"github.com/billsync/billsync"
)

// AppendLog adds entries; a zero Time is the time of the append.
func (s *Store) AppendLog(ctx context.Context, entries ...billsync.LogEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	s.appendLogLocked(entries)
	return nil
}

func (s *Store) appendLogLocked(entries []billsync.LogEntry) {
	now := s.now()
	for _, e := range entries {
		s.logID++
		e.ID = s.logID
		if e.Time.IsZero() {
			e.Time = now
		}
		e.Time = e.Time.UTC()
		s.log = append(s.log, e)
	}
}

// Logs returns entries matching f, newest first, a page at a time.
func (s *Store) Logs(ctx context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	before, err := parseCursor(f.Cursor)
	if err != nil {
		return nil, "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	limit := pageSize(f.Limit)
	var out []billsync.LogEntry
	for i := len(s.log) - 1; i >= 0; i-- {
		e := s.log[i]
		if e.ID >= before || !logMatches(e, f) {
			continue
		}
		if len(out) == limit {
			return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, e)
	}
	return out, "", nil
}

func logMatches(e billsync.LogEntry, f billsync.LogFilter) bool {
	return (f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Object == "" || e.Object == f.Object) &&
		(f.Outcome == "" || e.Outcome == f.Outcome) &&
		(f.Direction == "" || e.Direction == f.Direction) &&
		(f.Reason == "" || e.Reason == f.Reason) &&
		(f.Record == "" || e.BillingID == f.Record || e.SalesforceID == f.Record)
}

// LogEntries returns every entry, oldest first.
func (s *Store) LogEntries() []billsync.LogEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.log)
}

// PruneLogs deletes entries older than before.
func (s *Store) PruneLogs(ctx context.Context, before time.Time) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.log)
	s.log = slices.DeleteFunc(s.log, func(e billsync.LogEntry) bool { return e.Time.Before(before) })
	return int64(n - len(s.log)), nil
}

// pageSize applies the stores' paging rule: default 100, at most 1000.
func pageSize(limit int) int {
	switch {
	case limit <= 0:
		return 100
	case limit > 1000:
		return 1000
	}
	return limit
}

// parseCursor reads a page cursor: the id below which the page starts.
func parseCursor(c string) (int64, error) {
	if c == "" {
		return 1<<63 - 1, nil
	}
	n, err := strconv.ParseInt(c, 10, 64)
	if err != nil || n <= 0 {
		return 0, billsync.Errorf(billsync.EINVALID, "bad cursor %q", c)
	}
	return n, nil
}
