package cometd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// Message is one Bayeux message as received from the server. Only the
// fields billsync reads are kept; the rest are ignored.
type Message struct {
	Channel      string
	ID           string
	ClientID     string
	Successful   bool
	Error        string
	Advice       *Advice
	Subscription string
	Ext          map[string]any
	// Event is set for a delivered event (any non-/meta/ channel with data).
	Event *billsync.StreamEvent
}

// Advice is the server's reconnect advice.
type Advice struct {
	Reconnect string        // "retry", "handshake", "none" or ""
	Interval  time.Duration // wait before the next connect
	Timeout   time.Duration // how long the server may hold a connect
	HasTime   bool          // Timeout was given
}

type rawMessage struct {
	Channel      *string         `json:"channel"`
	ID           json.RawMessage `json:"id"`
	ClientID     string          `json:"clientId"`
	Successful   *bool           `json:"successful"`
	Error        json.RawMessage `json:"error"`
	Advice       *rawAdvice      `json:"advice"`
	Subscription json.RawMessage `json:"subscription"`
	Ext          map[string]any  `json:"ext"`
	Data         json.RawMessage `json:"data"`
}

type rawAdvice struct {
	Reconnect string      `json:"reconnect"`
	Interval  json.Number `json:"interval"`
	Timeout   json.Number `json:"timeout"`
}

type rawData struct {
	Schema  string          `json:"schema"`
	Payload json.RawMessage `json:"payload"`
	Event   *struct {
		ReplayID  json.Number `json:"replayId"`
		EventUUID string      `json:"EventUuid"`
	} `json:"event"`
}

// DecodeMessages parses a Bayeux response body: a JSON array of messages
// (a lone object is accepted too). It is strict about what billsync relies
// on (every message has a channel; an event has an object payload and an
// integral replayId) and tolerant of everything else (unknown fields, ids
// as numbers or strings, missing EventUuid on change events, either date
// format). Payload numbers stay json.Number so that money and 19-digit
// commit numbers keep every digit.
func DecodeMessages(body []byte) ([]Message, error) {
	body = bytes.TrimSpace(body)
	var raws []rawMessage
	switch {
	case len(body) > 0 && body[0] == '{':
		var one rawMessage
		if err := decodeStrictNumbers(body, &one); err != nil {
			return nil, fmt.Errorf("bayeux: decode message: %w", err)
		}
		raws = []rawMessage{one}
	default:
		if err := decodeStrictNumbers(body, &raws); err != nil {
			return nil, fmt.Errorf("bayeux: decode messages: %w", err)
		}
	}
	out := make([]Message, 0, len(raws))
	for i, r := range raws {
		m, err := r.message()
		if err != nil {
			return nil, fmt.Errorf("bayeux: message %d: %w", i, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func decodeStrictNumbers(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

func (r rawMessage) message() (Message, error) {
	if r.Channel == nil || *r.Channel == "" {
		return Message{}, errors.New("no channel")
	}
	m := Message{Channel: *r.Channel, ClientID: r.ClientID, Ext: r.Ext}
	m.ID = scalarString(r.ID)
	m.Error = scalarString(r.Error)
	m.Subscription = scalarString(r.Subscription)
	if r.Successful != nil {
		m.Successful = *r.Successful
	}
	if r.Advice != nil {
		a := &Advice{Reconnect: r.Advice.Reconnect}
		if ms, ok := millis(r.Advice.Interval); ok {
			a.Interval = ms
		}
		if ms, ok := millis(r.Advice.Timeout); ok {
			a.Timeout, a.HasTime = ms, true
		}
		m.Advice = a
	}
	if !strings.HasPrefix(m.Channel, "/meta/") && len(r.Data) > 0 && string(r.Data) != "null" {
		ev, err := decodeEvent(m.Channel, r.Data)
		if err != nil {
			return Message{}, fmt.Errorf("event on %s: %w", m.Channel, err)
		}
		m.Event = &ev
	}
	return m, nil
}

// scalarString renders a JSON string or number as a Go string; anything
// else (absent, null, objects) as "".
func scalarString(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func millis(n json.Number) (time.Duration, bool) {
	if n == "" {
		return 0, false
	}
	v, err := n.Int64()
	if err != nil {
		f, ferr := n.Float64()
		if ferr != nil || f < 0 || f > float64(1<<40) {
			return 0, false
		}
		v = int64(f)
	}
	if v < 0 || v > 1<<40 {
		return 0, false
	}
	return time.Duration(v) * time.Millisecond, true
}

func decodeEvent(channel string, data json.RawMessage) (billsync.StreamEvent, error) {
	var d rawData
	if err := decodeStrictNumbers(data, &d); err != nil {
		return billsync.StreamEvent{}, err
	}
	if d.Event == nil || d.Event.ReplayID == "" {
		return billsync.StreamEvent{}, errors.New("no data.event.replayId")
	}
	id, err := strconv.ParseInt(d.Event.ReplayID.String(), 10, 64)
	if err != nil {
		return billsync.StreamEvent{}, fmt.Errorf("replayId %s is not an integer", d.Event.ReplayID)
	}
	var payload map[string]any
	if err := decodeStrictNumbers(d.Payload, &payload); err != nil || payload == nil {
		return billsync.StreamEvent{}, errors.New("data.payload is not an object")
	}
	ev := billsync.StreamEvent{Channel: channel, ReplayID: billsync.ReplayInt(id), EventUUID: d.Event.EventUUID, Payload: payload}
	if s, ok := payload["CreatedDate"].(string); ok {
		t, err := parseSalesforceTime(s)
		if err != nil {
			return billsync.StreamEvent{}, fmt.Errorf("CreatedDate: %w", err)
		}
		ev.CreatedDate = t
	}
	if s, ok := payload["CreatedById"].(string); ok {
		ev.CreatedByID = s
	}
	// Change events carry who and when in their header instead.
	if h, ok := payload["ChangeEventHeader"].(map[string]any); ok {
		if ev.CreatedDate.IsZero() {
			if n, ok := h["commitTimestamp"].(json.Number); ok {
				if ms, err := n.Int64(); err == nil {
					ev.CreatedDate = time.UnixMilli(ms).UTC()
				}
			}
		}
		if ev.CreatedByID == "" {
			ev.CreatedByID, _ = h["commitUser"].(string)
		}
	}
	return ev, nil
}

// parseSalesforceTime reads a streaming date ("2023-12-05T12:01:05.558Z")
// and, tolerantly, the REST form ("…+0000").
func parseSalesforceTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000-0700", "2006-01-02T15:04:05-0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised date %q", s)
}
