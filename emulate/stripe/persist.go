package stripe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/billsync/billsync/emulate/journal"
)

const (
	snapshotFile   = "stripe-emulator.json"
	snapshotFormat = 1
)

// state is everything the data directory keeps. The emulator holds it
// under its lock; a fold builds one from the files alone.
type state struct {
	account     string
	created     int64
	seq         int64 // last object position issued
	evSeq       int64
	quoteNumber int64
	tables      map[string]*table
	events      []obj // oldest first
	eventIdx    map[string]int
	idem        map[string]*idemEntry
	pending     map[string]*delivery // "evt/we" → delivery owed
}

func newState() state {
	s := state{tables: map[string]*table{}, eventIdx: map[string]int{}, idem: map[string]*idemEntry{}, pending: map[string]*delivery{}}
	for _, k := range kinds {
		s.tables[k] = newTable()
	}
	return s
}

// journalEntry is one line of the journal: one change.
type journalEntry struct {
	Account string     `json:"account,omitempty"`
	Created int64      `json:"created,omitempty"` // the account's
	Put     *putChange `json:"put,omitempty"`
	Event   obj        `json:"event,omitempty"`
	Queue   *delivery  `json:"queue,omitempty"`
	Done    string     `json:"done,omitempty"`
	Idem    *idemEntry `json:"idem,omitempty"`
	Quotes  int64      `json:"quoteNumber,omitempty"`
}

type putChange struct {
	Kind string `json:"kind"`
	Obj  obj    `json:"obj"`
}

type snapshot struct {
	Format      int              `json:"format"`
	Account     string           `json:"account"`
	Created     int64            `json:"created"`
	Seq         int64            `json:"seq"`
	EventSeq    int64            `json:"eventSeq"`
	QuoteNumber int64            `json:"quoteNumber"`
	Records     map[string][]obj `json:"records"`
	Events      []obj            `json:"events"`
	Idem        []*idemEntry     `json:"idempotencyKeys"`
	Pending     []*delivery      `json:"pending"`
	// Journal is the first journal segment the snapshot does not hold.
	Journal int64 `json:"journal,omitempty"`
}

func (e *Emulator) insertLocked(kind string, o obj) {
	e.seq++
	o["_seq"] = e.seq
	e.putLocked(kind, o)
}

func (e *Emulator) putLocked(kind string, o obj) {
	e.tables[kind].put(o)
	e.noteLocked(journalEntry{Put: &putChange{Kind: kind, Obj: o}})
}

func (e *Emulator) noteLocked(en journalEntry) {
	if e.journal != nil {
		e.unsaved = append(e.unsaved, en)
	}
}

// saveLocked writes the noted changes before the lock is released and
// the request answered.
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

func (s *state) apply(en *journalEntry) error {
	if en.Account != "" {
		s.account, s.created = en.Account, en.Created
	}
	if p := en.Put; p != nil {
		t, ok := s.tables[p.Kind]
		if !ok {
			return fmt.Errorf("%w: %q", errUnknownKind, p.Kind)
		}
		id, _ := p.Obj["id"].(string)
		if id == "" {
			return fmt.Errorf("a %s without an id", p.Kind)
		}
		t.put(normalize(p.Obj).(obj))
		s.seq = max(s.seq, seqOf(p.Obj))
	}
	if ev := en.Event; ev != nil {
		ev = normalize(ev).(obj)
		s.events = append(s.events, ev)
		s.eventIdx[ev["id"].(string)] = len(s.events) - 1
		s.evSeq = max(s.evSeq, seqOf(ev))
	}
	if d := en.Queue; d != nil {
		s.pending[d.key()] = d
	}
	if en.Done != "" {
		delete(s.pending, en.Done)
	}
	if en.Idem != nil {
		s.idem[en.Idem.Key] = en.Idem
	}
	s.quoteNumber = max(s.quoteNumber, en.Quotes)
	return nil
}

// normalize turns the json.Numbers of a reloaded object into int64, as
// the live state holds integers.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			x[k] = normalize(c)
		}
		return x
	case []any:
		for i, c := range x {
			x[i] = normalize(c)
		}
		return x
	case json.Number:
		if n, err := x.Int64(); err == nil {
			return n
		}
		return x
	}
	return v
}

func (s *state) snapshot(upTo int64) *snapshot {
	snap := &snapshot{Format: snapshotFormat, Account: s.account, Created: s.created, Seq: s.seq, EventSeq: s.evSeq,
		QuoteNumber: s.quoteNumber, Records: map[string][]obj{}, Events: s.events, Journal: upTo}
	for k, t := range s.tables {
		snap.Records[k] = t.order
	}
	for _, en := range s.idem {
		snap.Idem = append(snap.Idem, en)
	}
	sort.Slice(snap.Idem, func(i, j int) bool { return snap.Idem[i].Key < snap.Idem[j].Key })
	for _, d := range s.pending {
		snap.Pending = append(snap.Pending, d)
	}
	sort.Slice(snap.Pending, func(i, j int) bool { return snap.Pending[i].key() < snap.Pending[j].key() })
	return snap
}

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
	s.account, s.created, s.seq, s.evSeq, s.quoteNumber = snap.Account, snap.Created, snap.Seq, snap.EventSeq, snap.QuoteNumber
	for k, objs := range snap.Records {
		for _, o := range objs {
			if err := s.apply(&journalEntry{Put: &putChange{Kind: k, Obj: o}}); err != nil {
				return 0, err
			}
		}
	}
	for _, ev := range snap.Events {
		_ = s.apply(&journalEntry{Event: ev})
	}
	for _, en := range snap.Idem {
		s.idem[en.Key] = en
	}
	for _, d := range snap.Pending {
		s.pending[d.key()] = d
	}
	return snap.Journal, nil
}

// jsonBytes encodes a response body.
func jsonBytes(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// ApplyLine applies one journal line (journal.Image).
func (s *state) ApplyLine(line []byte) error { return journal.DecodeLine(line, s.apply) }

// Encode is s as a snapshot holding the journal below upTo (journal.Image).
func (s *state) Encode(upTo int64) ([]byte, error) { return json.Marshal(s.snapshot(upTo)) }

func (e *Emulator) dir() journal.Dir[*state] {
	return journal.Dir[*state]{Path: e.dataDir, Name: "stripe emulator", Snapshot: snapshotFile,
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
