package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// Names of the hooks the emulators offer; the caller maps them to functions.
const (
	HookExpireTokens = "expire_tokens" // invalidate every issued access token
	HookDropStreams  = "drop_streams"  // close every open streaming connection
)

// Values of Rule.After.
const (
	Before = "before" // fault instead of handling the request (the default)
	After  = "after"  // handle the request, then fail the response
)

// Rule is one kind of fault. A request that matches Path and Method triggers
// the rule with probability Rate; a triggered rule adds its latency, runs its
// hook, and then answers Status/Code or drops the connection, if it has one
// of those.
type Rule struct {
	Name    string        // key of the rule's counter; unique in a Config
	Path    string        // URL path prefix it applies to; "" = every path
	Method  string        // HTTP method it applies to; "" = any
	Rate    float64       // probability 0..1 per matching request
	Status  int           // answer with this HTTP status (400..599) …
	Code    string        // … and this error code ("" = the format's default for Status)
	Message string        // … and this message ("" = the format's default for Code); IDPlaceholder is replaced
	Latency time.Duration // delay added before handling
	Jitter  time.Duration // the delay varies uniformly by ±Jitter
	Drop    bool          // close the connection without answering
	Hook    string        // run this named hook, then handle normally
	After   string        // Before (default) or After: when a Status or Drop fault strikes
}

// Config is the whole fault set of one injector.
type Config struct {
	Rules []Rule
	// Seed makes the dice deterministic (for tests): the same seed and the
	// same sequence of requests trigger the same faults. 0 picks a random seed.
	Seed int64
}

// terminal reports whether the rule answers instead of (or after) the handler.
func (r Rule) terminal() bool { return r.Status != 0 || r.Drop }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// knownStatus gives the status a code implies when a rule names only a code.
var knownStatus = map[string]int{
	"SERVER_UNAVAILABLE":     http.StatusServiceUnavailable,
	"UNABLE_TO_LOCK_ROW":     http.StatusBadRequest,
	"REQUEST_LIMIT_EXCEEDED": http.StatusForbidden,
	"UNKNOWN_EXCEPTION":      http.StatusInternalServerError,
	"INVALID_SESSION_ID":     http.StatusUnauthorized,
	"unavailable":            http.StatusServiceUnavailable,
	"internal":               http.StatusInternalServerError,
	"rate_limited":           http.StatusTooManyRequests,
	"unauthorized":           http.StatusUnauthorized,
}

// validate checks one rule; i is its position, for the message. It fills in
// a status implied by a well-known code.
func (r *Rule) validate(i int) error {
	bad := func(format string, args ...any) error {
		return billsync.Errorf(billsync.EINVALID, "faults: rule %d (%q): %s", i+1, r.Name, fmt.Sprintf(format, args...))
	}
	switch {
	case !nameRE.MatchString(r.Name):
		return bad("name must be letters, digits, '_', '.' or '-'")
	case math.IsNaN(r.Rate) || r.Rate < 0 || r.Rate > 1:
		return bad("rate %v is not between 0 and 1", r.Rate)
	case r.Path != "" && !strings.HasPrefix(r.Path, "/"):
		return bad("path %q must start with /", r.Path)
	case strings.HasPrefix(r.Path, AdminPath):
		return bad("path %q is the fault admin endpoint, which is never faulted", r.Path)
	case r.Method != "" && !validMethod(r.Method):
		return bad("method %q is not an HTTP method", r.Method)
	case r.Latency < 0 || r.Jitter < 0:
		return bad("latency and jitter must not be negative")
	case r.Jitter > 0 && r.Latency == 0:
		return bad("jitter needs a latency to vary")
	case r.Drop && (r.Status != 0 || r.Code != "" || r.Message != ""):
		return bad("drop answers nothing, so it takes no status, code or message")
	}
	if r.Status == 0 && r.Code != "" {
		r.Status = knownStatus[r.Code]
		if r.Status == 0 {
			return bad("code %q needs a status", r.Code)
		}
	}
	if r.Status == 0 && r.Message != "" {
		return bad("message needs a status")
	}
	if r.Status != 0 && (r.Status < 400 || r.Status > 599) {
		return bad("status %d is not an error status (400..599)", r.Status)
	}
	switch r.After {
	case "", Before:
	case After:
		if !r.terminal() {
			return bad("after needs a status or drop to fail the response with")
		}
	default:
		return bad("after is %q, want %q or %q", r.After, Before, After)
	}
	if !r.terminal() && r.Latency == 0 && r.Hook == "" {
		return bad("does nothing: give it a status, code, drop, latency or hook")
	}
	return nil
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return true
	}
	return false
}

// Validate checks the configuration: every rule well formed, names unique,
// and, when hooks is not nil, every named hook among them. It returns the
// configuration with statuses implied by well-known codes filled in.
func (c Config) Validate(hooks map[string]func()) (Config, error) {
	out := Config{Seed: c.Seed, Rules: make([]Rule, len(c.Rules))}
	seen := make(map[string]bool, len(c.Rules))
	for i, r := range c.Rules {
		if err := r.validate(i); err != nil {
			return Config{}, err
		}
		if seen[r.Name] {
			return Config{}, billsync.Errorf(billsync.EINVALID, "faults: rule %d: name %q is used twice", i+1, r.Name)
		}
		seen[r.Name] = true
		if r.Hook != "" && hooks != nil && hooks[r.Hook] == nil {
			return Config{}, billsync.Errorf(billsync.EINVALID, "faults: rule %d (%q): no hook %q (have %s)", i+1, r.Name, r.Hook, hookNames(hooks))
		}
		out.Rules[i] = r
	}
	return out, nil
}

func hookNames(hooks map[string]func()) string {
	var names []string
	for n, f := range hooks {
		if f != nil {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

// ruleJSON is a Rule on the wire: durations as Go duration strings, rate
// optional (absent means 1, as in the CLI spec).
type ruleJSON struct {
	Name    string   `json:"name"`
	Path    string   `json:"path,omitempty"`
	Method  string   `json:"method,omitempty"`
	Rate    *float64 `json:"rate,omitempty"`
	Status  int      `json:"status,omitempty"`
	Code    string   `json:"code,omitempty"`
	Message string   `json:"message,omitempty"`
	Latency duration `json:"latency,omitempty"`
	Jitter  duration `json:"jitter,omitempty"`
	Drop    bool     `json:"drop,omitempty"`
	Hook    string   `json:"hook,omitempty"`
	After   string   `json:"after,omitempty"`
}

// MarshalJSON writes durations as strings ("50ms") so that a person can
// read and edit what GET /_emulator/faults answers.
func (r Rule) MarshalJSON() ([]byte, error) {
	rate := r.Rate
	return json.Marshal(ruleJSON{Name: r.Name, Path: r.Path, Method: r.Method, Rate: &rate, Status: r.Status,
		Code: r.Code, Message: r.Message, Latency: duration(r.Latency), Jitter: duration(r.Jitter),
		Drop: r.Drop, Hook: r.Hook, After: r.After})
}

// UnmarshalJSON reads durations as strings or nanoseconds; a missing rate
// means 1.
func (r *Rule) UnmarshalJSON(b []byte) error {
	var w ruleJSON
	// Strict, so that a misspelt key ("latncy") is an error, not a no-op.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	*r = Rule{Name: w.Name, Path: w.Path, Method: w.Method, Rate: 1, Status: w.Status, Code: w.Code,
		Message: w.Message, Latency: time.Duration(w.Latency), Jitter: time.Duration(w.Jitter),
		Drop: w.Drop, Hook: w.Hook, After: w.After}
	if w.Rate != nil {
		r.Rate = *w.Rate
	}
	return nil
}

type configJSON struct {
	Rules []Rule `json:"rules"`
	Seed  int64  `json:"seed,omitempty"`
}

// MarshalJSON writes {"rules": [...], "seed": n}.
func (c Config) MarshalJSON() ([]byte, error) {
	rules := c.Rules
	if rules == nil {
		rules = []Rule{}
	}
	return json.Marshal(configJSON{Rules: rules, Seed: c.Seed})
}

// UnmarshalJSON reads {"rules": [...], "seed": n}.
func (c *Config) UnmarshalJSON(b []byte) error {
	var w configJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return err
	}
	*c = Config(w)
	return nil
}

type duration time.Duration

func (d duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = duration(v)
		return nil
	}
	var n int64
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("duration must be a string such as \"50ms\" or nanoseconds: %s", b)
	}
	*d = duration(n)
	return nil
}
