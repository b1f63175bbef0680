package m3ter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/billsync/billsync/emulate/journal"
)

const (
	snapshotFile   = "m3ter-emulator.json"
	snapshotFormat = 1
)

// state is everything the data directory keeps. The emulator holds it
// under its lock; a fold builds one from the files alone.
type state struct {
	serviceUser string
	seq         int64 // last record position issued
	tables      map[string]*table
	tokens      map[string]*token
	pending     map[string]*delivery // "event/integrationconfig" → delivery owed
}

// token is an issued access token.
type token struct {
	Token   string    `json:"token"`
	UserID  string    `json:"userId"`
	Expires time.Time `json:"expires"`
}

func newState() state {
	s := state{tables: map[string]*table{}, tokens: map[string]*token{}, pending: map[string]*delivery{}}
	for _, k := range kinds {
		s.tables[k] = newTable()
	}
	return s
}

// journalEntry is one line of the journal: one change.
type journalEntry struct {
	ServiceUser string     `json:"serviceUser,omitempty"`
	Put         *putChange `json:"put,omitempty"`
	Del         *putChange `json:"del,omitempty"` // Obj holds only the id
	Token       *token     `json:"token,omitempty"`
	Queue       *delivery  `json:"queue,omitempty"`
	Done        string     `json:"done,omitempty"`
}

type putChange struct {
	Kind string `json:"kind"`
	Obj  obj    `json:"obj"`
}

type snapshot struct {
	Format      int              `json:"format"`
	ServiceUser string           `json:"serviceUser"`
	Seq         int64            `json:"seq"`
	Records     map[string][]obj `json:"records"`
	Tokens      []*token         `json:"tokens"`
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

func (e *Emulator) removeLocked(kind, id string) {
	e.tables[kind].remove(id)
	e.noteLocked(journalEntry{Del: &putChange{Kind: kind, Obj: obj{"id": id}}})
}

func (e *Emulator) dropExpiredTokensLocked() {
	now := e.now()
	for k, t := range e.tokens {
		if !now.Before(t.Expires) {
			delete(e.tokens, k)
		}
	}
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

var errUnknownKind = errors.New("unknown record kind")

func (s *state) apply(en *journalEntry) error {
	if en.ServiceUser != "" {
		s.serviceUser = en.ServiceUser
	}
	for _, p := range []*putChange{en.Put, en.Del} {
		if p == nil {
			continue
		}
		t, ok := s.tables[p.Kind]
		if !ok {
			return fmt.Errorf("%w: %q", errUnknownKind, p.Kind)
		}
		id, _ := p.Obj["id"].(string)
		if id == "" {
			return fmt.Errorf("a %s without an id", p.Kind)
		}
		if p == en.Del {
			t.remove(id)
			continue
		}
		t.put(p.Obj)
		s.seq = max(s.seq, seqOf(p.Obj))
	}
	if en.Token != nil {
		s.tokens[en.Token.Token] = en.Token
	}
	if d := en.Queue; d != nil {
		s.pending[d.key()] = d
	}
	if en.Done != "" {
		delete(s.pending, en.Done)
	}
	return nil
}

func (s *state) snapshot(upTo int64) *snapshot {
	snap := &snapshot{Format: snapshotFormat, ServiceUser: s.serviceUser, Seq: s.seq, Records: map[string][]obj{}, Journal: upTo}
	for k, t := range s.tables {
		snap.Records[k] = t.order
	}
	for _, t := range s.tokens {
		snap.Tokens = append(snap.Tokens, t)
	}
	sort.Slice(snap.Tokens, func(i, j int) bool { return snap.Tokens[i].Token < snap.Tokens[j].Token })
	for _, d := range s.pending {
		snap.Pending = append(snap.Pending, d)
	}
	sort.Slice(snap.Pending, func(i, j int) bool { return snap.Pending[i].key() < snap.Pending[j].key() })
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
	s.serviceUser, s.seq = snap.ServiceUser, snap.Seq
	for k, objs := range snap.Records {
		for _, o := range objs {
			if err := s.apply(&journalEntry{Put: &putChange{Kind: k, Obj: o}}); err != nil {
				return 0, err
			}
		}
	}
	for _, t := range snap.Tokens {
		s.tokens[t.Token] = t
	}
	for _, d := range snap.Pending {
		s.pending[d.key()] = d
	}
	return snap.Journal, nil
}

// ApplyLine applies one journal line (journal.Image).
func (s *state) ApplyLine(line []byte) error { return journal.DecodeLine(line, s.apply) }

// Encode is s as a snapshot holding the journal below upTo (journal.Image).
func (s *state) Encode(upTo int64) ([]byte, error) { return json.Marshal(s.snapshot(upTo)) }

func (e *Emulator) dir() journal.Dir[*state] {
	return journal.Dir[*state]{Path: e.dataDir, Name: "m3ter emulator", Snapshot: snapshotFile,
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
