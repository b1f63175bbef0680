package mock

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/billsync/billsync"
)

// queue is the Store's work queue: changes in id order, the head of each
// partition claimable once its retry time came and while no lease on it
// runs.
type queue struct {
	nextID int64
	items  []*item // queued changes, ascending ids
	seen   map[string]bool
	dead   []billsync.DeadLetter
	replay map[string]billsync.ReplayID
}

type item struct {
	c       billsync.Change
	retryAt time.Time
	leased  time.Time // lease end; zero when not claimed
}

func cloneChange(c billsync.Change) billsync.Change {
	c.Payload = slices.Clone(c.Payload)
	return c
}

func checkChange(c *billsync.Change) error {
	if c == nil || c.Partition == "" {
		return billsync.Errorf(billsync.EINVALID, "a change needs a partition")
	}
	return nil
}

// enqueueLocked stores c unless its event id was seen; it reports a
// duplicate.
func (s *Store) enqueueLocked(c *billsync.Change, now time.Time) bool {
	q := &s.queue
	if q.seen == nil {
		q.seen = map[string]bool{}
	}
	if c.EventID != "" && q.seen[c.EventID] {
		return true
	}
	if c.EventID != "" {
		q.seen[c.EventID] = true
	}
	q.nextID++
	c.ID, c.EnqueuedAt, c.Attempt = q.nextID, now, 0
	q.items = append(q.items, &item{c: cloneChange(*c)})
	return false
}

// Enqueue stores changes, skipping event ids seen before; it sets ID and
// EnqueuedAt on each stored change.
func (s *Store) Enqueue(ctx context.Context, changes ...*billsync.Change) ([]bool, error) {
	for _, c := range changes {
		if err := checkChange(c); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	dup := make([]bool, len(changes))
	for i, c := range changes {
		dup[i] = s.enqueueLocked(c, now)
	}
	return dup, nil
}

// EnqueueStreamEvent stores c (which may be nil) and moves the channel's
// checkpoint, both or neither.
func (s *Store) EnqueueStreamEvent(ctx context.Context, channel string, replayID billsync.ReplayID, c *billsync.Change) (bool, error) {
	if err := checkReplay(channel, replayID); err != nil {
		return false, err
	}
	if c != nil {
		if err := checkChange(c); err != nil {
			return false, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dup := false
	if c != nil {
		dup = s.enqueueLocked(c, s.now())
	}
	s.setReplayLocked(channel, replayID)
	return dup, nil
}

// checkReplay refuses what the SQL stores refuse.
func checkReplay(channel string, replayID billsync.ReplayID) error {
	if channel == "" {
		return billsync.Errorf(billsync.EINVALID, "stream channel is empty")
	}
	if len(replayID) == 0 {
		return billsync.Errorf(billsync.EINVALID, "stream replay id is empty")
	}
	return nil
}

// setReplayLocked keeps a copy: the caller's slice is its own, as a
// database's copy would be.
func (s *Store) setReplayLocked(channel string, replayID billsync.ReplayID) {
	if s.queue.replay == nil {
		s.queue.replay = map[string]billsync.ReplayID{}
	}
	s.queue.replay[channel] = slices.Clone(replayID)
}

// ReplayID returns a copy of a channel's checkpoint.
func (s *Store) ReplayID(ctx context.Context, channel string) (billsync.ReplayID, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.queue.replay[channel]
	return slices.Clone(id), ok, nil
}

// SetReplayID moves a channel's checkpoint.
func (s *Store) SetReplayID(ctx context.Context, channel string, replayID billsync.ReplayID) error {
	if err := checkReplay(channel, replayID); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setReplayLocked(channel, replayID)
	return nil
}

// Claim leases up to max partition heads whose retry time came; a head
// whose lease ran out is claimed again.
func (s *Store) Claim(ctx context.Context, max int, leaseFor time.Duration) ([]billsync.Change, error) {
	runs, err := s.ClaimRuns(ctx, max, 1, leaseFor)
	var out []billsync.Change
	for _, r := range runs {
		out = append(out, r...)
	}
	return out, err
}

// ClaimRuns leases up to max partition runs: a due head and up to
// perRun-1 changes behind it in its partition.
func (s *Store) ClaimRuns(ctx context.Context, max, perRun int, leaseFor time.Duration) ([][]billsync.Change, error) {
	if leaseFor <= 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "claim lease must be positive, got %s", leaseFor)
	}
	if perRun < 1 {
		perRun = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	runs := map[string]int{} // partition → index in out; -1: not due
	var out [][]billsync.Change
	for _, it := range s.queue.items {
		i, seen := runs[it.c.Partition]
		if !seen {
			// The partition's head.
			if len(out) >= max || now.Before(it.leased) || now.Before(it.retryAt) {
				runs[it.c.Partition] = -1
				continue
			}
			i = len(out)
			runs[it.c.Partition] = i
			out = append(out, nil)
		}
		if i < 0 || len(out[i]) >= perRun {
			continue
		}
		it.c.Attempt++
		it.c.Fence++
		it.leased = now.Add(leaseFor)
		out[i] = append(out[i], cloneChange(it.c))
	}
	return out, nil
}

// checkFencesLocked refuses a write under a fence (billsync.Fenced) whose
// change was claimed again or is no longer queued.
func (s *Store) checkFencesLocked(ctx context.Context) error {
	for _, f := range billsync.Fences(ctx) {
		_, it, err := s.findLocked(f.ChangeID)
		if err != nil {
			return fmt.Errorf("change %d is no longer queued: %w", f.ChangeID, billsync.ErrLeaseLost)
		}
		if it.c.Fence != f.Token {
			return fmt.Errorf("change %d was claimed again: %w", f.ChangeID, billsync.ErrLeaseLost)
		}
	}
	return nil
}

// Release hands claimed changes back unattempted: under fences, all of
// them or none.
func (s *Store) Release(ctx context.Context, ids ...int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	for _, id := range ids {
		_, it, err := s.findLocked(id)
		if err != nil || it.leased.IsZero() {
			continue
		}
		it.leased = time.Time{}
		it.c.Attempt = max(it.c.Attempt-1, 0)
	}
	return nil
}

// Extend renews the leases of claimed changes whose fences are current
// and that are still leased, and returns the ids of the others in id
// order.
func (s *Store) Extend(ctx context.Context, leaseFor time.Duration, fences ...billsync.Fence) ([]int64, error) {
	if leaseFor <= 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "claim lease must be positive, got %s", leaseFor)
	}
	fences = slices.Clone(fences)
	slices.SortFunc(fences, func(a, b billsync.Fence) int { return cmp.Compare(a.ChangeID, b.ChangeID) })
	s.mu.Lock()
	defer s.mu.Unlock()
	until := s.now().Add(leaseFor)
	var lost []int64
	for _, f := range fences {
		// A change released or retried has no lease: not running any more.
		_, it, err := s.findLocked(f.ChangeID)
		if err != nil || it.c.Fence != f.Token || it.leased.IsZero() {
			lost = append(lost, f.ChangeID)
			continue
		}
		it.leased = until
	}
	return slices.Compact(lost), nil
}

func (s *Store) findLocked(id int64) (int, *item, error) {
	for i, it := range s.queue.items {
		if it.c.ID == id {
			return i, it, nil
		}
	}
	return 0, nil, billsync.Errorf(billsync.ENOTFOUND, "change %d is not queued", id)
}

// Complete removes a change and appends its log entries.
func (s *Store) Complete(ctx context.Context, id int64, entries ...billsync.LogEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	i, _, err := s.findLocked(id)
	if err != nil {
		return err
	}
	s.queue.items = slices.Delete(s.queue.items, i, i+1)
	s.appendLogLocked(entries)
	return nil
}

// Retry releases a change to be claimed again no earlier than at.
func (s *Store) Retry(ctx context.Context, id int64, at time.Time, lastError string, entries ...billsync.LogEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	_, it, err := s.findLocked(id)
	if err != nil {
		return err
	}
	it.retryAt, it.leased, it.c.LastError = at, time.Time{}, lastError
	s.appendLogLocked(entries)
	return nil
}

// Bury moves a change to the dead letters.
func (s *Store) Bury(ctx context.Context, id int64, code, msg string, entries ...billsync.LogEntry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkFencesLocked(ctx); err != nil {
		return err
	}
	i, it, err := s.findLocked(id)
	if err != nil {
		return err
	}
	s.queue.items = slices.Delete(s.queue.items, i, i+1)
	dead := it.c
	dead.Fence = 0 // a dead letter is nobody's claim
	s.queue.dead = append(s.queue.dead, billsync.DeadLetter{Change: dead, DeadAt: s.now(), ErrorCode: code, Error: msg})
	s.appendLogLocked(entries)
	return nil
}

// DeadLetters lists dead letters, oldest first; limit ≤ 0 lists all.
func (s *Store) DeadLetters(ctx context.Context, limit int) ([]billsync.DeadLetter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.queue.dead)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Resurrect moves dead letters to the tail of their partitions with their
// attempts reset: all of ids, or none if any is not a dead letter.
func (s *Store) Resurrect(ctx context.Context, ids ...int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dead, err := s.takeDeadLocked(ids)
	if err != nil {
		return err
	}
	for _, d := range dead {
		c := d.Change
		s.queue.nextID++
		c.ID, c.Attempt, c.LastError, c.EnqueuedAt = s.queue.nextID, 0, "", s.now()
		s.queue.items = append(s.queue.items, &item{c: c})
	}
	return nil
}

// Discard deletes dead letters for good, all of ids or none, and logs a
// billsync.DiscardEntry for each.
func (s *Store) Discard(ctx context.Context, actor string, ids ...int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	dead, err := s.takeDeadLocked(ids)
	if err != nil {
		return err
	}
	entries := make([]billsync.LogEntry, len(dead))
	for i, d := range dead {
		entries[i] = billsync.DiscardEntry(d, actor, s.now())
	}
	s.appendLogLocked(entries)
	return nil
}

// takeDeadLocked removes the dead letters ids, in ascending id order, and
// returns them; if any is missing it removes none and names every missing
// one.
func (s *Store) takeDeadLocked(ids []int64) ([]billsync.DeadLetter, error) {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	var missing []int64
	for _, id := range ids {
		if !slices.ContainsFunc(s.queue.dead, func(d billsync.DeadLetter) bool { return d.Change.ID == id }) {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		return nil, billsync.NoDeadLetters(missing)
	}
	out := make([]billsync.DeadLetter, 0, len(ids))
	for _, id := range ids {
		i := slices.IndexFunc(s.queue.dead, func(d billsync.DeadLetter) bool { return d.Change.ID == id })
		out = append(out, s.queue.dead[i])
		s.queue.dead = slices.Delete(s.queue.dead, i, i+1)
	}
	return out, nil
}

// Stats counts queued (pending or running) changes and dead letters.
func (s *Store) Stats(ctx context.Context) (billsync.QueueStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	st := billsync.QueueStats{DeadLetters: int64(len(s.queue.dead))}
	for _, it := range s.queue.items {
		if now.Before(it.leased) {
			st.Running++
			continue
		}
		st.Pending++
		if st.OldestPending.IsZero() || it.c.EnqueuedAt.Before(st.OldestPending) {
			st.OldestPending = it.c.EnqueuedAt
		}
	}
	return st, nil
}

// Queued returns the queued changes (pending or running), in id order.
func (s *Store) Queued() []billsync.Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]billsync.Change, 0, len(s.queue.items))
	for _, it := range s.queue.items {
		out = append(out, cloneChange(it.c))
	}
	return out
}
