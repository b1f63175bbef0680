package runner

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mapping"
)

// ChannelBillingObjectChange is the platform event channel the seed's
// trigger publishes on (C1, platform-event mode).
const ChannelBillingObjectChange = "/event/BillingObjectChange__e"

// ListenerConfig wires a Listener.
type ListenerConfig struct {
	Source  billsync.ChangeSource
	Queue   billsync.Queue
	State   billsync.StateStore
	Log     billsync.LogStore
	Meta    billsync.MetaStore
	Mapping *mapping.Mapping
	Channel string // default ChannelBillingObjectChange
	// CDC, when set, subscribes to the Change Data Capture channels of
	// the mapped objects instead of Channel, one subscription each.
	CDC *CDCConfig
	// OnEnqueue is called after each stored change (wake the runner).
	OnEnqueue func()
	// OnGap is called when the stored replay id fell out of the org's
	// retention window (C5); the resync is started there.
	OnGap func(ctx context.Context)
	// Leases, when set, makes the subscription a singleton across
	// replicas sharing a store: only the holder of the lease subscribes;
	// the others stand by and take over when it lapses.
	Leases   billsync.LeaseStore
	Owner    string        // this replica's name for the lease
	LeaseTTL time.Duration // default 15 s; renewed every third of it
	// RetryWait is the wait before resubscribing after a failure,
	// doubling up to a minute; default 1 s.
	RetryWait time.Duration
	Logger    *slog.Logger
	Clock     func() time.Time
}

// Listener moves Salesforce change events into the queue, each in the same
// transaction as its replay checkpoint, so that a restart resumes exactly
// after the last stored event (C5).
type Listener struct {
	cfg ListenerConfig

	mu      sync.Mutex
	standby bool // another replica holds the subscription
	running bool // every channel's subscription is up
	lastErr error
	// channels is each channel's own state, which running and lastErr
	// sum up: one channel down makes the whole subscription down.
	channels map[string]channelState
	lag      time.Duration // publish-to-stored delay of the last event
}

// Lag is how long the last event took from its publication in Salesforce
// to its row in the queue.
func (l *Listener) Lag() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lag
}

// NewListener returns a Listener; call Run to start it.
func NewListener(cfg ListenerConfig) *Listener {
	if cfg.Channel == "" {
		cfg.Channel = ChannelBillingObjectChange
	}
	if cfg.Mapping == nil {
		cfg.Mapping = mapping.Default()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.RetryWait <= 0 {
		cfg.RetryWait = time.Second
	}
	return &Listener{cfg: cfg}
}

// SourceHealth is implemented by a ChangeSource that recovers from
// dropped connections inside Subscribe (salesforce/cometd): Health is nil
// while its connection is up and says why not otherwise. Without it, a
// subscription counts as up from the moment Subscribe is called.
type SourceHealth interface {
	Health() error
}

// StreamState is the subscription's state. Readiness and the stream
// metrics are both derived from it, so they never disagree.
type StreamState struct {
	Connected bool          // this replica's subscription is up
	Standby   bool          // another replica holds the subscription
	Err       error         // why neither: nil exactly when Connected or Standby
	Lag       time.Duration // see Lag
}

// Status reports the subscription's state now. It asks the source at each
// call, so a connection that dropped a moment ago shows at once.
func (l *Listener) Status() StreamState {
	l.mu.Lock()
	st := StreamState{Standby: l.standby, Lag: l.lag}
	running, lastErr := l.running, l.lastErr
	l.mu.Unlock()
	switch {
	case st.Standby:
	case lastErr != nil:
		st.Err = lastErr
	case !running:
		st.Err = errors.New("event subscription not started")
	default:
		if h, ok := l.cfg.Source.(SourceHealth); ok {
			st.Err = h.Health()
		}
		st.Connected = st.Err == nil
	}
	return st
}

// Err is the reason the subscription is down, or nil while it is up or
// another replica holds it.
func (l *Listener) Err() error { return l.Status().Err }

// channelState is one channel's subscription state.
type channelState struct {
	running bool
	err     error
}

// setState records channel's state and sums up every channel's.
func (l *Listener) setState(channel string, running bool, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.channels == nil {
		l.channels = map[string]channelState{}
	}
	l.channels[channel] = channelState{running, err}
	l.running, l.lastErr = true, nil
	for _, ch := range slices.Sorted(maps.Keys(l.channels)) {
		st := l.channels[ch]
		l.running = l.running && st.running
		if l.lastErr == nil {
			l.lastErr = st.err
		}
	}
}

// Leader reports whether this replica holds the subscription.
func (l *Listener) Leader() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.standby && l.running
}

// Run subscribes until ctx ends, resubscribing after failures; with
// Leases set, only while this replica holds the subscription's lease.
func (l *Listener) Run(ctx context.Context) error {
	if l.cfg.Leases == nil {
		return l.subscribe(ctx)
	}
	ttl := l.cfg.LeaseTTL
	if ttl <= 0 {
		ttl = 15 * time.Second
	}
	name := "subscription:" + l.cfg.Channel
	if l.cfg.CDC != nil {
		name = "subscription:cdc"
	}
	for {
		held, err := l.cfg.Leases.TryLease(ctx, name, l.cfg.Owner, ttl)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || !held {
			l.mu.Lock()
			l.standby, l.lastErr = err == nil, err
			l.mu.Unlock()
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(ttl / 3):
			}
			continue
		}
		l.cfg.Logger.Info("holding the event subscription", "owner", l.cfg.Owner)
		l.mu.Lock()
		l.standby = false
		l.mu.Unlock()
		if err := l.lead(ctx, name, ttl); err != nil {
			return err
		}
	}
}

// lead subscribes while renewing the lease; it returns nil when the lease
// was lost (someone else leads now) and ctx's error when ctx ends.
func (l *Listener) lead(ctx context.Context, name string, ttl time.Duration) error {
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- l.subscribe(subCtx) }()
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			cancel()
			<-done
			rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			_ = l.cfg.Leases.ReleaseLease(rctx, name, l.cfg.Owner)
			rcancel()
			return ctx.Err()
		case err := <-done:
			return err
		case <-tick.C:
			held, err := l.cfg.Leases.TryLease(ctx, name, l.cfg.Owner, ttl)
			if err == nil && held {
				continue
			}
			l.cfg.Logger.Warn("lost the event subscription's lease; standing by", "err", err)
			cancel()
			<-done
			return nil
		}
	}
}

// subscribedChannels are the channels the listener subscribes to.
func (l *Listener) subscribedChannels() []string {
	if l.cfg.CDC != nil {
		return CDCChannels(l.cfg.Mapping)
	}
	return []string{l.cfg.Channel}
}

// subscribe subscribes to every channel until ctx ends; each channel
// keeps its own replay checkpoint and resubscribes on its own.
func (l *Listener) subscribe(ctx context.Context) error {
	chs := l.subscribedChannels()
	for _, ch := range chs {
		l.setState(ch, false, nil)
	}
	if len(chs) == 1 {
		return l.subscribeChannel(ctx, chs[0])
	}
	errs := make(chan error, len(chs))
	for _, ch := range chs {
		go func() { errs <- l.subscribeChannel(ctx, ch) }()
	}
	var first error
	for range chs {
		if err := <-errs; first == nil {
			first = err
		}
	}
	return first
}

// subscribeChannel subscribes to one channel until ctx ends,
// resubscribing after failures.
func (l *Listener) subscribeChannel(ctx context.Context, channel string) error {
	backoff := l.cfg.RetryWait
	for {
		// since is set while no replay id is stored: events published
		// before it predate billsync and only move the checkpoint.
		var since time.Time
		from, ok, err := l.cfg.Queue.ReplayID(ctx, channel)
		if err == nil && !ok {
			// No event stored yet. Subscribing with -1 would lose what is
			// published while billsync is down before its first event, so
			// replay everything retained and skip what predates the first
			// start (`billsync resync --initial` is the first load).
			from = billsync.ReplayAll
			since, err = l.listenSince(ctx)
		}
		if err == nil {
			l.setState(channel, true, nil)
			err = l.cfg.Source.Subscribe(ctx, channel, from, func(ctx context.Context, ev billsync.StreamEvent) error {
				return l.handle(ctx, ev, since)
			})
		}
		if ctx.Err() != nil {
			l.setState(channel, false, ctx.Err())
			return ctx.Err()
		}
		l.setState(channel, false, err)
		if errors.Is(err, billsync.ErrReplayGap) {
			l.gap(ctx, channel, from, err)
			backoff = l.cfg.RetryWait
			continue
		}
		l.cfg.Logger.Warn("event subscription ended; resubscribing", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

// gap handles a replay id the org no longer holds (C5): it is logged, the
// subscription restarts from every retained event (repeats are dropped by
// their EventUuid), and a resync is started for what may have been lost.
func (l *Listener) gap(ctx context.Context, channel string, from billsync.ReplayID, cause error) {
	l.cfg.Logger.Error("replay id no longer held by the org; replaying all retained events and starting a resync", "channel", channel, "replayId", from.String(), "err", cause)
	if l.cfg.Log != nil {
		_ = l.cfg.Log.AppendLog(ctx, billsync.LogEntry{
			Time: l.cfg.Clock().UTC(), Direction: billsync.ToBilling, Operation: "subscribe",
			Outcome: billsync.OutcomeFailed, Reason: "replay_gap", ErrorCode: "REPLAY_ID_INVALID",
			Message: "stored replay id fell out of the retention window; replaying all retained events and starting a resync",
		})
	}
	if err := l.cfg.Queue.SetReplayID(ctx, channel, billsync.ReplayAll); err != nil {
		l.cfg.Logger.Error("resetting the replay id", "err", err)
	}
	if l.cfg.OnGap != nil {
		l.cfg.OnGap(ctx)
	}
}

// listenSince returns the stored time of the first start, storing it
// now (less a margin for clock skew with Salesforce) on the first call.
func (l *Listener) listenSince(ctx context.Context) (time.Time, error) {
	if l.cfg.Meta == nil {
		return l.cfg.Clock().UTC(), nil
	}
	v, ok, err := l.cfg.Meta.Meta(ctx, billsync.MetaListenSince)
	if err != nil {
		return time.Time{}, err
	}
	if ok {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return t, nil
		}
	}
	t := l.cfg.Clock().UTC().Add(-time.Minute)
	return t, l.cfg.Meta.SetMeta(ctx, billsync.MetaListenSince, t.Format(time.RFC3339Nano))
}

// handle stores one event as changes; events published before since
// (when set) only move the checkpoint.
func (l *Listener) handle(ctx context.Context, ev billsync.StreamEvent, since time.Time) error {
	var cs []*billsync.Change
	if since.IsZero() || ev.CreatedDate.IsZero() || !ev.CreatedDate.Before(since) {
		cs = l.changesOf(ctx, ev)
	}
	var c *billsync.Change
	if len(cs) > 0 {
		// A merged change event names several records: all but the last
		// are stored first, so the checkpoint moves only once every one
		// is (a repeat is dropped by its event id).
		if len(cs) > 1 {
			if _, err := l.cfg.Queue.Enqueue(ctx, cs[:len(cs)-1]...); err != nil {
				return err
			}
		}
		c = cs[len(cs)-1]
	}
	if _, err := l.cfg.Queue.EnqueueStreamEvent(ctx, ev.Channel, ev.ReplayID, c); err != nil {
		return err
	}
	if !ev.CreatedDate.IsZero() {
		l.mu.Lock()
		l.lag = max(l.cfg.Clock().Sub(ev.CreatedDate), 0)
		l.mu.Unlock()
	}
	if c != nil && l.cfg.OnEnqueue != nil {
		l.cfg.OnEnqueue()
	}
	return nil
}

// changesOf turns an event into the changes it asks for.
func (l *Listener) changesOf(ctx context.Context, ev billsync.StreamEvent) []*billsync.Change {
	if l.cfg.CDC != nil {
		return l.cdcChanges(ctx, ev)
	}
	if c := l.changeOf(ctx, ev); c != nil {
		return []*billsync.Change{c}
	}
	return nil
}

// changeOf turns a trigger's event into a change, or nil for an event that
// needs no work (an object billsync does not map).
func (l *Listener) changeOf(ctx context.Context, ev billsync.StreamEvent) *billsync.Change {
	objName, _ := ev.Payload["ObjectType__c"].(string)
	recordID, _ := ev.Payload["RecordId__c"].(string)
	changeType, _ := ev.Payload["ChangeType__c"].(string)
	om, ok := l.cfg.Mapping.BySObject(objName)
	if !ok || recordID == "" {
		l.cfg.Logger.Warn("ignoring an event for an unmapped object", "object", objName, "record", recordID, "replayId", ev.ReplayID.String())
		return nil
	}
	op, err := billsync.ParseOp(changeType)
	if err != nil {
		op = billsync.OpUpdated
	}
	// Events of a known record join its account's partition, so they are
	// ordered with that account's billing changes; a record created in
	// Salesforce has no account yet and gets a partition of its own. So
	// does a known record whose state cannot be read now, or is not saved
	// yet (a first upsert whose answer was lost): the engine moves its
	// change into the account's partition once it finds the record linked.
	part := billsync.RecordPartition(recordID)
	if st, err := l.cfg.State.SyncStateBySalesforceID(ctx, recordID); err == nil && st.AccountID != "" {
		part = billsync.AccountPartition(st.AccountID)
	}
	payload, _ := json.Marshal(ev.Payload)
	eventID := ev.EventUUID
	if eventID == "" {
		// An 8-byte id reads as the integer it was before replay ids
		// became bytes, so a replayed CometD event keeps its event id.
		eventID = ev.Channel + ":" + ev.ReplayID.String()
	}
	occurred := ev.CreatedDate
	if occurred.IsZero() {
		occurred = l.cfg.Clock()
	}
	return &billsync.Change{
		Partition: part, Source: billsync.SideSalesforce, Object: om.Type, Op: op, RecordID: recordID,
		EventID: "event:" + eventID, Payload: payload, OccurredAt: occurred.UTC(), EnqueuedAt: l.cfg.Clock().UTC(),
	}
}
