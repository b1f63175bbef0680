package streaming

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits and defaults of the real Streaming API ("How the Client Connects",
// "Streaming API Error Codes", Streaming allocations).
const (
	DefaultConnectTimeout    = 110 * time.Second // an idle /meta/connect is held this long
	DefaultReconnectDeadline = 40 * time.Second  // a client must reconnect within this, or lose its state
	MaxRequestBytes          = 32768             // larger request bodies get 413
	MinAPIVersion            = 37.0              // older /cometd/<ver> are refused
	currentAPIVersion        = "62.0"            // shown in the version error texts
	maxEventsPerConnect      = 200
	browserCookie            = "BAYEUX_BROWSER"
	streamCookie             = "sfdc-stream"
)

// Authenticator validates the credentials of a Streaming API request (the
// emulator checks the Authorization header's token) and names its user.
type Authenticator func(r *http.Request) (userID string, err error)

// ServerOptions configures a Server.
type ServerOptions struct {
	ConnectTimeout    time.Duration    // DefaultConnectTimeout when 0
	ReconnectDeadline time.Duration    // DefaultReconnectDeadline when 0
	Clock             func() time.Time // time.Now when nil; drives client expiry
	Logger            *slog.Logger     // slog.Default() when nil
}

// Server is the Bayeux long-polling endpoint, mounted at /cometd/.
type Server struct {
	bus  *Bus
	auth Authenticator
	opts ServerOptions
	log  *slog.Logger

	mu      sync.Mutex
	clients map[string]*client
}

type client struct {
	id, browser, user string
	subs              map[string]int64 // channel → last delivered replay id
	connected         bool             // the first /meta/connect was answered
	polling           bool             // a /meta/connect is being held
	lastActive        time.Time        // end of the last request; the reconnect deadline runs from here
	wake              chan struct{}    // closed to end the held /meta/connect early
}

// NewServer returns a Server delivering bus's events to clients that auth
// accepts.
func NewServer(bus *Bus, auth Authenticator, opts ServerOptions) *Server {
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = DefaultConnectTimeout
	}
	if opts.ReconnectDeadline <= 0 {
		opts.ReconnectDeadline = DefaultReconnectDeadline
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Server{bus: bus, auth: auth, opts: opts, log: log.With("component", "cometd"), clients: map[string]*client{}}
}

// DropClients forgets every client, as a real org does when it moves a
// session between app servers: their next request gets 403::Unknown client
// and held long polls end with it at once.
func (s *Server) DropClients() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.clients {
		closeWake(c)
		delete(s.clients, id)
	}
}

func closeWake(c *client) {
	select {
	case <-c.wake:
	default:
		close(c.wake)
	}
}

// message is an incoming Bayeux message; only the fields the server reads.
type message struct {
	Channel                  string          `json:"channel"`
	ID                       json.RawMessage `json:"id,omitempty"`
	ClientID                 string          `json:"clientId,omitempty"`
	Subscription             json.RawMessage `json:"subscription,omitempty"`
	ConnectionType           string          `json:"connectionType,omitempty"`
	SupportedConnectionTypes []string        `json:"supportedConnectionTypes,omitempty"`
	Ext                      json.RawMessage `json:"ext,omitempty"`
}

type advice struct {
	Interval  *int   `json:"interval,omitempty"`
	Timeout   *int64 `json:"timeout,omitempty"`
	Reconnect string `json:"reconnect,omitempty"`
}

// reply is an outgoing meta message. Field order follows nothing in
// particular: real orgs do not keep one either.
type reply struct {
	ClientID                 string          `json:"clientId,omitempty"`
	Channel                  string          `json:"channel"`
	ID                       json.RawMessage `json:"id,omitempty"`
	Successful               bool            `json:"successful"`
	Error                    string          `json:"error,omitempty"`
	Advice                   *advice         `json:"advice,omitempty"`
	Ext                      map[string]any  `json:"ext,omitempty"`
	Version                  string          `json:"version,omitempty"`
	MinimumVersion           string          `json:"minimumVersion,omitempty"`
	SupportedConnectionTypes []string        `json:"supportedConnectionTypes,omitempty"`
	Subscription             string          `json:"subscription,omitempty"`
}

// delivery is an event message as Salesforce sends it.
type delivery struct {
	Data    deliveryData `json:"data"`
	Channel string       `json:"channel"`
}

type deliveryData struct {
	Schema  string         `json:"schema"`
	Payload map[string]any `json:"payload"`
	Event   deliveryEvent  `json:"event"`
}

type deliveryEvent struct {
	EventUUID string `json:"EventUuid,omitempty"`
	ReplayID  int64  `json:"replayId"`
}

func intp(v int) *int       { return &v }
func int64p(v int64) *int64 { return &v }

// request carries what every message of one HTTP request shares.
type request struct {
	r        *http.Request
	w        http.ResponseWriter
	user     string
	authErr  string // the 401 reason when the credentials were refused
	browser  string // the BAYEUX_BROWSER cookie sent, if any
	setCooky bool
}

// ServeHTTP handles POST /cometd/<version>[/<message type>].
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, []reply{{Channel: "", Error: "413::Maximum Request Size Exceeded"}})
			return
		}
		http.Error(w, "read request", http.StatusBadRequest)
		return
	}
	msgs, err := parseMessages(body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, []reply{{Error: "400::Invalid JSON: " + err.Error()}})
		return
	}
	if text := checkVersion(r.URL.Path); text != "" {
		out := make([]reply, 0, len(msgs))
		for _, m := range msgs {
			out = append(out, reply{Channel: m.Channel, ID: m.ID, ClientID: m.ClientID, Error: text})
		}
		if len(out) == 0 {
			out = append(out, reply{Error: text})
		}
		writeJSON(w, http.StatusBadRequest, out)
		return
	}

	req := &request{r: r, w: w}
	if ck, err := r.Cookie(browserCookie); err == nil {
		req.browser = ck.Value
	}
	if user, err := s.auth(r); err != nil {
		req.authErr = "401::Authentication invalid"
		if r.Header.Get("Authorization") == "" {
			req.authErr = "401::Request requires authentication"
		}
		s.log.Debug("cometd auth refused", "err", err)
	} else {
		req.user = user
	}

	out := make([]any, 0, len(msgs))
	for _, m := range msgs {
		switch m.Channel {
		case "/meta/handshake":
			out = append(out, s.handshake(req, m))
		case "/meta/connect":
			evs, rep := s.connect(req, m)
			for _, ev := range evs {
				out = append(out, ev)
			}
			out = append(out, rep)
		case "/meta/subscribe":
			out = append(out, s.subscribe(req, m, true))
		case "/meta/unsubscribe":
			out = append(out, s.subscribe(req, m, false))
		case "/meta/disconnect":
			out = append(out, s.disconnect(req, m))
		default:
			text := "403::Publish denied"
			if strings.HasPrefix(m.Channel, "/meta/") || m.Channel == "" {
				text = "400::Unknown channel"
			}
			out = append(out, reply{Channel: m.Channel, ID: m.ID, ClientID: m.ClientID, Error: text})
		}
	}
	if r.Context().Err() != nil {
		return // the client went away during a long poll; nobody reads this
	}
	writeJSON(w, http.StatusOK, out)
}

func parseMessages(body []byte) ([]message, error) {
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "{") {
		var m message
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, err
		}
		return []message{m}, nil
	}
	var msgs []message
	if err := json.Unmarshal(body, &msgs); err != nil {
		return nil, err
	}
	return msgs, nil
}

// checkVersion returns the error text for a missing or unsupported API
// version in the path, or "".
func checkVersion(path string) string {
	rest := strings.TrimPrefix(path, "/cometd")
	rest = strings.TrimPrefix(rest, "/")
	ver, _, _ := strings.Cut(rest, "/")
	if ver == "" {
		return "400::API version in the URI is mandatory. URI format: '/cometd/" + currentAPIVersion + "'"
	}
	v, err := strconv.ParseFloat(ver, 64)
	if err != nil || v < MinAPIVersion || !strings.Contains(ver, ".") {
		return fmt.Sprintf("400::Unsupported API version. Only API versions '%.1f' and later are supported. URI format: '/cometd/%s'", MinAPIVersion, currentAPIVersion)
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-cache, no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// newID returns a random lowercase base-36 string like Salesforce's
// clientIds ("1cyu4thyxh3fgv1nqwcvebt3o9x").
func newID(n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (s *Server) setStreamCookie(req *request) {
	if req.setCooky {
		return
	}
	req.setCooky = true
	http.SetCookie(req.w, &http.Cookie{Name: streamCookie, Value: "!" + newID(40), Path: "/", Secure: req.r.TLS != nil,
		// Expiry is read by the client's wall clock, not the emulated one.
		SameSite: http.SameSiteNoneMode, Expires: time.Now().Add(24 * time.Hour)})
}

func (s *Server) handshake(req *request, m message) reply {
	rep := reply{Channel: m.Channel, ID: m.ID}
	if req.authErr != "" {
		// The shape jsforce's AuthFailure extension documents.
		rep.Error = "403::Handshake denied"
		rep.Ext = map[string]any{"sfdc": map[string]any{"failureReason": req.authErr}, "replay": true}
		rep.Advice = &advice{Reconnect: "none"}
		return rep
	}
	if len(m.SupportedConnectionTypes) > 0 && !contains(m.SupportedConnectionTypes, "long-polling") {
		rep.Error = "400::Invalid connection type " + strings.Join(m.SupportedConnectionTypes, ",")
		return rep
	}
	browser := req.browser
	if browser == "" {
		browser = newID(28)
		req.browser = browser
		http.SetCookie(req.w, &http.Cookie{Name: browserCookie, Value: browser, Path: "/cometd/", HttpOnly: true, Secure: req.r.TLS != nil})
	}
	s.setStreamCookie(req)
	now := s.opts.Clock()
	c := &client{id: newID(27), browser: browser, user: req.user, subs: map[string]int64{}, lastActive: now, wake: make(chan struct{})}
	s.mu.Lock()
	s.sweepLocked(now)
	s.clients[c.id] = c
	s.mu.Unlock()
	s.log.Debug("cometd handshake", "clientId", c.id, "user", req.user)
	rep.Successful = true
	rep.ClientID = c.id
	rep.Version, rep.MinimumVersion = "1.0", "1.0"
	rep.SupportedConnectionTypes = []string{"long-polling"}
	rep.Ext = map[string]any{"replay": true, "payload.format": true}
	return rep
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// sweepLocked forgets clients that missed the reconnect deadline, so a
// server without background goroutines still does not grow without bound.
func (s *Server) sweepLocked(now time.Time) {
	for id, c := range s.clients {
		if s.expired(c, now) {
			closeWake(c)
			delete(s.clients, id)
		}
	}
}

func (s *Server) expired(c *client, now time.Time) bool {
	return !c.polling && now.Sub(c.lastActive) > s.opts.ReconnectDeadline
}

// lookup finds the message's client, or returns the reply that refuses the
// message: auth failure, unknown (or expired) client, missing cookie.
func (s *Server) lookupLocked(req *request, m message) (*client, *reply) {
	if req.authErr != "" {
		return nil, &reply{Channel: m.Channel, ID: m.ID, ClientID: m.ClientID, Error: req.authErr, Advice: &advice{Reconnect: "none"}}
	}
	c := s.clients[m.ClientID]
	if c != nil && s.expired(c, s.opts.Clock()) {
		closeWake(c)
		delete(s.clients, c.id)
		c = nil
	}
	if c == nil {
		// Observed replies carry no clientId, and come with a fresh
		// sfdc-stream cookie (kdcllc/CometD.NetCore.Salesforce#43).
		s.setStreamCookie(req)
		return nil, &reply{Channel: m.Channel, ID: m.ID, Error: "403::Unknown client", Advice: &advice{Interval: intp(0), Reconnect: "handshake"}}
	}
	if req.browser == "" {
		return nil, &reply{Channel: m.Channel, ID: m.ID, ClientID: m.ClientID,
			Error: fmt.Sprintf("400::Client %s has established a session, but no %s cookie present", c.id, browserCookie)}
	}
	return c, nil
}

func (s *Server) connect(req *request, m message) ([]delivery, reply) {
	s.mu.Lock()
	c, refused := s.lookupLocked(req, m)
	if refused != nil {
		s.mu.Unlock()
		return nil, *refused
	}
	rep := reply{Channel: m.Channel, ID: m.ID, ClientID: c.id}
	if m.ConnectionType != "" && m.ConnectionType != "long-polling" {
		s.mu.Unlock()
		rep.Error = "400::Invalid connection type " + m.ConnectionType
		return nil, rep
	}
	// A newer connect replaces a held one, which returns empty.
	closeWake(c)
	wake := make(chan struct{})
	c.wake = wake
	first := !c.connected
	c.connected = true
	c.polling = true
	s.mu.Unlock()

	var evs []Event
	dropped := false
	if first {
		// The first connect answers at once, carrying the advice.
		rep.Advice = &advice{Interval: intp(0), Timeout: int64p(s.opts.ConnectTimeout.Milliseconds()), Reconnect: "retry"}
		evs, dropped = s.take(req.r.Context(), c, wake, false, nil)
	} else {
		timer := time.NewTimer(s.opts.ConnectTimeout)
		evs, dropped = s.take(req.r.Context(), c, wake, true, timer.C)
		timer.Stop()
	}

	s.mu.Lock()
	c.polling = false
	c.lastActive = s.opts.Clock()
	s.mu.Unlock()
	if dropped {
		s.setStreamCookie(req)
		return nil, reply{Channel: m.Channel, ID: m.ID, Error: "403::Unknown client", Advice: &advice{Interval: intp(0), Reconnect: "handshake"}}
	}
	rep.Successful = true
	out := make([]delivery, 0, len(evs))
	for _, ev := range evs {
		uuid := ev.UUID
		if strings.HasPrefix(ev.Channel, "/data/") {
			// A change event's data.event holds its replayId only.
			uuid = ""
		}
		out = append(out, delivery{Channel: ev.Channel, Data: deliveryData{Schema: ev.Schema, Payload: ev.Payload,
			Event: deliveryEvent{EventUUID: uuid, ReplayID: ev.ReplayID}}})
	}
	return out, rep
}

// take collects the client's pending events and advances its cursors,
// waiting for some when wait is set until timeout, wake or the request
// ends. dropped reports that the client was forgotten meanwhile.
func (s *Server) take(ctx context.Context, c *client, wake chan struct{}, wait bool, timeout <-chan time.Time) (evs []Event, dropped bool) {
	for {
		s.mu.Lock()
		if s.clients[c.id] != c {
			s.mu.Unlock()
			return nil, true
		}
		cursors := make(map[string]int64, len(c.subs))
		for ch, cur := range c.subs {
			cursors[ch] = cur
		}
		s.mu.Unlock()

		evs, changed := s.bus.after(cursors, maxEventsPerConnect)
		if len(evs) > 0 {
			s.mu.Lock()
			if s.clients[c.id] != c {
				s.mu.Unlock()
				return nil, true
			}
			// Only channels still subscribed at the same cursor advance: a
			// resubscribe meanwhile set a new starting point.
			var kept []Event
			for _, ev := range evs {
				if cur, ok := c.subs[ev.Channel]; ok && cur == cursors[ev.Channel] {
					kept = append(kept, ev)
				}
			}
			for _, ev := range kept {
				c.subs[ev.Channel] = max(c.subs[ev.Channel], ev.ReplayID)
			}
			s.mu.Unlock()
			sort.Slice(kept, func(i, j int) bool { return kept[i].ReplayID < kept[j].ReplayID })
			return kept, false
		}
		if !wait {
			return nil, false
		}
		select {
		case <-changed:
		case <-wake:
			s.mu.Lock()
			gone, replaced := s.clients[c.id] != c, c.wake != wake
			if !gone && !replaced {
				// A subscription changed: look again, it may have
				// opened a backlog.
				wake = make(chan struct{})
				c.wake = wake
			}
			s.mu.Unlock()
			if gone {
				return nil, true
			}
			if replaced {
				return nil, false
			}
		case <-timeout:
			return nil, false
		case <-ctx.Done():
			return nil, false
		}
	}
}

func (s *Server) subscribe(req *request, m message, sub bool) reply {
	var channel string
	if len(m.Subscription) > 0 {
		if err := json.Unmarshal(m.Subscription, &channel); err != nil {
			return reply{Channel: m.Channel, ID: m.ID, ClientID: m.ClientID, Error: "400::Channel name not specified"}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, refused := s.lookupLocked(req, m)
	if refused != nil {
		refused.Subscription = channel
		return *refused
	}
	rep := reply{Channel: m.Channel, ID: m.ID, ClientID: c.id, Subscription: channel}
	switch {
	case channel == "":
		rep.Error = "400::Channel name not specified"
		return rep
	case !strings.HasPrefix(channel, "/"):
		rep.Error = "400::Channel subscriptions must start with a leading '/'"
		return rep
	}
	if !sub {
		delete(c.subs, channel)
		rep.Successful = true
		c.lastActive = s.opts.Clock()
		return rep
	}
	if !s.bus.exists(channel) {
		rep.Error = "400::The channel you requested to subscribe to does not exist {" + channel + "}"
		return rep
	}
	replay, text := replayFrom(m.Ext, channel)
	if text != "" {
		rep.Error = text
		return rep
	}
	cur, err := s.bus.position(channel, replay)
	if err != nil {
		rep.Error = err.Error()
		return rep
	}
	c.subs[channel] = cur
	c.lastActive = s.opts.Clock()
	closeWake(c) // a held connect looks again: a backlog may have opened
	rep.Successful = true
	return rep
}

// replayFrom reads the subscribe's ext.replay map. Without the extension a
// subscription starts at new events (-1), Salesforce's default.
func replayFrom(ext json.RawMessage, channel string) (int64, string) {
	if len(ext) == 0 {
		return -1, ""
	}
	var e struct {
		Replay map[string]json.RawMessage `json:"replay"`
	}
	if err := json.Unmarshal(ext, &e); err != nil || e.Replay == nil {
		return -1, ""
	}
	raw, ok := e.Replay[channel]
	if !ok {
		// Java's Map.toString inside the message's own braces
		// (forcedotcom/EMP-Connector#41).
		keys := make([]string, 0, len(e.Replay))
		for k := range e.Replay {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, 0, len(keys))
		for _, k := range keys {
			parts = append(parts, k+"="+string(e.Replay[k]))
		}
		return 0, fmt.Sprintf("400::The replayId for channel {%s} wasn't found using the provided replay ID map {{%s}}", channel, strings.Join(parts, ", "))
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, errInvalidReplay{0}.Error()
	}
	id, err := n.Int64()
	if err != nil {
		return 0, errInvalidReplay{0}.Error()
	}
	return id, ""
}

func (s *Server) disconnect(req *request, m message) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, refused := s.lookupLocked(req, m)
	if refused != nil {
		return *refused
	}
	closeWake(c)
	delete(s.clients, c.id)
	return reply{Channel: m.Channel, ID: m.ID, ClientID: c.id, Successful: true}
}
