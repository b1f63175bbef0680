package faults

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AdminPath is where Wrap serves the injector's admin endpoint. Requests
// under it are never faulted, so that a test can always switch faults off.
const AdminPath = "/_emulator/faults"

// FaultHeader names the rule behind an injected error answer, so that a
// person reading a client's log can tell injected failures from real ones.
const FaultHeader = "X-Emulator-Fault"

// IDPlaceholder in a rule's message stands for the last segment of the
// request path, usually the record id: Salesforce's real lock error reads
// "unable to obtain exclusive access to this record or 1 records: {id}".
const IDPlaceholder = "{id}"

// Injector decides, per request, which faults strike and injects them. It is
// safe for concurrent use; its rules can be replaced while requests run.
type Injector struct {
	format Format
	hooks  map[string]func()
	log    atomic.Pointer[slog.Logger]
	sleep  func(ctx context.Context, d time.Duration) error // replaced by tests

	cfg atomic.Pointer[Config]

	rngMu sync.Mutex
	rng   *rand.Rand

	countMu sync.RWMutex
	counts  map[string]*atomic.Int64
	total   atomic.Int64
}

// New returns an injector with cfg's rules. format renders error bodies
// (SalesforceFormat, BillingFormat; nil means plain text); hooks are the
// named side effects a rule may run. An invalid cfg is logged and replaced
// by no rules; call Config.Validate first, or use Apply, to see the error.
func New(cfg Config, format func(status int, code, msg string) (contentType string, body []byte), hooks map[string]func(), log *slog.Logger) *Injector {
	if format == nil {
		format = textFormat
	}
	h := make(map[string]func(), len(hooks))
	for k, f := range hooks {
		if f != nil {
			h[k] = f
		}
	}
	i := &Injector{format: format, hooks: h, sleep: sleepCtx, counts: map[string]*atomic.Int64{}}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	i.log.Store(log)
	i.Set(cfg)
	return i
}

func (i *Injector) logger() *slog.Logger {
	if l := i.log.Load(); l != nil {
		return l
	}
	return slog.Default()
}

// SetLogger sets where the injector logs; the default is slog.Default().
func (i *Injector) SetLogger(l *slog.Logger) {
	if l != nil {
		i.log.Store(l)
	}
}

// Apply replaces the rules at run time if cfg is valid (hooks included), and
// reseeds the dice from cfg.Seed. Counts carry over: they total every fault
// injected since the start or the last ResetCounts.
func (i *Injector) Apply(cfg Config) error {
	v, err := cfg.Validate(i.hooks)
	if err != nil {
		return err
	}
	seed := uint64(v.Seed)
	if seed == 0 {
		seed = rand.Uint64()
	}
	i.rngMu.Lock()
	i.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	prev := i.cfg.Swap(&v)
	i.rngMu.Unlock()
	i.countMu.Lock()
	for _, r := range v.Rules {
		if i.counts[r.Name] == nil {
			i.counts[r.Name] = new(atomic.Int64)
		}
	}
	i.countMu.Unlock()
	// No rules where there were none (every emulator's start) is not news.
	level := slog.LevelInfo
	if len(v.Rules) == 0 && (prev == nil || len(prev.Rules) == 0) {
		level = slog.LevelDebug
	}
	i.logger().Log(context.Background(), level, "fault rules set", "rules", len(v.Rules), "spec", v.Spec())
	return nil
}

// Set replaces the rules at run time. An invalid cfg leaves the current
// rules in place and is logged; Apply reports the error instead.
func (i *Injector) Set(cfg Config) {
	if err := i.Apply(cfg); err != nil {
		i.logger().Error("fault rules rejected; keeping the current ones", "err", err)
		if i.cfg.Load() == nil {
			i.cfg.Store(&Config{})
			i.rngMu.Lock()
			i.rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
			i.rngMu.Unlock()
		}
	}
}

// Config returns the rules in force, with statuses implied by well-known
// codes filled in.
func (i *Injector) Config() Config {
	p := i.cfg.Load()
	if p == nil {
		return Config{}
	}
	c := *p
	c.Rules = append([]Rule(nil), c.Rules...)
	return c
}

// Counts returns the faults injected per rule name, including rules that
// have not fired yet and rules since replaced.
func (i *Injector) Counts() map[string]int64 {
	i.countMu.RLock()
	defer i.countMu.RUnlock()
	out := make(map[string]int64, len(i.counts))
	for k, v := range i.counts {
		out[k] = v.Load()
	}
	return out
}

// Total returns the number of faults injected, over all rules.
func (i *Injector) Total() int64 { return i.total.Load() }

// ResetCounts sets every counter back to zero.
func (i *Injector) ResetCounts() {
	i.countMu.Lock()
	defer i.countMu.Unlock()
	for _, c := range i.counts {
		c.Store(0)
	}
	i.total.Store(0)
}

func (i *Injector) count(name string) {
	i.countMu.RLock()
	c := i.counts[name]
	i.countMu.RUnlock()
	if c == nil {
		i.countMu.Lock()
		if c = i.counts[name]; c == nil {
			c = new(atomic.Int64)
			i.counts[name] = c
		}
		i.countMu.Unlock()
	}
	c.Add(1)
	i.total.Add(1)
}

// plan is what strikes one request.
type plan struct {
	delay    time.Duration
	hooks    []string
	fault    *Rule // the status or drop fault, if any
	names    []string
	anything bool
}

func matches(r *Rule, req *http.Request) bool {
	return (r.Method == "" || r.Method == req.Method) && strings.HasPrefix(req.URL.Path, r.Path)
}

// roll throws the dice for every matching rule, in order, until one that
// answers the request strikes. Holding one lock for the whole request keeps
// a seeded run's faults a function of the request sequence alone.
func (i *Injector) roll(req *http.Request) plan {
	var p plan
	cfg := i.cfg.Load()
	if cfg == nil || len(cfg.Rules) == 0 {
		return p
	}
	i.rngMu.Lock()
	for k := range cfg.Rules {
		r := &cfg.Rules[k]
		if !matches(r, req) || r.Rate <= 0 {
			continue
		}
		if i.rng.Float64() >= r.Rate {
			continue
		}
		p.anything = true
		p.names = append(p.names, r.Name)
		if r.Latency > 0 {
			d := r.Latency
			if r.Jitter > 0 {
				d += time.Duration(i.rng.Int64N(2*int64(r.Jitter)+1)) - r.Jitter
			}
			p.delay += max(d, 0)
		}
		if r.Hook != "" {
			p.hooks = append(p.hooks, r.Hook)
		}
		if r.terminal() {
			p.fault = r
			break
		}
	}
	i.rngMu.Unlock()
	for _, n := range p.names {
		i.count(n)
	}
	return p
}

// Wrap returns next with faults injected and the admin endpoint mounted at
// AdminPath.
func (i *Injector) Wrap(next http.Handler) http.Handler {
	admin := i.AdminHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == AdminPath || strings.HasPrefix(r.URL.Path, AdminPath+"/") {
			admin.ServeHTTP(w, r)
			return
		}
		p := i.roll(r)
		if !p.anything {
			next.ServeHTTP(w, r)
			return
		}
		i.logger().Debug("fault injected", "rules", p.names, "method", r.Method, "path", r.URL.Path)
		if p.delay > 0 {
			if err := i.sleep(r.Context(), p.delay); err != nil {
				return // the client gave up; nobody is left to answer
			}
		}
		for _, h := range p.hooks {
			i.runHook(h)
		}
		switch {
		case p.fault == nil:
			next.ServeHTTP(w, r)
		case p.fault.After == After:
			next.ServeHTTP(discard{h: http.Header{}}, r)
			i.fail(w, r, p.fault)
		default:
			i.fail(w, r, p.fault)
		}
	})
}

func (i *Injector) runHook(name string) {
	f := i.hooks[name]
	if f == nil {
		i.logger().Warn("fault hook not available", "hook", name)
		return
	}
	defer func() {
		if v := recover(); v != nil {
			i.logger().Error("fault hook panicked", "hook", name, "panic", v)
		}
	}()
	f()
}

func (i *Injector) fail(w http.ResponseWriter, req *http.Request, r *Rule) {
	if r.Drop {
		dropConn(w)
		return
	}
	msg := r.Message
	if strings.Contains(msg, IDPlaceholder) {
		msg = strings.ReplaceAll(msg, IDPlaceholder, path.Base(req.URL.Path))
	}
	ct, body := i.format(r.Status, r.Code, msg)
	h := w.Header()
	h.Set("Content-Type", ct)
	h.Set(FaultHeader, r.Name)
	w.WriteHeader(r.Status)
	_, _ = w.Write(body)
}

// dropConn closes the connection under w without a byte of answer, with a
// TCP reset so the client sees the failure at once.
func dropConn(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// HTTP/2 and test recorders cannot be hijacked. ErrAbortHandler is
		// net/http's sanctioned way to abort a response: the server resets
		// the stream without logging a stack, so the client still sees a
		// broken exchange rather than an answer.
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// discard is the ResponseWriter an "after" fault hands the real handler:
// the handler's work happens, its answer goes nowhere.
type discard struct{ h http.Header }

func (d discard) Header() http.Header         { return d.h }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}
func (d discard) Flush()                      {}
