package alert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// State is where a rule stands.
type State string

const (
	StateOK      State = "ok"      // the condition does not hold
	StatePending State = "pending" // it holds, not yet for the rule's For
	StateFiring  State = "firing"  // it held long enough; the webhook was told
)

// Message is what the webhook receives, once per transition: a
// Slack-compatible body (text) with the same facts as fields.
type Message struct {
	Text   string    `json:"text"`
	Alert  string    `json:"alert"`  // the rule's name
	Title  string    `json:"title"`  // the rule's title
	State  string    `json:"state"`  // firing or resolved
	Since  time.Time `json:"since"`  // when the condition was first seen
	At     time.Time `json:"at"`     // when this transition was decided
	Detail string    `json:"detail"` // what was seen
}

// Message states.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Sender delivers a message (Webhook does, over HTTP).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Status is one rule's standing, as the admin API shows it.
type Status struct {
	Rule      string    `json:"rule"`
	Title     string    `json:"title"`
	State     State     `json:"state"`
	Since     time.Time `json:"since"`           // when the current state began (the first bad reading while pending or firing)
	Detail    string    `json:"detail"`          // the last reading
	CheckedAt time.Time `json:"checkedAt"`       // the last reading's time; zero before any
	Error     string    `json:"error,omitempty"` // why the last check could not read the condition
	Last      *Message  `json:"lastMessage"`     // the last message decided, nil before any
	Unsent    int       `json:"unsent"`          // messages waiting for the webhook
}

// Config wires an Evaluator.
type Config struct {
	Rules []Rule
	// Interval is the time between evaluations (default 15 s).
	Interval time.Duration
	// Sender delivers the messages; nil keeps them for the API only.
	Sender Sender
	Logger *slog.Logger
	Clock  func() time.Time
}

// maxUnsent bounds each rule's messages waiting for a webhook that is
// down: past it the oldest go, so a long outage cannot grow memory.
const maxUnsent = 20

// Evaluator evaluates the rules on an interval and sends one message per
// transition. Create it with New.
type Evaluator struct {
	cfg    Config
	mu     sync.Mutex // guards rules' state; held by an evaluation, not by a send
	states []*ruleState
	run    sync.Mutex // one evaluation (and delivery) at a time
}

type ruleState struct {
	rule      Rule
	state     State
	since     time.Time
	detail    string
	checkedAt time.Time
	err       string
	last      *Message
	outbox    []Message
}

// New checks cfg and returns the evaluator.
func New(cfg Config) (*Evaluator, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	e := &Evaluator{cfg: cfg}
	names := map[string]bool{}
	for _, r := range cfg.Rules {
		if r.Name == "" || r.Check == nil || names[r.Name] {
			return nil, fmt.Errorf("alert: rule %q needs a unique name and a check", r.Name)
		}
		names[r.Name] = true
		e.states = append(e.states, &ruleState{rule: r, state: StateOK})
	}
	return e, nil
}

// Run evaluates at once and then every Interval until ctx ends.
func (e *Evaluator) Run(ctx context.Context) error {
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	for {
		e.Evaluate(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Evaluate reads every rule once, records the transitions, and delivers
// what waits to be sent (this evaluation's messages and any a failed
// delivery left).
func (e *Evaluator) Evaluate(ctx context.Context) {
	e.run.Lock()
	defer e.run.Unlock()
	for _, st := range e.states {
		now := e.cfg.Clock().UTC()
		rd, err := st.rule.Check(ctx, now)
		e.mu.Lock()
		e.apply(st, rd, err, now)
		e.mu.Unlock()
		if err != nil && !errors.Is(err, errNoFigures) && ctx.Err() == nil {
			e.cfg.Logger.Warn("alerts: could not check a rule; it keeps its state", "alert", st.rule.Name, "err", err)
		}
	}
	e.deliver(ctx)
}

// apply moves one rule by one reading; e.mu is held.
func (e *Evaluator) apply(st *ruleState, rd Reading, err error, now time.Time) {
	if err != nil {
		st.err = err.Error()
		return
	}
	st.err, st.detail, st.checkedAt = "", rd.Detail, now
	switch {
	case rd.Bad && st.state == StateFiring:
	case rd.Bad:
		if st.state == StateOK {
			st.state, st.since = StatePending, now
		}
		if st.rule.For == 0 || now.Sub(st.since) >= st.rule.For {
			st.state = StateFiring
			e.queue(st, Firing, now)
		}
	case st.state == StateFiring:
		e.queue(st, Resolved, now)
		st.state, st.since = StateOK, now
	case st.state == StatePending:
		st.state, st.since = StateOK, now
	}
}

// queue records a transition's message; e.mu is held.
func (e *Evaluator) queue(st *ruleState, state string, now time.Time) {
	m := Message{Alert: st.rule.Name, Title: st.rule.Title, State: state, Since: st.since, At: now, Detail: st.detail}
	if state == Firing {
		m.Text = fmt.Sprintf("billsync FIRING: %s. %s", st.rule.Title, st.detail)
	} else {
		m.Text = fmt.Sprintf("billsync RESOLVED: %s, after %v. %s", st.rule.Title,
			now.Sub(st.since).Round(time.Second), st.detail)
	}
	st.last = &m
	e.cfg.Logger.Info("alert "+state, "alert", st.rule.Name, "detail", st.detail)
	if e.cfg.Sender == nil {
		return
	}
	if len(st.outbox) >= maxUnsent {
		e.cfg.Logger.Warn("alerts: the webhook has been failing; dropping the oldest unsent message", "alert", st.rule.Name)
		st.outbox = st.outbox[1:]
	}
	st.outbox = append(st.outbox, m)
}

// deliver sends the waiting messages in order. The first failure stops
// it: the webhook is likely down for all, and the next evaluation tries
// again, so a dead webhook costs each evaluation one failed send.
func (e *Evaluator) deliver(ctx context.Context) {
	if e.cfg.Sender == nil {
		return
	}
	for _, st := range e.states {
		for {
			e.mu.Lock()
			if len(st.outbox) == 0 {
				e.mu.Unlock()
				break
			}
			m := st.outbox[0]
			e.mu.Unlock()
			if err := e.cfg.Sender.Send(ctx, m); err != nil {
				if ctx.Err() == nil {
					e.cfg.Logger.Warn("alerts: delivery failed; retrying at the next evaluation", "alert", m.Alert, "state", m.State, "err", err)
				}
				return
			}
			e.mu.Lock()
			st.outbox = st.outbox[1:]
			e.mu.Unlock()
		}
	}
}

// Statuses is every rule's standing, in the rules' order.
func (e *Evaluator) Statuses() []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Status, 0, len(e.states))
	for _, st := range e.states {
		s := Status{Rule: st.rule.Name, Title: st.rule.Title, State: st.state, Since: st.since, Detail: st.detail,
			CheckedAt: st.checkedAt, Error: st.err, Unsent: len(st.outbox)}
		if st.last != nil {
			m := *st.last
			s.Last = &m
		}
		out = append(out, s)
	}
	return out
}
