package streaming

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"

	"sync"
	"time"

	"github.com/google/uuid"
)

// DefaultRetention is how long a real org keeps platform and change events.
const DefaultRetention = 72 * time.Hour

// BusOptions configures a Bus.
type BusOptions struct {
	Retention time.Duration    // how long events stay replayable; DefaultRetention when 0
	Clock     func() time.Time // time.Now when nil
}

// Event is one published event as the bus retains it.
type Event struct {
	Channel  string         `json:"channel"`
	ReplayID int64          `json:"replayId"`
	UUID     string         `json:"uuid"`
	Schema   string         `json:"schema"`
	Payload  map[string]any `json:"payload"`
	Time     time.Time      `json:"time"`
}

// Bus holds the events of every channel. Replay ids come from one counter
// shared by all channels, so each channel's ids increase but are not
// contiguous, as on a real org; clients that compute with them break here
// as they would there.
type Bus struct {
	retention time.Duration
	clock     func() time.Time

	mu       sync.Mutex
	lastID   int64
	channels map[string]*channelLog
	// changed is closed and replaced on every publish, waking every
	// long poll at once without the bus knowing who waits.
	changed chan struct{}
	journal Journal
}

// Journal receives every change to a bus, in order, while the bus is
// locked: an emulator that keeps its state on disk appends them to its
// log, and Replay and Purge bring a bus back from it.
type Journal interface {
	Published(Event)
	Purged(before time.Time)
}

// SetJournal makes j see every later change of the bus.
func (b *Bus) SetJournal(j Journal) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.journal = j
}

// Replay appends an event exactly as it was once published (read back
// from a journal): same replay id, uuid and time. Replay ids must come in
// the order they were issued.
func (b *Bus) Replay(ev Event) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ev.ReplayID <= b.lastID {
		return fmt.Errorf("streaming: replay: event %d follows %d", ev.ReplayID, b.lastID)
	}
	b.lastID = ev.ReplayID
	b.appendLocked(ev)
	return nil
}

// appendLocked adds ev to its channel's log, journals it and wakes the
// subscribers waiting for events.
func (b *Bus) appendLocked(ev Event) {
	l := b.logLocked(ev.Channel)
	se := storeEvent(ev)
	// One copy of the channel's name and schema id, not one per event.
	se.Channel = l.name
	if l.schema == "" {
		l.schema = SchemaID(l.name)
	}
	if se.Schema == l.schema {
		se.Schema = l.schema
	}
	l.Events = append(l.Events, se)
	l.LastID = ev.ReplayID
	if b.journal != nil {
		b.journal.Published(ev)
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

type channelLog struct {
	Declared bool          `json:"declared"`
	LastID   int64         `json:"lastId"` // last id ever published here, retained or not
	Events   []storedEvent `json:"events"` // in replay order
	name     string        // the channel
	schema   string        // SchemaID(name), once computed
}

// storedEvent is an event as the bus retains it: its payload as the JSON
// it is delivered as. An org keeps every event for 72 hours, so a large
// load leaves hundreds of thousands of them; as maps they cost several
// times their JSON. Readers get the payload decoded with json.Number, as
// an event read back from the data directory always was, so a payload
// re-encodes byte for byte as published.
type storedEvent struct {
	Channel  string          `json:"channel"`
	ReplayID int64           `json:"replayId"`
	UUID     string          `json:"uuid"`
	Schema   string          `json:"schema"`
	Payload  json.RawMessage `json:"payload"`
	Time     time.Time       `json:"time"`
	// raw is the payload as published when it has no JSON form (a value
	// encoding/json refuses); it is then handed out as it came.
	raw map[string]any
}

func storeEvent(ev Event) storedEvent {
	s := storedEvent{Channel: ev.Channel, ReplayID: ev.ReplayID, UUID: ev.UUID, Schema: ev.Schema, Time: ev.Time}
	b, err := json.Marshal(ev.Payload)
	if err != nil {
		s.raw = ev.Payload
		return s
	}
	s.Payload = b
	return s
}

// event is the stored event as readers see it, its payload a fresh map.
func (s storedEvent) event() Event {
	ev := Event{Channel: s.Channel, ReplayID: s.ReplayID, UUID: s.UUID, Schema: s.Schema, Time: s.Time, Payload: s.raw}
	if s.raw == nil {
		dec := json.NewDecoder(bytes.NewReader(s.Payload))
		dec.UseNumber()
		if err := dec.Decode(&ev.Payload); err != nil {
			ev.Payload = map[string]any{} // never: the bus encoded it
		}
	}
	return ev
}

func decodeEvents(ss []storedEvent) []Event {
	if len(ss) == 0 {
		return nil
	}
	out := make([]Event, len(ss))
	for i, s := range ss {
		out[i] = s.event()
	}
	return out
}

// NewBus returns an empty bus.
func NewBus(opts BusOptions) *Bus {
	if opts.Retention <= 0 {
		opts.Retention = DefaultRetention
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	return &Bus{retention: opts.Retention, clock: opts.Clock, channels: map[string]*channelLog{}, changed: make(chan struct{})}
}

// SchemaID is the stable schema id the bus reports for a channel. Real
// schema ids are 22-character URL-safe base64 fingerprints; this one is
// derived from the channel name so it survives restarts.
func SchemaID(channel string) string {
	sum := sha256.Sum256([]byte(channel))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// Declare makes a channel subscribable before anything was published to it
// (a platform event object that exists in the org).
func (b *Bus) Declare(channel string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logLocked(channel).Declared = true
}

func (b *Bus) logLocked(channel string) *channelLog {
	l := b.channels[channel]
	if l == nil {
		l = &channelLog{name: channel}
		b.channels[channel] = l
	}
	return l
}

// Publish appends an event to channel and wakes waiting long polls. The
// payload is copied; CreatedDate is filled in (UTC, millisecond "Z" form,
// as platform events carry it) when the caller left it out. Callers should
// set CreatedById to the publishing user.
func (b *Bus) Publish(channel string, payload map[string]any) Event {
	now := b.clock().UTC()
	p := make(map[string]any, len(payload)+1)
	maps.Copy(p, payload)
	// Change events (/data/ channels) carry their time in the header's
	// commitTimestamp; CreatedDate in their body is the record's field.
	if _, ok := p["CreatedDate"]; !ok && !strings.HasPrefix(channel, "/data/") {
		p["CreatedDate"] = now.Format("2006-01-02T15:04:05.000Z")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.purgeLocked(now.Add(-b.retention))
	b.lastID++
	ev := Event{Channel: channel, ReplayID: b.lastID, UUID: uuid.NewString(), Schema: SchemaID(channel), Payload: p, Time: now}
	b.appendLocked(ev)
	return ev
}

// Purge drops every event published before the given time and reports how
// many went. A replay id whose event is gone is no longer valid.
func (b *Bus) Purge(before time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.purgeLocked(before)
}

func (b *Bus) purgeLocked(before time.Time) int {
	n := 0
	for _, l := range b.channels {
		i := sort.Search(len(l.Events), func(i int) bool { return !l.Events[i].Time.Before(before) })
		if i > 0 {
			n += i
			l.Events = append([]storedEvent(nil), l.Events[i:]...)
		}
	}
	if n > 0 && b.journal != nil {
		b.journal.Purged(before)
	}
	return n
}

// exists reports whether channel can be subscribed to.
func (b *Bus) exists(channel string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.channels[channel]
	return l != nil && (l.Declared || l.LastID > 0)
}

// errInvalidReplay is a replay id the channel no longer (or never) held.
type errInvalidReplay struct{ id int64 }

func (e errInvalidReplay) Error() string {
	return fmt.Sprintf("400::The replayId {%d} you provided was invalid.  Please provide a valid ID, -2 to replay all events, or -1 to replay only new events.", e.id)
}

// position turns a subscribe's replay value into a cursor: deliver events
// of channel whose id is greater than the cursor. An explicit id is valid
// only while it lies within what the channel still retains, from its
// oldest retained event up to its last published one: an id whose events
// were purged, or one never issued, is refused like a real org does.
func (b *Bus) position(channel string, replay int64) (int64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.purgeLocked(b.clock().Add(-b.retention))
	l := b.logLocked(channel)
	switch {
	case replay == -1:
		return l.LastID, nil
	case replay == -2:
		return 0, nil
	case replay >= 1 && len(l.Events) > 0 && replay >= l.Events[0].ReplayID && replay <= l.LastID:
		return replay, nil
	}
	return 0, errInvalidReplay{replay}
}

// after returns the retained events of the given channels past each
// channel's cursor, in replay order, at most limit of them, together with
// the channel that wakes on the next publish.
func (b *Bus) after(cursors map[string]int64, limit int) ([]Event, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []storedEvent
	for ch, cur := range cursors {
		l := b.channels[ch]
		if l == nil {
			continue
		}
		i := sort.Search(len(l.Events), func(i int) bool { return l.Events[i].ReplayID > cur })
		out = append(out, l.Events[i:]...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ReplayID < out[j].ReplayID })
	if len(out) > limit {
		out = out[:limit]
	}
	return decodeEvents(out), b.changed
}

// Events returns the retained events of a channel, oldest first (for the
// emulator's admin views and tests).
func (b *Bus) Events(channel string) []Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.channels[channel]
	if l == nil {
		return nil
	}
	return decodeEvents(l.Events)
}

// EventByUUID is the retained event of channel with that uuid (compared
// case-insensitively), newest first; only it is decoded.
func (b *Bus) EventByUUID(channel, uuid string) (Event, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	l := b.channels[channel]
	if l == nil {
		return Event{}, false
	}
	for i := len(l.Events) - 1; i >= 0; i-- {
		if strings.EqualFold(l.Events[i].UUID, uuid) {
			return l.Events[i].event(), true
		}
	}
	return Event{}, false
}

type busSnapshot struct {
	Version  int                    `json:"version"`
	LastID   int64                  `json:"lastId"`
	Channels map[string]*channelLog `json:"channels"`
}

// Snapshot serialises the bus for the emulator's data directory.
func (b *Bus) Snapshot() ([]byte, error) {
	var buf bytes.Buffer
	if err := b.WriteSnapshot(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteSnapshot writes what Snapshot returns to w one event at a time:
// the bus of a large org is never one buffer.
func (b *Bus) WriteSnapshot(w io.Writer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	sw := &snapshotWriter{w: w}
	sw.printf(`{"version":1,"lastId":%d,"channels":{`, b.lastID)
	for i, name := range slices.Sorted(maps.Keys(b.channels)) {
		l := b.channels[name]
		if i > 0 {
			sw.printf(",")
		}
		sw.json(name)
		sw.printf(`:{"declared":%t,"lastId":%d,"events":`, l.Declared, l.LastID)
		if l.Events == nil {
			sw.printf("null}")
			continue
		}
		sw.printf("[")
		for k, ev := range l.Events {
			if k > 0 {
				sw.printf(",")
			}
			sw.json(ev)
		}
		sw.printf("]}")
	}
	sw.printf("}}")
	if sw.err != nil {
		return fmt.Errorf("streaming: snapshot bus: %w", sw.err)
	}
	return nil
}

// snapshotWriter keeps the first error of many small writes.
type snapshotWriter struct {
	w   io.Writer
	err error
}

func (s *snapshotWriter) printf(format string, args ...any) {
	if s.err == nil {
		_, s.err = fmt.Fprintf(s.w, format, args...)
	}
}

func (s *snapshotWriter) json(v any) {
	if s.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err == nil {
		_, err = s.w.Write(b)
	}
	s.err = err
}

// Restore replaces the bus's contents with a snapshot. Payload numbers come
// back as json.Number so that they re-encode exactly as published.
func (b *Bus) Restore(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("streaming: restore bus: not a snapshot (%v, %v)", t, err)
	}
	return b.RestoreFrom(dec)
}

// RestoreFrom is Restore reading the snapshot from dec, positioned just
// inside its opening brace, and leaving dec past its closing one. It
// decodes one event at a time, so the snapshot of a large org need not be
// in memory whole.
func (b *Bus) RestoreFrom(dec *json.Decoder) error {
	s, err := readBusSnapshot(dec)
	if err != nil {
		return fmt.Errorf("streaming: restore bus: %w", err)
	}
	if s.Version != 1 {
		return fmt.Errorf("streaming: restore bus: unsupported snapshot version %d", s.Version)
	}
	for name, l := range s.Channels {
		l.name, l.schema = name, SchemaID(name)
		for i, ev := range l.Events {
			if ev.ReplayID > s.LastID || ev.ReplayID > l.LastID || (i > 0 && ev.ReplayID <= l.Events[i-1].ReplayID) {
				return fmt.Errorf("streaming: restore bus: channel %q: replay ids out of order", name)
			}
			if ev.Channel == l.name {
				l.Events[i].Channel = l.name
			}
			if ev.Schema == l.schema {
				l.Events[i].Schema = l.schema
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastID, b.channels = s.LastID, s.Channels
	close(b.changed)
	b.changed = make(chan struct{})
	return nil
}

// readBusSnapshot reads a bus snapshot's members token by token, each
// event on its own.
func readBusSnapshot(dec *json.Decoder) (*busSnapshot, error) {
	s := &busSnapshot{Channels: map[string]*channelLog{}}
	err := objectMembers(dec, func(key string) error {
		switch key {
		case "version":
			return dec.Decode(&s.Version)
		case "lastId":
			return dec.Decode(&s.LastID)
		case "channels":
			return readChannels(dec, s.Channels)
		}
		var skip json.RawMessage
		return dec.Decode(&skip)
	})
	return s, err
}

func readChannels(dec *json.Decoder, out map[string]*channelLog) error {
	if t, err := dec.Token(); err != nil || t == nil {
		return err // null: no channels
	} else if t != json.Delim('{') {
		return fmt.Errorf("channels: unexpected %v", t)
	}
	return objectMembers(dec, func(name string) error {
		if t, err := dec.Token(); err != nil {
			return err
		} else if t == nil {
			return fmt.Errorf("channel %q has no log", name)
		} else if t != json.Delim('{') {
			return fmt.Errorf("channel %q: unexpected %v", name, t)
		}
		l := &channelLog{}
		out[name] = l
		return objectMembers(dec, func(key string) error {
			switch key {
			case "declared":
				return dec.Decode(&l.Declared)
			case "lastId":
				return dec.Decode(&l.LastID)
			case "events":
				return readEvents(dec, l)
			}
			var skip json.RawMessage
			return dec.Decode(&skip)
		})
	})
}

func readEvents(dec *json.Decoder, l *channelLog) error {
	t, err := dec.Token()
	if err != nil || t == nil {
		return err
	}
	if t != json.Delim('[') {
		return fmt.Errorf("events: unexpected %v", t)
	}
	for dec.More() {
		var ev storedEvent
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		l.Events = append(l.Events, ev)
	}
	_, err = dec.Token() // ]
	return err
}

// objectMembers reads an object whose opening brace dec already read,
// calling member with each key while dec is positioned at its value
// (which member must consume), and consumes the closing brace.
func objectMembers(dec *json.Decoder, member func(key string) error) error {
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := t.(string)
		if !ok {
			return fmt.Errorf("unexpected %v", t)
		}
		if err := member(key); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}

// Exists reports whether channel can be subscribed to (for the Pub/Sub
// API server, which shares this bus).
func (b *Bus) Exists(channel string) bool { return b.exists(channel) }

// Position turns a replay value (-1 new only, -2 all retained, or a replay
// id) into a cursor for After; an id the channel does not hold is an error.
func (b *Bus) Position(channel string, replay int64) (int64, error) {
	return b.position(channel, replay)
}

// After returns at most limit retained events of channel past cursor, in
// replay order, and a channel closed on the next publish.
func (b *Bus) After(channel string, cursor int64, limit int) ([]Event, <-chan struct{}) {
	return b.after(map[string]int64{channel: cursor}, limit)
}

// LastID is the last replay id published on channel, retained or not.
func (b *Bus) LastID(channel string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l := b.channels[channel]; l != nil {
		return l.LastID
	}
	return 0
}
