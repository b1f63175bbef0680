package billing

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/billsync/billsync"
)

const (
	snapshotFile    = "billing-emulator.json"
	snapshotFormat  = 1
	persistDebounce = 100 * time.Millisecond
)

type snapshot struct {
	Format    int                                     `json:"format"`
	Tenant    string                                  `json:"tenantId"`
	Seq       int64                                   `json:"seq"`
	EventSeq  int64                                   `json:"eventSeq"`
	Records   map[billsync.ObjectType][]snapshotEntry `json:"records"`
	Writes    map[string]int                          `json:"writes"`
	Outbox    []*event                                `json:"outbox"`
	Delivered int                                     `json:"delivered"`
	Idem      map[string]string                       `json:"idempotencyKeys,omitempty"`
}

type snapshotEntry struct {
	Seq  int64           `json:"seq"`
	Data billsync.Entity `json:"data"`
}

// markDirtyLocked schedules a snapshot; called with e.mu held.
func (e *Emulator) markDirtyLocked() {
	if e.dataDir == "" {
		return
	}
	e.dirty = true
	select {
	case e.persistKick <- struct{}{}:
	default:
	}
}

// persistLoop coalesces bursts of writes into one snapshot per debounce
// interval, so a seed of thousands of records does not write thousands of
// files.
func (e *Emulator) persistLoop() {
	defer e.persistWG.Done()
	for {
		select {
		case <-e.stopSave:
			return
		case <-e.persistKick:
		}
		select {
		case <-e.stopSave:
			return // Close writes the final snapshot
		case <-time.After(persistDebounce):
		}
		if err := e.save(); err != nil {
			e.log.Error("billing emulator: cannot save snapshot", "dir", e.dataDir, "err", err)
		}
	}
}

func (e *Emulator) snapshotLocked() *snapshot {
	s := &snapshot{
		Format: snapshotFormat, Tenant: e.tenant, Seq: e.seq, EventSeq: e.evSeq,
		Records: map[billsync.ObjectType][]snapshotEntry{}, Writes: e.writes, Delivered: e.delivered, Idem: e.idem,
		Outbox: []*event{},
	}
	for t, tb := range e.tables {
		entries := make([]snapshotEntry, 0, len(tb.order))
		for _, r := range tb.order {
			entries = append(entries, snapshotEntry{Seq: r.seq, Data: r.data})
		}
		s.Records[t] = entries
	}
	for _, q := range e.queues {
		s.Outbox = append(s.Outbox, q...)
	}
	return s
}

// save writes the snapshot atomically: a temporary file, fsync, rename.
func (e *Emulator) save() error {
	e.mu.Lock()
	if !e.dirty {
		e.mu.Unlock()
		return nil
	}
	b, err := json.Marshal(e.snapshotLocked())
	e.dirty = false
	e.mu.Unlock()
	if err != nil {
		return fmt.Errorf("billing emulator: encode snapshot: %w", err)
	}
	if err := writeAtomic(filepath.Join(e.dataDir, snapshotFile), b); err != nil {
		e.mu.Lock()
		e.dirty = true
		e.mu.Unlock()
		return fmt.Errorf("billing emulator: save snapshot: %w", err)
	}
	return nil
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable where the filesystem allows
		d.Close()
	}
	return nil
}

func (e *Emulator) load() error {
	path := filepath.Join(e.dataDir, snapshotFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("billing emulator: read snapshot: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var s snapshot
	if err := dec.Decode(&s); err != nil {
		return billsync.Errorf(billsync.EINVALID, "billing emulator: snapshot %s is corrupt: %v", path, err)
	}
	if s.Format != snapshotFormat {
		return billsync.Errorf(billsync.EINVALID, "billing emulator: snapshot %s has format %d, want %d", path, s.Format, snapshotFormat)
	}
	if e.tenant == "" {
		e.tenant = s.Tenant
	} else if s.Tenant != e.tenant {
		e.dirty = true
	}
	e.seq, e.evSeq, e.delivered = s.Seq, s.EventSeq, s.Delivered
	if s.Idem != nil {
		e.idem = s.Idem
	}
	if s.Writes != nil {
		e.writes = s.Writes
	}
	for t, entries := range s.Records {
		tb, ok := e.tables[t]
		if !ok {
			return billsync.Errorf(billsync.EINVALID, "billing emulator: snapshot %s holds unknown type %q", path, t)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Seq < entries[j].Seq })
		for _, en := range entries {
			if en.Data == nil || en.Data.ID() == "" {
				return billsync.Errorf(billsync.EINVALID, "billing emulator: snapshot %s holds a %s without an id", path, t)
			}
			tb.insert(&record{seq: en.Seq, data: en.Data})
		}
	}
	s.Outbox = sortEvents(s.Outbox)
	for _, ev := range s.Outbox {
		if ev.ID == "" {
			continue
		}
		e.queues[ev.Partition] = append(e.queues[ev.Partition], ev)
		e.pending++
	}
	return nil
}

func sortEvents(evs []*event) []*event {
	evs2 := evs[:0]
	for _, ev := range evs {
		if ev != nil {
			evs2 = append(evs2, ev)
		}
	}
	sort.SliceStable(evs2, func(i, j int) bool { return evs2[i].Seq < evs2[j].Seq })
	return evs2
}
