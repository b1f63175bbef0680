package cometd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
)

// Session supplies the org's instance URL and a current access token
// (implemented by the REST client).
type Session interface {
	Session(ctx context.Context) (instanceURL, accessToken string, err error)
	// Invalidate reports that accessToken was refused; the next Session
	// call must fetch a new one.
	Invalidate(accessToken string)
}

// Config configures a Subscriber.
type Config struct {
	Session    Session
	APIVersion string       // "62.0" when empty
	HTTPClient *http.Client // http.DefaultClient's transport when nil; its Jar is not used
	Logger     *slog.Logger
	// Backoff is the wait before reconnect attempt n (1, 2, …) after a
	// network or server failure; jittered exponential from 1 s, capped at
	// 60 s, when nil.
	Backoff func(attempt int) time.Duration
}

// State is the subscriber's health, for /readyz and metrics.
type State struct {
	Connected    bool      // the last /meta/connect succeeded
	LastEventAt  time.Time // when the last event was handled
	LastReplayID int64     // replay id of the last handled event
	Reconnects   int       // handshakes after the first
	// Err is why the stream is not connected: the failure that ended the
	// last session (a refused handshake, a closed connection). Nil while
	// Connected, and before the first session ends.
	Err error
}

// errNotConnected is Health's answer before the first connect succeeds.
var errNotConnected = errors.New("the Salesforce event stream is not connected yet (handshaking)")

// Health is nil while the stream is connected and says why not otherwise.
// It flips the moment a session fails (its long poll or handshake request
// errs), not after the retries: Subscribe keeps retrying on its own, and
// a subscription that is retrying is not connected.
func (s *Subscriber) Health() error {
	st := s.State()
	switch {
	case st.Connected:
		return nil
	case st.Err != nil:
		return fmt.Errorf("the Salesforce event stream is not connected: %w", st.Err)
	}
	return errNotConnected
}

// Subscriber is a CometD long-polling client for one org. One Subscriber
// may run several Subscribe calls at once; each has its own Bayeux session.
type Subscriber struct {
	cfg Config
	log *slog.Logger

	mu    sync.Mutex
	state State
}

// New returns a Subscriber.
func New(cfg Config) *Subscriber {
	if cfg.APIVersion == "" {
		cfg.APIVersion = "62.0"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{}
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Subscriber{cfg: cfg, log: log.With("component", "salesforce/cometd")}
}

// DefaultBackoff is full-jitter exponential backoff from 1 s to 60 s.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 6)
	d = min(d, time.Minute)
	return d/2 + rand.N(d/2+1)
}

// State reports the subscriber's health.
func (s *Subscriber) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

func (s *Subscriber) update(f func(*State)) {
	s.mu.Lock()
	f(&s.state)
	s.mu.Unlock()
}

var _ billsync.ChangeSource = (*Subscriber)(nil)

// Failure kinds of one Bayeux session, deciding what Subscribe does next.
var (
	errRehandshake = errors.New("bayeux: server asked for a new handshake")
	errAuth        = errors.New("bayeux: credentials refused")
)

// handlerError marks the handler's own failure, which ends Subscribe.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// fatalError ends Subscribe: retrying cannot help.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// maxAuthFailures bounds consecutive refused tokens: a fresh token that is
// refused again means the integration user itself lost access.
const maxAuthFailures = 3

// Subscribe delivers channel's events after replayFrom to handle, one at a
// time in replay order, until ctx ends (ctx.Err() is returned) or handle
// fails (its error is returned wrapped; the failed event is not counted as
// handled). A replay id the org no longer holds returns an error wrapping
// billsync.ErrReplayGap. Dropped sessions, expired clients, refused tokens
// and network failures are recovered from on its own, always resuming
// after the last handled event.
//
// CometD replay ids are integers, carried in a billsync.ReplayID as 8
// big-endian bytes; a position of any other length was stored by another
// transport (the Pub/Sub API) and means nothing here, so it is reported
// as a gap: the listener replays what the org retains and resyncs.
func (s *Subscriber) Subscribe(ctx context.Context, channel string, replayFrom billsync.ReplayID, handle func(context.Context, billsync.StreamEvent) error) error {
	if channel == "" || !strings.HasPrefix(channel, "/") {
		return billsync.Errorf(billsync.EINVALID, "streaming channel %q must start with '/'", channel)
	}
	from, ok := replayFrom.Int()
	if !ok || from < -2 {
		return fmt.Errorf("salesforce/cometd: stored replay position %s is not a CometD replay id (another transport's?): %w", replayFrom, billsync.ErrReplayGap)
	}
	cur := &cursor{replay: from}
	failures, authFailures, sessions := 0, 0, 0
	for {
		if sessions > 0 {
			s.update(func(st *State) { st.Reconnects++ })
		}
		sessions++
		err := s.session(ctx, channel, cur, handle, func() { failures, authFailures = 0, 0 })
		s.update(func(st *State) { st.Connected, st.Err = false, err })
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var herr *handlerError
		var ferr *fatalError
		switch {
		case errors.As(err, &herr):
			return fmt.Errorf("salesforce/cometd: handle event %d of %s: %w", cur.pending, channel, herr.err)
		case errors.Is(err, billsync.ErrReplayGap):
			return err
		case errors.As(err, &ferr):
			return ferr.err
		case errors.Is(err, errAuth):
			authFailures++
			if authFailures >= maxAuthFailures {
				return &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: 401, Code: "INVALID_SESSION_ID",
					Message: fmt.Sprintf("streaming: access token refused %d times in a row", authFailures), Err: err}
			}
			s.log.Warn("streaming token refused; fetching a new one", "channel", channel)
			continue
		case errors.Is(err, errRehandshake):
			s.log.Info("streaming session lost; handshaking again", "channel", channel, "resumeFrom", cur.replay)
			continue
		}
		failures++
		wait := s.cfg.Backoff(failures)
		s.log.Warn("streaming connection failed; retrying", "channel", channel, "err", err, "attempt", failures, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			return err
		}
	}
}

// cursor is the resume position shared by the sessions of one Subscribe.
type cursor struct {
	replay  int64 // last handled replay id, or the initial -1/-2
	pending int64 // the event being handled, for error messages
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// conn is one Bayeux session: one handshake and the requests after it.
type conn struct {
	s        *Subscriber
	hc       *http.Client
	url      string
	token    string
	clientID string
	msgID    int
}

// session runs one handshake → subscribe → connect loop until it fails.
// healthy is called once a connect succeeds, resetting the backoff.
func (s *Subscriber) session(ctx context.Context, channel string, cur *cursor, handle func(context.Context, billsync.StreamEvent) error, healthy func()) error {
	instanceURL, token, err := s.cfg.Session.Session(ctx)
	if err != nil {
		if billsync.ErrorCode(err) == billsync.EUNAUTHORIZED && !billsync.IsTransient(err) {
			return &fatalError{fmt.Errorf("salesforce/cometd: session: %w", err)}
		}
		return fmt.Errorf("salesforce/cometd: session: %w", err)
	}
	jar, err := cookiejar.New(nil)
	if err != nil {
		return &fatalError{err}
	}
	// A cookie jar per Bayeux session: Salesforce binds the clientId to
	// its BAYEUX_BROWSER cookie, and a new handshake must not inherit the
	// old session's cookies.
	hc := *s.cfg.HTTPClient
	hc.Jar = jar
	c := &conn{s: s, hc: &hc, url: strings.TrimRight(instanceURL, "/") + "/cometd/" + s.cfg.APIVersion, token: token}
	if err := c.handshake(ctx); err != nil {
		return err
	}
	// Best effort: let the server free the client when we leave.
	defer c.disconnect(ctx)

	if err := c.subscribe(ctx, channel, cur.replay); err != nil {
		return err
	}
	advice := Advice{Reconnect: "retry"}
	firstConnect := true
	for {
		if err := sleep(ctx, advice.Interval); err != nil {
			return err
		}
		hold := 110 * time.Second
		if advice.HasTime {
			hold = advice.Timeout
		}
		if firstConnect {
			hold = 0
		}
		msgs, err := c.post(ctx, hold, map[string]any{"channel": "/meta/connect", "clientId": c.clientID, "connectionType": "long-polling"})
		if err != nil {
			return err
		}
		var reply *Message
		for i := range msgs {
			m := &msgs[i]
			switch {
			case m.Event != nil && m.Channel == channel:
				if err := s.deliver(ctx, cur, *m.Event, handle); err != nil {
					return err
				}
			case m.Channel == "/meta/connect":
				reply = m
			}
		}
		if reply == nil {
			return errors.New("bayeux: connect response has no /meta/connect reply")
		}
		if reply.Advice != nil {
			advice.Reconnect = reply.Advice.Reconnect
			advice.Interval = reply.Advice.Interval
			if reply.Advice.HasTime {
				advice.Timeout, advice.HasTime = reply.Advice.Timeout, true
			}
		}
		if !reply.Successful {
			return c.failure(reply, "connect")
		}
		firstConnect = false
		s.update(func(st *State) { st.Connected, st.Err = true, nil })
		healthy()
		switch advice.Reconnect {
		case "handshake":
			return errRehandshake
		case "none":
			return &fatalError{bayeuxError(reply, "connect")}
		}
	}
}

func (s *Subscriber) deliver(ctx context.Context, cur *cursor, ev billsync.StreamEvent, handle func(context.Context, billsync.StreamEvent) error) error {
	// Replays after a resubscribe may repeat what was handled; ids only
	// grow within a channel, so anything not past the cursor is old.
	id, _ := ev.ReplayID.Int() // decodeEvent encodes an integer
	if cur.replay > 0 && id <= cur.replay {
		return nil
	}
	cur.pending = id
	if err := handle(ctx, ev); err != nil {
		return &handlerError{err}
	}
	cur.replay = id
	now := time.Now()
	s.update(func(st *State) { st.LastReplayID, st.LastEventAt = id, now })
	return nil
}

// failure classifies an unsuccessful reply.
func (c *conn) failure(m *Message, what string) error {
	switch {
	case strings.HasPrefix(m.Error, "401::"):
		c.s.cfg.Session.Invalidate(c.token)
		return fmt.Errorf("%w: %w", errAuth, bayeuxError(m, what))
	case strings.HasPrefix(m.Error, "403::Unknown client"), strings.HasPrefix(m.Error, "402::"):
		return fmt.Errorf("%w: %w", errRehandshake, bayeuxError(m, what))
	}
	if m.Advice != nil {
		switch m.Advice.Reconnect {
		case "handshake":
			return fmt.Errorf("%w: %w", errRehandshake, bayeuxError(m, what))
		case "none":
			return &fatalError{bayeuxError(m, what)}
		}
	}
	return bayeuxError(m, what)
}

// bayeuxError turns a Bayeux "code::text" error into a RemoteError.
func bayeuxError(m *Message, what string) *billsync.RemoteError {
	e := &billsync.RemoteError{System: billsync.SystemSalesforce, Code: "BAYEUX_ERROR", Message: what + ": " + m.Error}
	code, text, ok := strings.Cut(m.Error, "::")
	if ok {
		if n, err := parseStatus(code); err == nil {
			e.StatusCode = n
		}
		e.Message = what + ": " + text
	}
	e.Transient = e.StatusCode == 0 || e.StatusCode >= 500
	return e
}

func parseStatus(s string) (int, error) {
	var n int
	_, err := fmt.Sscanf(s, "%d", &n)
	if err != nil || n < 100 || n > 599 {
		return 0, fmt.Errorf("not an HTTP status: %q", s)
	}
	return n, nil
}

func (c *conn) handshake(ctx context.Context) error {
	msgs, err := c.post(ctx, 0, map[string]any{
		"channel": "/meta/handshake", "version": "1.0", "minimumVersion": "1.0",
		"supportedConnectionTypes": []string{"long-polling"},
		"ext":                      map[string]any{"replay": true, "payload.format": true},
	})
	if err != nil {
		return err
	}
	m := find(msgs, "/meta/handshake")
	if m == nil {
		return errors.New("bayeux: handshake response has no /meta/handshake reply")
	}
	if !m.Successful {
		// "403::Handshake denied" carries the real reason in ext.sfdc.
		if sfdc, ok := m.Ext["sfdc"].(map[string]any); ok {
			if reason, ok := sfdc["failureReason"].(string); ok && strings.HasPrefix(reason, "401::") {
				c.s.cfg.Session.Invalidate(c.token)
				return fmt.Errorf("%w: %w", errAuth, bayeuxError(&Message{Error: reason}, "handshake"))
			}
		}
		return c.failure(m, "handshake")
	}
	if m.ClientID == "" {
		return errors.New("bayeux: handshake reply has no clientId")
	}
	if replay, _ := m.Ext["replay"].(bool); !replay {
		// Without the replay extension the server would start at new
		// events whatever we ask, silently skipping a backlog.
		return &fatalError{&billsync.RemoteError{System: billsync.SystemSalesforce, Code: "BAYEUX_NO_REPLAY",
			Message: "streaming server does not support the replay extension"}}
	}
	c.clientID = m.ClientID
	return nil
}

func (c *conn) subscribe(ctx context.Context, channel string, replay int64) error {
	msgs, err := c.post(ctx, 0, map[string]any{
		"channel": "/meta/subscribe", "clientId": c.clientID, "subscription": channel,
		"ext": map[string]any{"replay": map[string]any{channel: replay}},
	})
	if err != nil {
		return err
	}
	m := find(msgs, "/meta/subscribe")
	if m == nil {
		return errors.New("bayeux: subscribe response has no /meta/subscribe reply")
	}
	if m.Successful {
		return nil
	}
	if strings.Contains(m.Error, "you provided was invalid") {
		return fmt.Errorf("salesforce/cometd: subscribe %s from replay id %d: %w: %w", channel, replay, billsync.ErrReplayGap, bayeuxError(m, "subscribe"))
	}
	err = c.failure(m, "subscribe")
	if errors.Is(err, errAuth) || errors.Is(err, errRehandshake) {
		return err
	}
	var re *billsync.RemoteError
	if errors.As(err, &re) && re.StatusCode >= 400 && re.StatusCode < 500 {
		// Unknown channel, bad replay map: retrying changes nothing.
		return &fatalError{fmt.Errorf("salesforce/cometd: subscribe %s: %w", channel, err)}
	}
	return err
}

func (c *conn) disconnect(ctx context.Context) {
	if c.clientID == "" {
		return
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_, _ = c.post(dctx, 0, map[string]any{"channel": "/meta/disconnect", "clientId": c.clientID})
}

func find(msgs []Message, channel string) *Message {
	for i := range msgs {
		if msgs[i].Channel == channel {
			return &msgs[i]
		}
	}
	return nil
}

// maxResponseBytes bounds a response body; Salesforce advises clients to
// buffer at least 10 MB of events.
const maxResponseBytes = 64 << 20

// post sends one message and decodes the reply. hold is how long the
// server may keep the request (a long poll); the request's deadline adds a
// margin to it.
func (c *conn) post(ctx context.Context, hold time.Duration, msg map[string]any) ([]Message, error) {
	c.msgID++
	msg["id"] = fmt.Sprint(c.msgID)
	body, err := json.Marshal([]map[string]any{msg})
	if err != nil {
		return nil, &fatalError{err}
	}
	rctx, cancel := context.WithTimeout(ctx, hold+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, &fatalError{fmt.Errorf("salesforce/cometd: %w", err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, Code: "TRANSPORT", Message: msg["channel"].(string), Transient: true, Err: err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxResponseBytes))
	if err != nil {
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: res.StatusCode, Code: "TRANSPORT", Transient: true, Err: err}
	}
	switch {
	case res.StatusCode == http.StatusUnauthorized:
		c.s.cfg.Session.Invalidate(c.token)
		return nil, fmt.Errorf("%w: HTTP 401", errAuth)
	case res.StatusCode >= 500 || res.StatusCode == http.StatusTooManyRequests:
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: res.StatusCode, Code: "HTTP_" + fmt.Sprint(res.StatusCode),
			Message: snippet(raw), Transient: true}
	}
	msgs, err := DecodeMessages(raw)
	if err != nil {
		if res.StatusCode >= 400 {
			return nil, &fatalError{&billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: res.StatusCode, Code: "HTTP_" + fmt.Sprint(res.StatusCode), Message: snippet(raw)}}
		}
		// A garbled body from a proxy is worth a retry; a real server
		// always answers JSON.
		return nil, &billsync.RemoteError{System: billsync.SystemSalesforce, StatusCode: res.StatusCode, Code: "BAD_RESPONSE", Transient: true, Err: err}
	}
	if res.StatusCode >= 400 {
		// Version and size errors come as a Bayeux array with a 4xx
		// status: the request itself is wrong.
		text := "HTTP " + res.Status
		if len(msgs) > 0 && msgs[0].Error != "" {
			text = msgs[0].Error
		}
		return nil, &fatalError{bayeuxError(&Message{Error: text}, msg["channel"].(string))}
	}
	return msgs, nil
}

func snippet(b []byte) string {
	const n = 200
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
