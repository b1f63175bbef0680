package pubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"
	"google.golang.org/grpc/metadata"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

// Event is one decoded event of a topic.
type Event struct {
	Topic    string
	ReplayID []byte // opaque: store as is, never compute with it
	ID       string // the event's uuid (EventUuid of a platform event)
	SchemaID string // the schema the payload was written with
	Payload  map[string]any
}

// Position is where a subscription starts: a preset, or the event after
// ReplayID with pb.ReplayPreset_CUSTOM.
type Position struct {
	Preset   pb.ReplayPreset
	ReplayID []byte
}

// Latest is new events only; Earliest every retained event.
var (
	Latest   = Position{Preset: pb.ReplayPreset_LATEST}
	Earliest = Position{Preset: pb.ReplayPreset_EARLIEST}
)

// After is the position just after the event with this replay id.
func After(replayID []byte) Position {
	return Position{Preset: pb.ReplayPreset_CUSTOM, ReplayID: replayID}
}

// handlerError marks the handler's own failure, which ends Stream.
type handlerError struct{ err error }

func (h handlerError) Error() string { return h.err.Error() }
func (h handlerError) Unwrap() error { return h.err }

// Stream delivers the events of topic after from to handle, one at a time
// in replay order, until ctx ends or handle fails (its error is returned).
// At most Config.Requested events are ever held unhandled or owed by the
// server: more are requested as events are handled. After a dropped
// stream it resubscribes, with backoff, after the last handled event. A
// replay id the org refuses ends it with an *Error matching
// billsync.ErrReplayGap.
func (c *Client) Stream(ctx context.Context, topic string, from Position, handle func(context.Context, Event) error) error {
	pos := from
	attempt := 0
	for {
		handled, err := c.session(ctx, topic, pos, func(ctx context.Context, ev Event) error {
			if err := handle(ctx, ev); err != nil {
				return handlerError{err}
			}
			pos = After(ev.ReplayID)
			return nil
		})
		c.setConnected(false, err)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var he handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if errors.Is(err, billsync.ErrReplayGap) {
			return err
		}
		if handled {
			attempt = 0
		}
		attempt++
		wait := c.cfg.Backoff(attempt)
		c.log.Warn("Pub/Sub stream ended; resubscribing", "topic", topic, "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// session runs one Subscribe call; handled reports whether any event was
// handled (a stream that worked resets the backoff).
func (c *Client) session(ctx context.Context, topic string, from Position, handle func(context.Context, Event) error) (handled bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	actx, tok, err := c.authCtx(ctx)
	if err != nil {
		return false, err
	}
	stream, err := c.api.Subscribe(actx)
	if err != nil {
		return false, err
	}
	window := c.cfg.Requested
	first := &pb.FetchRequest{TopicName: topic, ReplayPreset: from.Preset, NumRequested: window}
	if from.Preset == pb.ReplayPreset_CUSTOM {
		first.ReplayId = from.ReplayID
	}
	if err := stream.Send(first); err != nil {
		return false, c.streamErr(err, stream.Trailer(), tok)
	}
	// Up until the server says otherwise: a quiet topic sends nothing for
	// minutes, and a refused token or replay id arrives as Recv's error.
	c.setConnected(true, nil)

	// The receiver never holds more than the window: the server sends at
	// most the credit granted, and credit is only returned once an event
	// leaves this buffer and is handled.
	events := make(chan *pb.ConsumerEvent, window)
	recvErr := make(chan error, 1)
	go func() {
		for {
			resp, err := stream.Recv()
			if err != nil {
				recvErr <- c.streamErr(err, stream.Trailer(), tok)
				return
			}
			for _, ev := range resp.GetEvents() {
				select {
				case events <- ev:
				default:
					recvErr <- fmt.Errorf("pubsub: the server sent more events than requested (%d)", window)
					return
				}
			}
		}
	}()

	// Credit goes back in batches of half the window, so the server has
	// credit left while a batch is handled and the stream never idles with
	// none (Salesforce closes it after 60 s without credit).
	refill := max(window/2, 1)
	var owed int32
	for {
		select {
		case <-ctx.Done():
			return handled, ctx.Err()
		case err := <-recvErr:
			return handled, err
		case ce := <-events:
			if ctx.Err() != nil {
				return handled, ctx.Err() // a stop wins over buffered events
			}
			ev, err := c.decode(ctx, topic, ce)
			if err != nil {
				// Skipping would move the stored position past an event
				// never applied: stop, and retry from the last one.
				return handled, err
			}
			if err := handle(ctx, ev); err != nil {
				return handled, err
			}
			handled = true
			owed++
			if owed >= refill {
				if err := stream.Send(&pb.FetchRequest{NumRequested: owed}); err != nil {
					return handled, c.streamErr(err, stream.Trailer(), tok)
				}
				owed = 0
			}
		}
	}
}

// streamErr turns a stream failure into an *Error, and has the session
// fetch a new token when the current one was refused.
func (c *Client) streamErr(err error, trailer metadata.MD, tok string) error {
	err = rpcError(err, trailer)
	var pe *Error
	if errors.As(err, &pe) && pe.auth() {
		c.cfg.Session.Invalidate(tok)
	}
	return err
}

func (c *Client) decode(ctx context.Context, topic string, ce *pb.ConsumerEvent) (Event, error) {
	pe := ce.GetEvent()
	schema, err := c.Schema(ctx, pe.GetSchemaId())
	if err != nil {
		return Event{}, err
	}
	var payload map[string]any
	if err := avro.Unmarshal(schema, pe.GetPayload(), &payload); err != nil {
		return Event{}, fmt.Errorf("pubsub: decoding event %s with schema %s: %w", pe.GetId(), pe.GetSchemaId(), err)
	}
	if err := changeEvent(schema, payload); err != nil && !errors.Is(err, errNotChangeEvent) {
		// The event still names its records: with no field names the
		// listener reads them whole, which loses nothing.
		c.log.Warn("a change event's field bitmaps do not fit its schema; its records are read whole", "topic", topic, "schemaId", pe.GetSchemaId(), "err", err)
	}
	return Event{Topic: topic, ReplayID: ce.GetReplayId(), ID: pe.GetId(), SchemaID: pe.GetSchemaId(), Payload: payload}, nil
}

var _ billsync.ChangeSource = (*Client)(nil)

// Subscribe implements billsync.ChangeSource for a platform event channel
// ("/event/BillingObjectChange__e", which is also its Pub/Sub topic) or a
// Change Data Capture channel ("/data/BillingAccount__ChangeEvent"), whose
// events arrive with their field bitmaps expanded into names.
// Replay ids pass through as the opaque bytes Salesforce issued, whatever
// their length. A position another transport stored (a CometD integer)
// is sent as it is: the org refuses it as a corrupted replay id, which is
// a gap (billsync.ErrReplayGap), never a silent start at the newest event.
func (c *Client) Subscribe(ctx context.Context, channel string, replayFrom billsync.ReplayID, handle func(context.Context, billsync.StreamEvent) error) error {
	var from Position
	switch {
	case replayFrom.IsAll():
		from = Earliest
	case replayFrom.IsNew():
		from = Latest
	case len(replayFrom) == 0:
		return billsync.Errorf(billsync.EINVALID, "pubsub: empty replay position")
	default:
		from = After(replayFrom)
	}
	return c.Stream(ctx, channel, from, func(ctx context.Context, ev Event) error {
		se, err := streamEvent(channel, ev)
		if err != nil {
			return err
		}
		return handle(ctx, se)
	})
}

// streamEvent gives an event the shape the CometD subscriber gives it:
// numbers as json.Number and a platform event's CreatedDate as
// Salesforce's UTC string, so the listener stores the same payload
// whatever the transport. (A change event's own dates stay epoch
// milliseconds, as Pub/Sub sends them; billsync reads the record.)
func streamEvent(channel string, ev Event) (billsync.StreamEvent, error) {
	if len(ev.ReplayID) == 0 {
		return billsync.StreamEvent{}, fmt.Errorf("pubsub: event %s has no replay id", ev.ID)
	}
	se := billsync.StreamEvent{Channel: channel, ReplayID: billsync.ReplayID(ev.ReplayID), EventUUID: ev.ID, Payload: make(map[string]any, len(ev.Payload))}
	for k, v := range ev.Payload {
		se.Payload[k] = jsonValue(v)
	}
	if ms, ok := ev.Payload["CreatedDate"].(int64); ok {
		se.CreatedDate = time.UnixMilli(ms).UTC()
		se.Payload["CreatedDate"] = se.CreatedDate.Format("2006-01-02T15:04:05.000Z")
	}
	if s, ok := ev.Payload["CreatedById"].(string); ok {
		se.CreatedByID = s
	}
	// A change event carries who and when in its header instead.
	if h, ok := ev.Payload[changeEventHeader].(map[string]any); ok {
		if ms, ok := h["commitTimestamp"].(int64); ok && se.CreatedDate.IsZero() {
			se.CreatedDate = time.UnixMilli(ms).UTC()
		}
		if s, ok := h["commitUser"].(string); ok && se.CreatedByID == "" {
			se.CreatedByID = s
		}
	}
	return se, nil
}

// jsonValue is a decoded Avro value in the form a JSON payload decodes to.
func jsonValue(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case int32:
		return json.Number(strconv.FormatInt(int64(x), 10))
	case int64:
		return json.Number(strconv.FormatInt(x, 10))
	case float32:
		return json.Number(strconv.FormatFloat(float64(x), 'f', -1, 32))
	case float64:
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = jsonValue(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = jsonValue(e)
		}
		return out
	}
	return v
}
