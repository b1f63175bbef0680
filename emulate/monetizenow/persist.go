package monetizenow

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"

	"github.com/billsync/billsync/emulate/journal"
)

const (
	snapshotFile   = "monetizenow-emulator.json"
	snapshotFormat = 1
)

// state is everything the data directory keeps. The emulator holds it
// under its lock; a fold builds one from the files alone.
type state struct {
	accounts     map[string]*Account
	accountOrder []string
	quotes       map[string]*Quote
	quoteOrder   []string
	events       map[string]*Event
	pending      map[string]*delivery // event id → delivery owed
}

func newState() state {
	return state{accounts: map[string]*Account{}, quotes: map[string]*Quote{}, events: map[string]*Event{}, pending: map[string]*delivery{}}
}

// journalEntry is one line of the journal: one change.
type journalEntry struct {
	Account  *Account  `json:"account,omitempty"`
	Quote    *Quote    `json:"quote,omitempty"`
	DelQuote string    `json:"delQuote,omitempty"`
	Event    *Event    `json:"event,omitempty"`
	Queue    *delivery `json:"queue,omitempty"`
	Done     string    `json:"done,omitempty"`
}

type snapshot struct {
	Format   int         `json:"format"`
	Accounts []*Account  `json:"accounts"`
	Quotes   []*Quote    `json:"quotes"`
	Events   []*Event    `json:"events"`
	Pending  []*delivery `json:"pending"`
	// Journal is the first journal segment the snapshot does not hold.
	Journal int64 `json:"journal,omitempty"`
}

func (s *state) apply(en *journalEntry) {
	if a := en.Account; a != nil {
		if s.accounts[a.ID] == nil {
			s.accountOrder = append(s.accountOrder, a.ID)
		}
		s.accounts[a.ID] = a
	}
	if q := en.Quote; q != nil {
		if s.quotes[q.ID] == nil {
			s.quoteOrder = append(s.quoteOrder, q.ID)
		}
		s.quotes[q.ID] = q
	}
	if id := en.DelQuote; id != "" && s.quotes[id] != nil {
		delete(s.quotes, id)
		s.quoteOrder = slices.DeleteFunc(s.quoteOrder, func(x string) bool { return x == id })
	}
	if ev := en.Event; ev != nil {
		s.events[ev.EventID] = ev
	}
	if d := en.Queue; d != nil {
		s.pending[d.Event] = d
	}
	if en.Done != "" {
		delete(s.pending, en.Done)
	}
}

func (e *Emulator) putQuoteLocked(q *Quote) {
	e.apply(&journalEntry{Quote: q})
	e.noteLocked(journalEntry{Quote: clone(q)})
}

func (e *Emulator) removeQuoteLocked(id string) {
	e.apply(&journalEntry{DelQuote: id})
	e.noteLocked(journalEntry{DelQuote: id})
}

func (e *Emulator) putAccountLocked(a *Account) {
	e.apply(&journalEntry{Account: a})
	e.noteLocked(journalEntry{Account: clone(a)})
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

func (s *state) snapshot(upTo int64) *snapshot {
	snap := &snapshot{Format: snapshotFormat, Journal: upTo, Accounts: []*Account{}, Quotes: []*Quote{}, Events: []*Event{}, Pending: []*delivery{}}
	for _, id := range s.accountOrder {
		snap.Accounts = append(snap.Accounts, s.accounts[id])
	}
	for _, id := range s.quoteOrder {
		snap.Quotes = append(snap.Quotes, s.quotes[id])
	}
	for _, ev := range s.events {
		snap.Events = append(snap.Events, ev)
	}
	sort.Slice(snap.Events, func(i, j int) bool { return snap.Events[i].Seq < snap.Events[j].Seq })
	for _, d := range s.pending {
		snap.Pending = append(snap.Pending, d)
	}
	sort.Slice(snap.Pending, func(i, j int) bool { return snap.Pending[i].Event < snap.Pending[j].Event })
	return snap
}

// Load reads a snapshot into s, an empty state (journal.Image).
func (s *state) Load(b []byte) (int64, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // money stays exact
	var snap snapshot
	if err := dec.Decode(&snap); err != nil {
		return 0, fmt.Errorf("corrupt: %v", err)
	}
	if snap.Format != snapshotFormat {
		return 0, fmt.Errorf("format %d, want %d", snap.Format, snapshotFormat)
	}
	for _, a := range snap.Accounts {
		s.apply(&journalEntry{Account: a})
	}
	for _, q := range snap.Quotes {
		s.apply(&journalEntry{Quote: q})
	}
	for _, ev := range snap.Events {
		s.apply(&journalEntry{Event: ev})
	}
	for _, d := range snap.Pending {
		s.apply(&journalEntry{Queue: d})
	}
	return snap.Journal, nil
}

// ApplyLine applies one journal line (journal.Image).
func (s *state) ApplyLine(line []byte) error {
	return journal.DecodeLine(line, func(en *journalEntry) error { s.apply(en); return nil })
}

// Encode is s as a snapshot holding the journal below upTo (journal.Image).
func (s *state) Encode(upTo int64) ([]byte, error) { return json.Marshal(s.snapshot(upTo)) }

func (e *Emulator) dir() journal.Dir[*state] {
	return journal.Dir[*state]{Path: e.dataDir, Name: "monetizenow emulator", Snapshot: snapshotFile,
		Empty: func() *state { s := newState(); return &s }}
}

func (e *Emulator) openDataDir() error {
	img, j, err := e.dir().Open(e.log)
	if err != nil {
		return err
	}
	e.state, e.journal = *img, j
	for _, ev := range img.events {
		e.eventSeq = max(e.eventSeq, ev.Seq)
	}
	return nil
}

// saveSnapshot writes the live state as the snapshot holding the journal
// below upTo, and removes those segments.
func (e *Emulator) saveSnapshot(upTo int64) error { return e.dir().SaveLive(&e.mu, &e.state, upTo) }
