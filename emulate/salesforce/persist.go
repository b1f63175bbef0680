package salesforce

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
	"github.com/billsync/billsync/emulate/salesforce/streaming"
)

// Persistence: with Options.DataDir, every critical section that changes
// the org appends one journal line naming what changed (the records it
// wrote, as they now stand; a counter; a session), and the event bus
// appends one per event. Lines are written before the lock is released,
// so before the request is answered, and in the order the changes
// happened. The snapshot is rebuilt from the files alone (see journal).

const snapshotFile = "salesforce.json"

// snapshotMeta is the snapshot but its records and event bus.
type snapshotMeta struct {
	Version     int               `json:"version"`
	OrgID       string            `json:"orgId"`
	Counters    map[string]int64  `json:"counters"`
	AutoNumbers map[string]int64  `json:"autoNumbers"`
	Users       []User            `json:"users"`
	Sessions    map[string]string `json:"sessions"`
	APIUsage    int               `json:"apiUsage"`
	// Journal is the first journal segment the snapshot does not hold.
	Journal int64 `json:"journal,omitempty"`
}

// snapshot is the snapshot file. Bus is the event bus's own snapshot,
// inline; a data directory written before held it as a base64 string,
// which is still read.
type snapshot struct {
	snapshotMeta
	Records []*record       `json:"records"`
	Bus     json.RawMessage `json:"bus,omitempty"`
}

// rawLine is a journal line as a fold reads it, its records left as JSON.
type rawLine struct {
	journalLine
	Records []json.RawMessage `json:"records,omitempty"`
}

// journalLine is one line of the journal. Counters, auto numbers and
// users are written whole (they are a handful); records only as changed.
type journalLine struct {
	OrgID        string            `json:"orgId,omitempty"`
	Counters     map[string]int64  `json:"counters,omitempty"`
	AutoNumbers  map[string]int64  `json:"autoNumbers,omitempty"`
	Users        []User            `json:"users,omitempty"`
	EndSessions  bool              `json:"endSessions,omitempty"` // applied before Sessions
	Sessions     map[string]string `json:"sessions,omitempty"`
	APIUsage     *int              `json:"apiUsage,omitempty"`
	Records      []*record         `json:"records,omitempty"`
	Removed      []string          `json:"removed,omitempty"`
	Event        *streaming.Event  `json:"event,omitempty"`
	PurgedBefore *time.Time        `json:"purgedBefore,omitempty"`
}

// unsaved is what changed since the last journal line.
type unsaved struct {
	orgID, counters, autoNumbers, users, apiUsage, endSessions bool
	sessions                                                   map[string]string
	records                                                    map[string]bool
}

func (u *unsaved) empty() bool {
	return !u.orgID && !u.counters && !u.autoNumbers && !u.users && !u.apiUsage && !u.endSessions &&
		len(u.sessions) == 0 && len(u.records) == 0
}

// touchedLocked notes that a record was stored or removed.
func (e *Emulator) touchedLocked(id string) {
	if e.journal == nil {
		return
	}
	if e.unsaved.records == nil {
		e.unsaved.records = map[string]bool{}
	}
	e.unsaved.records[id] = true
}

// journalLocked writes what changed since the last line, as it stands
// now. Called with e.mu held, at the end of every critical section that
// changes the org.
func (e *Emulator) journalLocked() {
	u := &e.unsaved
	if e.journal == nil || u.empty() {
		*u = unsaved{}
		return
	}
	var l journalLine
	if u.orgID {
		l.OrgID = e.orgID
	}
	if u.counters {
		l.Counters = e.counters
	}
	if u.autoNumbers {
		l.AutoNumbers = e.autoNumbers
	}
	if u.users {
		l.Users = e.userListLocked()
	}
	l.EndSessions, l.Sessions = u.endSessions, u.sessions
	if u.apiUsage {
		n := e.apiUsage
		l.APIUsage = &n
	}
	for id := range u.records {
		if r := e.records[id]; r != nil {
			l.Records = append(l.Records, r)
		} else {
			l.Removed = append(l.Removed, id)
		}
	}
	e.journal.Write(&l) // encoded now, under e.mu: the records as they stand
	*u = unsaved{records: u.records}
	clear(u.records)
}

func (e *Emulator) userListLocked() []User {
	users := make([]User, 0, len(e.users))
	for _, u := range e.users {
		users = append(users, u.User)
	}
	sort.Slice(users, func(i, j int) bool { return users[i].ID < users[j].ID })
	return users
}

// busJournal appends the event bus's changes to the journal.
type busJournal struct{ j *journal.Journal }

func (b busJournal) Published(ev streaming.Event) { b.j.Write(&journalLine{Event: &ev}) }
func (b busJournal) Purged(before time.Time)      { b.j.Write(&journalLine{PurgedBefore: &before}) }

// image is the org as the data directory holds it, read back. Records
// stay the JSON they were written as (id → record): a fold of a large org
// holds its files' bytes, not the org decoded a second time beside the
// live one.
type image struct {
	snapshotMeta
	records map[string]json.RawMessage
	bus     *streaming.Bus
}

func (im *image) apply(l *journalLine, records []json.RawMessage) error {
	if l.OrgID != "" {
		im.OrgID = l.OrgID
	}
	maps.Copy(im.Counters, l.Counters)
	maps.Copy(im.AutoNumbers, l.AutoNumbers)
	if l.Users != nil {
		im.Users = l.Users
	}
	if l.EndSessions {
		clear(im.Sessions)
	}
	maps.Copy(im.Sessions, l.Sessions)
	if l.APIUsage != nil {
		im.APIUsage = *l.APIUsage
	}
	for _, raw := range records {
		id, err := rawRecordID(raw)
		if err != nil {
			return err
		}
		im.records[id] = raw
	}
	for _, id := range l.Removed {
		delete(im.records, id)
	}
	if l.Event != nil {
		if err := im.bus.Replay(*l.Event); err != nil {
			return err
		}
	}
	if l.PurgedBefore != nil {
		im.bus.Purge(*l.PurgedBefore)
	}
	return nil
}

// rawRecordID is the id of a record written as JSON.
func rawRecordID(raw json.RawMessage) (string, error) {
	var r struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", err
	}
	if r.ID == "" {
		return "", errors.New("a record without an id")
	}
	return r.ID, nil
}

// decodeRecord reads a record as the journal or snapshot wrote it.
func decodeRecord(raw json.RawMessage) (*record, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var r record
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if r.Fields == nil {
		r.Fields = map[string]any{}
	}
	return &r, nil
}

// readSnapshot reads dir's snapshot into an image whose events go to
// bus; an empty directory is an empty image. The file is read as a
// stream, a record or an event at a time: a fold holds what it keeps,
// not the file's bytes besides.
func readSnapshot(dir string, bus *streaming.Bus) (*image, int64, error) {
	im := &image{records: map[string]json.RawMessage{}, bus: bus}
	im.Counters, im.AutoNumbers, im.Sessions = map[string]int64{}, map[string]int64{}, map[string]string{}
	path := filepath.Join(dir, snapshotFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return im, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("salesforce emulator: load state: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, 0, fmt.Errorf("salesforce emulator: load state: %w", err)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(f, 1<<20))
	dec.UseNumber()
	var busErr error
	meta := map[string]json.RawMessage{}
	err = jsonObject(dec, func(key string) error {
		switch key {
		case "records":
			return jsonArray(dec, func() error {
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return err
				}
				id, err := rawRecordID(raw)
				im.records[id] = raw
				return err
			})
		case "bus":
			busErr = restoreBus(dec, bus)
			return busErr
		}
		var raw json.RawMessage
		err := dec.Decode(&raw)
		meta[key] = raw
		return err
	})
	if busErr != nil {
		return nil, 0, fmt.Errorf("salesforce emulator: restore event bus: %w", busErr)
	}
	if err == nil {
		var b []byte
		if b, err = json.Marshal(meta); err == nil {
			err = json.Unmarshal(b, &im.snapshotMeta)
		}
	}
	if err != nil {
		return nil, 0, billsync.Errorf(billsync.EINVALID, "salesforce emulator: %s is corrupt: %v", path, err)
	}
	for _, m := range []*map[string]int64{&im.Counters, &im.AutoNumbers} {
		if *m == nil {
			*m = map[string]int64{}
		}
	}
	if im.Sessions == nil {
		im.Sessions = map[string]string{}
	}
	return im, st.Size(), nil
}

// restoreBus reads the snapshot's bus: inline, or as the base64 string a
// data directory written before held.
func restoreBus(dec *json.Decoder, bus *streaming.Bus) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := t.(type) {
	case nil:
		return nil
	case string:
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return err
		}
		return bus.Restore(b)
	case json.Delim:
		if v == '{' {
			return bus.RestoreFrom(dec)
		}
	}
	return fmt.Errorf("unexpected %v", t)
}

// jsonObject reads an object from dec, calling member with each key while
// dec is at its value, which member must consume.
func jsonObject(dec *json.Decoder, member func(key string) error) error {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("want an object, not %v (%v)", t, err)
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if err := member(key); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

// jsonArray reads an array (or null) from dec, calling elem while dec is
// at each element, which elem must consume.
func jsonArray(dec *json.Decoder, elem func() error) error {
	t, err := dec.Token()
	if err != nil || t == nil {
		return err
	}
	if t != json.Delim('[') {
		return fmt.Errorf("want an array, not %v", t)
	}
	for dec.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	_, err = dec.Token()
	return err
}

// fold reads dir's snapshot and the journal segments below upTo into an
// image (its events into bus), writes that as the new snapshot and removes
// the segments it holds. It returns the image, whose Journal is the first
// segment it does not hold, and the snapshot's size. A fold that finds no
// segments leaves the snapshot as it is.
func fold(dir string, upTo int64, bus *streaming.Bus) (*image, int64, error) {
	im, size, err := readSnapshot(dir, bus)
	if err != nil {
		return nil, 0, err
	}
	segs, err := journal.ListSegments(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("salesforce emulator: list journal: %w", err)
	}
	folded := false
	for _, seg := range segs {
		if seg >= upTo {
			break
		}
		folded = true
		if seg < im.Journal {
			continue // already in the snapshot; a fold died before removing it
		}
		err := journal.ReadSegment(journal.SegmentPath(dir, seg), func(line []byte) error {
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			var l rawLine
			if err := dec.Decode(&l); err != nil {
				return err
			}
			return im.apply(&l.journalLine, l.Records)
		})
		if err != nil {
			return nil, 0, billsync.Errorf(billsync.EINVALID, "salesforce emulator: journal is corrupt: %v", err)
		}
	}
	if !folded {
		return im, size, nil
	}
	im.Journal = max(upTo, im.Journal)
	meta := im.snapshotMeta
	meta.Version = 1
	ids := slices.Sorted(maps.Keys(im.records))
	size, err = writeSnapshot(filepath.Join(dir, snapshotFile), meta, len(ids), func(i int) ([]byte, error) { return im.records[ids[i]], nil }, bus)
	if err != nil {
		return nil, 0, err
	}
	if err := journal.RemoveSegments(dir, im.Journal); err != nil {
		return nil, 0, fmt.Errorf("salesforce emulator: remove folded journal: %w", err)
	}
	return im, size, nil
}

// writeSnapshot streams the snapshot file: meta, then n records (the
// record function's JSON for each), then the bus's snapshot. It returns
// the file's size.
func writeSnapshot(path string, meta snapshotMeta, n int, record func(i int) ([]byte, error), bus *streaming.Bus) (int64, error) {
	head, err := json.Marshal(meta)
	if err != nil {
		return 0, fmt.Errorf("salesforce emulator: encode state: %w", err)
	}
	var size int64
	err = journal.WriteAtomicFunc(path, func(w io.Writer) error {
		cw := &countingWriter{w: w}
		cw.Write(head[:len(head)-1]) // without its closing brace
		cw.Write([]byte(`,"records":[`))
		for i := range n {
			b, err := record(i)
			if err != nil {
				return fmt.Errorf("salesforce emulator: encode state: %w", err)
			}
			if i > 0 {
				cw.Write([]byte{','})
			}
			cw.Write(b)
		}
		cw.Write([]byte(`],"bus":`))
		if err := bus.WriteSnapshot(cw); err != nil {
			return err
		}
		cw.Write([]byte{'}'})
		size = cw.n
		return cw.err
	})
	if err != nil {
		return 0, fmt.Errorf("salesforce emulator: save state: %w", err)
	}
	return size, nil
}

// countingWriter counts what it writes and keeps the first error, so a
// snapshot's many small writes are checked once.
type countingWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}

// saveSnapshot writes the live org as the snapshot holding the journal
// below upTo, and removes those segments. Close uses it: the org already
// holds everything the journal does, so nothing needs reading back.
func (e *Emulator) saveSnapshot(upTo int64) error {
	e.mu.Lock()
	meta := snapshotMeta{Version: 1, OrgID: e.orgID, Counters: e.counters, AutoNumbers: e.autoNumbers, Users: e.userListLocked(),
		Sessions: e.sessions, APIUsage: e.apiUsage, Journal: upTo}
	ids := slices.Sorted(maps.Keys(e.records))
	// Each record is encoded as it is written: the org is never one buffer.
	_, err := writeSnapshot(filepath.Join(e.opts.DataDir, snapshotFile), meta, len(ids), func(i int) ([]byte, error) { return json.Marshal(e.records[ids[i]]) }, e.bus)
	e.mu.Unlock()
	if err != nil {
		return err
	}
	if err := journal.RemoveSegments(e.opts.DataDir, upTo); err != nil {
		return fmt.Errorf("salesforce emulator: remove folded journal: %w", err)
	}
	return nil
}

// openDataDir folds what DataDir holds into a snapshot, takes it as the
// org, and starts a journal segment after it.
func (e *Emulator) openDataDir() error {
	dir := e.opts.DataDir
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("salesforce emulator: %w", err)
	}
	segs, err := journal.ListSegments(dir)
	if err != nil {
		return fmt.Errorf("salesforce emulator: list journal: %w", err)
	}
	next := int64(1)
	if len(segs) > 0 {
		next = segs[len(segs)-1] + 1
	}
	im, size, err := fold(dir, next, e.bus)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.orgID = im.OrgID
	maps.Copy(e.counters, im.Counters)
	maps.Copy(e.autoNumbers, im.AutoNumbers)
	maps.Copy(e.sessions, im.Sessions)
	e.apiUsage = im.APIUsage
	for _, u := range im.Users {
		e.users[strings.ToLower(u.Username)] = &userRec{User: u}
	}
	for _, raw := range im.records {
		r, err := decodeRecord(raw)
		if err != nil {
			e.mu.Unlock()
			return billsync.Errorf(billsync.EINVALID, "salesforce emulator: a stored record is corrupt: %v", err)
		}
		e.putLocked(r)
	}
	e.mu.Unlock()
	e.journal, err = journal.Open(dir, "salesforce emulator", max(next, im.Journal), size, e.log, func(upTo int64) (int64, error) {
		_, size, err := fold(dir, upTo, e.newBus())
		return size, err
	})
	if err != nil {
		return fmt.Errorf("salesforce emulator: open journal: %w", err)
	}
	e.bus.SetJournal(busJournal{e.journal})
	return nil
}
