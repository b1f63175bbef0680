package billing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
)

const (
	snapshotFile   = "billing-emulator.json"
	snapshotFormat = 1
)

// state is everything the data directory keeps. The emulator holds it
// under its lock; a fold builds one from the files alone.
type state struct {
	tenant    string
	seq       int64 // last record position issued
	evSeq     int64 // last webhook sequence number issued
	tables    map[billsync.ObjectType]*table
	writes    map[string]int
	idem      map[string]string // object/Idempotency-Key → record id
	queues    map[string][]*event
	pending   int
	delivered int
}

func newState() state {
	s := state{tables: map[billsync.ObjectType]*table{}, writes: map[string]int{}, idem: map[string]string{}, queues: map[string][]*event{}}
	for _, t := range billsync.ObjectTypes {
		s.tables[t] = newTable()
	}
	return s
}

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
	// Journal is the first journal segment the snapshot does not hold.
	Journal int64 `json:"journal,omitempty"`
}

type snapshotEntry struct {
	Seq  int64           `json:"seq"`
	Data billsync.Entity `json:"data"`
}

// journalEntry is one line of the journal: one change.
type journalEntry struct {
	Tenant string       `json:"tenant,omitempty"`
	Put    *putChange   `json:"put,omitempty"`
	Delete *delChange   `json:"delete,omitempty"`
	Event  *event       `json:"event,omitempty"`
	Sent   *sendOutcome `json:"sent,omitempty"`
	Idem   *idemKey     `json:"idem,omitempty"`
}

// putChange is a record as a create or update left it.
type putChange struct {
	Type   billsync.ObjectType `json:"type"`
	Seq    int64               `json:"seq"`
	Data   billsync.Entity     `json:"data"`
	Writes int                 `json:"writes"`
}

type delChange struct {
	Type   billsync.ObjectType `json:"type"`
	ID     string              `json:"id"`
	Writes int                 `json:"writes"`
}

// sendOutcome is how one delivery attempt of a partition's head ended.
type sendOutcome struct {
	Partition string `json:"partition"`
	ID        string `json:"id"`
	Outcome   string `json:"outcome"` // delivered, failed, dropped
	Attempts  int    `json:"attempts"`
	LastError string `json:"lastError,omitempty"`
}

const (
	outcomeDelivered = "delivered"
	outcomeFailed    = "failed"
	outcomeDropped   = "dropped"
)

type idemKey struct {
	Key string `json:"key"`
	ID  string `json:"id"`
}

// noteLocked queues a change for the journal; saveLocked writes the
// queued changes before the lock is released and the request answered.
func (e *Emulator) noteLocked(en journalEntry) {
	if e.journal != nil {
		e.unsaved = append(e.unsaved, en)
	}
}

func (e *Emulator) saveLocked() {
	if len(e.unsaved) == 0 {
		return
	}
	vs := make([]any, len(e.unsaved))
	for i := range e.unsaved {
		vs[i] = &e.unsaved[i]
	}
	e.journal.Write(vs...)
	clear(e.unsaved)
	e.unsaved = e.unsaved[:0]
}

// apply replays one journal line.
func (s *state) apply(en *journalEntry) error {
	if en.Tenant != "" {
		s.tenant = en.Tenant
	}
	if p := en.Put; p != nil {
		tb, ok := s.tables[p.Type]
		if !ok || p.Data.ID() == "" {
			return fmt.Errorf("a %q record without an id", p.Type)
		}
		if r := tb.byID[p.Data.ID()]; r != nil {
			r.data = p.Data
		} else {
			tb.insert(&record{seq: p.Seq, data: p.Data})
		}
		s.seq = max(s.seq, p.Seq)
		s.writes[p.Data.ID()] = p.Writes
	}
	if d := en.Delete; d != nil {
		tb, ok := s.tables[d.Type]
		if !ok {
			return fmt.Errorf("unknown type %q", d.Type)
		}
		tb.remove(d.ID)
		s.writes[d.ID] = d.Writes
	}
	if ev := en.Event; ev != nil {
		s.queues[ev.Partition] = append(s.queues[ev.Partition], ev)
		s.pending++
		s.evSeq = max(s.evSeq, ev.Seq)
	}
	if o := en.Sent; o != nil {
		q := s.queues[o.Partition]
		i := 0
		for i < len(q) && q[i].ID != o.ID {
			i++
		}
		if i == len(q) {
			return fmt.Errorf("delivery of webhook %s, which is not queued", o.ID)
		}
		if o.Outcome == outcomeFailed {
			q[i].Attempts, q[i].LastError = o.Attempts, o.LastError
		} else {
			s.queues[o.Partition] = append(q[:i:i], q[i+1:]...)
			if len(s.queues[o.Partition]) == 0 {
				delete(s.queues, o.Partition)
			}
			s.pending--
			if o.Outcome == outcomeDelivered {
				s.delivered++
			}
		}
	}
	if k := en.Idem; k != nil {
		s.idem[k.Key] = k.ID
	}
	return nil
}

func (s *state) snapshot(journal int64) *snapshot {
	snap := &snapshot{
		Format: snapshotFormat, Tenant: s.tenant, Seq: s.seq, EventSeq: s.evSeq,
		Records: map[billsync.ObjectType][]snapshotEntry{}, Writes: s.writes, Delivered: s.delivered, Idem: s.idem,
		Outbox: []*event{}, Journal: journal,
	}
	for t, tb := range s.tables {
		entries := make([]snapshotEntry, 0, len(tb.order))
		for _, r := range tb.order {
			entries = append(entries, snapshotEntry{Seq: r.seq, Data: r.data})
		}
		snap.Records[t] = entries
	}
	for _, q := range s.queues {
		snap.Outbox = append(snap.Outbox, q...)
	}
	snap.Outbox = sortEvents(snap.Outbox)
	return snap
}

// readSnapshot loads dir's snapshot into s (an empty state) and returns
// the first journal segment it does not hold and its size.
// Load reads a snapshot into s, an empty state (journal.Image).
func (s *state) Load(b []byte) (int64, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var snap snapshot
	if err := dec.Decode(&snap); err != nil {
		return 0, fmt.Errorf("corrupt: %v", err)
	}
	if snap.Format != snapshotFormat {
		return 0, fmt.Errorf("format %d, want %d", snap.Format, snapshotFormat)
	}
	s.tenant = snap.Tenant
	s.seq, s.evSeq, s.delivered = snap.Seq, snap.EventSeq, snap.Delivered
	if snap.Idem != nil {
		s.idem = snap.Idem
	}
	if snap.Writes != nil {
		s.writes = snap.Writes
	}
	for t, entries := range snap.Records {
		tb, ok := s.tables[t]
		if !ok {
			return 0, fmt.Errorf("holds unknown type %q", t)
		}
		sort.Slice(entries, func(i, j int) bool { return entries[i].Seq < entries[j].Seq })
		for _, en := range entries {
			if en.Data == nil || en.Data.ID() == "" {
				return 0, fmt.Errorf("holds a %s without an id", t)
			}
			tb.insert(&record{seq: en.Seq, data: en.Data})
		}
	}
	for _, ev := range sortEvents(snap.Outbox) {
		if ev.ID == "" {
			continue
		}
		s.queues[ev.Partition] = append(s.queues[ev.Partition], ev)
		s.pending++
	}
	return snap.Journal, nil
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

// ApplyLine applies one journal line (journal.Image).
func (s *state) ApplyLine(line []byte) error { return journal.DecodeLine(line, s.apply) }

// Encode is s as a snapshot holding the journal below upTo (journal.Image).
func (s *state) Encode(upTo int64) ([]byte, error) { return json.Marshal(s.snapshot(upTo)) }

// EncodeTo writes what Encode returns, a record and a webhook at a time
// (journal.StreamEncoder): a platform of hundreds of thousands of records
// is never encoded into one buffer.
func (s *state) EncodeTo(w io.Writer, upTo int64) error {
	snap := s.snapshot(upTo)
	head, err := json.Marshal(snapshotHead{Format: snap.Format, Tenant: snap.Tenant, Seq: snap.Seq, EventSeq: snap.EventSeq,
		Writes: snap.Writes, Delivered: snap.Delivered, Idem: snap.Idem, Journal: snap.Journal})
	if err != nil {
		return err
	}
	sw := &seqWriter{w: w}
	sw.raw(head[:len(head)-1]) // without its closing brace
	sw.raw([]byte(`,"records":{`))
	for i, t := range slices.Sorted(maps.Keys(snap.Records)) {
		if i > 0 {
			sw.raw([]byte{','})
		}
		sw.value(t)
		sw.raw([]byte{':'})
		sw.list(len(snap.Records[t]), func(k int) any { return snap.Records[t][k] })
	}
	sw.raw([]byte(`},"outbox":`))
	sw.list(len(snap.Outbox), func(k int) any { return snap.Outbox[k] })
	sw.raw([]byte{'}'})
	return sw.err
}

// snapshotHead is the snapshot without its records and outbox, which
// EncodeTo writes one by one.
type snapshotHead struct {
	Format    int               `json:"format"`
	Tenant    string            `json:"tenantId"`
	Seq       int64             `json:"seq"`
	EventSeq  int64             `json:"eventSeq"`
	Writes    map[string]int    `json:"writes"`
	Delivered int               `json:"delivered"`
	Idem      map[string]string `json:"idempotencyKeys,omitempty"`
	Journal   int64             `json:"journal,omitempty"`
}

// seqWriter writes JSON pieces and keeps the first error.
type seqWriter struct {
	w   io.Writer
	err error
}

func (s *seqWriter) raw(b []byte) {
	if s.err == nil {
		_, s.err = s.w.Write(b)
	}
}

func (s *seqWriter) value(v any) {
	if s.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.err = err
		return
	}
	s.raw(b)
}

// list writes n values as a JSON array.
func (s *seqWriter) list(n int, at func(int) any) {
	s.raw([]byte{'['})
	for i := range n {
		if i > 0 {
			s.raw([]byte{','})
		}
		s.value(at(i))
	}
	s.raw([]byte{']'})
}

func (e *Emulator) dir() journal.Dir[*state] {
	return journal.Dir[*state]{Path: e.dataDir, Name: "billing emulator", Snapshot: snapshotFile,
		Empty: func() *state { s := newState(); return &s }}
}

func (e *Emulator) openDataDir() error {
	img, j, err := e.dir().Open(e.log)
	if err != nil {
		return err
	}
	e.state, e.journal = *img, j
	return nil
}

// saveSnapshot writes the live state as the snapshot holding the journal
// below upTo, and removes those segments.
func (e *Emulator) saveSnapshot(upTo int64) error { return e.dir().SaveLive(&e.mu, &e.state, upTo) }
