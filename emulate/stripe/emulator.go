package stripe

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
	"github.com/billsync/billsync/emulate/outbound"
)

// APIVersion is the Stripe API version the emulator speaks: that of the
// spec it is checked against (stripe-mock v0.203.0's spec3.json).
const APIVersion = "2026-08-26.dahlia"

// Options configures an Emulator.
type Options struct {
	SecretKey string // required, "sk_test_..."; Bearer, or Basic with the key as user
	AccountID string // "" = generated "acct_..."; GET /v1/account answers it
	// DataDir "" keeps everything in memory; otherwise every change is
	// journaled there before it is answered, and the next New reloads it.
	DataDir string
	// RetryBackoff is the wait after the attempt-th failed delivery
	// (attempt ≥ 1). Default DefaultRetryBackoff.
	RetryBackoff func(attempt int) time.Duration
	Clock        func() time.Time // default time.Now
	Logger       *slog.Logger     // default discards
	HTTPClient   *http.Client     // webhook delivery (default: 30 s timeout)
}

// Write is a write request (POST or DELETE) as the emulator is about to
// apply it.
type Write struct {
	Method, Path   string
	Params         url.Values
	IdempotencyKey string
}

// Read is a GET as SetBeforeRead sees it.
type Read struct {
	Path  string
	Query url.Values
}

// Emulator is a stateful Stripe stand-in. Its methods are safe for
// concurrent use.
type Emulator struct {
	key        string
	clock      func() time.Time
	log        *slog.Logger
	httpClient *http.Client
	ownClient  bool
	dataDir    string
	hook       atomic.Pointer[func(Write)]
	readHook   atomic.Pointer[func(Read)]

	mu sync.Mutex
	state
	inflight map[string]bool // idempotency keys whose request is running
	deliv    *outbound.Queue[*delivery]

	journal *journal.Journal
	unsaved []journalEntry

	startOnce sync.Once
	closeOnce sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeErr  error
}

// New builds an emulator, reloading Options.DataDir if it holds state.
// Webhooks are delivered only after Start.
func New(opts Options) (*Emulator, error) {
	if !strings.HasPrefix(opts.SecretKey, "sk_") {
		return nil, billsync.Errorf(billsync.EINVALID, `stripe emulator: the secret key must start with "sk_" (e.g. sk_test_...)`)
	}
	e := &Emulator{
		key: opts.SecretKey, clock: opts.Clock, log: opts.Logger,
		httpClient: opts.HTTPClient, dataDir: opts.DataDir, state: newState(), inflight: map[string]bool{},
	}
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.httpClient == nil {
		e.httpClient, e.ownClient = outbound.NewClient(deliveryWorkers), true
	}
	e.deliv = outbound.New(&e.mu, (*outbox)(e), outbound.Config{Workers: deliveryWorkers, Backoff: opts.RetryBackoff,
		Client: e.httpClient, UserAgent: "Stripe/1.0 (+https://stripe.com/docs/webhooks)"})
	if e.dataDir != "" {
		if err := e.openDataDir(); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if opts.AccountID != "" && opts.AccountID != e.account || e.account == "" {
		e.account = opts.AccountID
		if e.account == "" {
			e.account = newID("acct_", 16)
		}
		e.created = e.now().Unix()
		e.noteLocked(journalEntry{Account: e.account, Created: e.created})
		e.saveLocked()
	}
	for _, d := range e.pending {
		e.deliv.AddLocked(d)
	}
	return e, nil
}

// Account is the id GET /v1/account answers.
func (e *Emulator) Account() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.account
}

// SetBeforeWrite installs f, called with every POST and DELETE after it
// is parsed and before it is applied, outside the emulator's lock: f may
// block to hold the request and may itself write to the emulator. A test
// makes a change land between a client's read and its write this way,
// without a sleep deciding the order. nil removes it.
func (e *Emulator) SetBeforeWrite(f func(Write)) {
	if f == nil {
		e.hook.Store(nil)
		return
	}
	e.hook.Store(&f)
}

// SetBeforeRead installs f, called with every GET after it is parsed and
// before it is answered, outside the emulator's lock, as SetBeforeWrite
// is for writes: a test makes a change land between two reads of a
// client (its decision and its check before writing). nil removes it.
func (e *Emulator) SetBeforeRead(f func(Read)) {
	if f == nil {
		e.readHook.Store(nil)
		return
	}
	e.readHook.Store(&f)
}

// Start begins webhook delivery; it runs until ctx ends or Close.
func (e *Emulator) Start(ctx context.Context) {
	e.startOnce.Do(func() {
		ctx, e.cancel = context.WithCancel(ctx)
		e.deliv.Start(ctx, &e.wg)
	})
}

// Close stops delivery and, with a data directory, writes the state as
// the snapshot. Undelivered webhooks stay there for the next run.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.startOnce.Do(func() {})
		if e.cancel != nil {
			e.cancel()
		}
		e.wg.Wait()
		if e.ownClient {
			e.httpClient.CloseIdleConnections()
		}
		if e.journal != nil {
			upTo, err := e.journal.Close()
			if serr := e.saveSnapshot(upTo); err == nil {
				err = serr
			}
			e.closeErr = err
		}
	})
	return e.closeErr
}

func (e *Emulator) now() time.Time { return e.clock().UTC() }

// maxBody bounds a request body.
const maxBody = 1 << 20

// call is one API request on its way through a route.
type call struct {
	r       *http.Request
	in      map[string]any // checked parameters
	raw     url.Values
	reqID   string
	idemKey string
	now     int64 // unix seconds
	expand  []string
}

// route is one endpoint: its parameters and what it does under the lock.
type route struct {
	method, pattern string
	params          params
	do              func(e *Emulator, c *call) (obj, *apiError)
}

// Handler serves the API under /v1.
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range e.routes() {
		mux.HandleFunc(rt.method+" "+rt.pattern, e.serve(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		reqID := e.begin(w, r)
		ae := &apiError{status: http.StatusNotFound, typ: "invalid_request_error",
			message: fmt.Sprintf("Unrecognized request URL (%s: %s). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.", r.Method, r.URL.Path)}
		writeJSON(w, ae.status, ae.body(reqID))
	})
	return mux
}

func (e *Emulator) routes() []route {
	var rs []route
	rs = append(rs, route{"GET", "/v1/account", params{"expand": {kind: kStrList}}, (*Emulator).getAccount})
	rs = append(rs, customerRoutes()...)
	rs = append(rs, catalogRoutes()...)
	rs = append(rs, quoteRoutes()...)
	rs = append(rs, eventRoutes()...)
	return rs
}

// begin sets the headers every response carries and returns the request id.
func (e *Emulator) begin(w http.ResponseWriter, r *http.Request) string {
	reqID := newID("req_", 14)
	w.Header().Set("Request-Id", reqID)
	v := r.Header.Get("Stripe-Version")
	if v == "" {
		v = APIVersion
	}
	w.Header().Set("Stripe-Version", v)
	return reqID
}

func (e *Emulator) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c := &call{r: r, reqID: e.begin(w, r)}
		fail := func(ae *apiError) { writeJSON(w, ae.status, ae.body(c.reqID)) }
		if ae := e.authorize(r); ae != nil {
			fail(ae)
			return
		}
		raw := r.URL.RawQuery
		if r.Method == http.MethodPost {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				fail(invalidParam("", "Could not read the request body: %v", err))
				return
			}
			raw = string(b)
		}
		vals, err := url.ParseQuery(raw)
		if err != nil {
			fail(invalidParam("", "Invalid request body: %v", err))
			return
		}
		c.raw = vals
		parsed, ae := parseForm(vals, formOrder(raw))
		if ae == nil {
			c.in, ae = check(parsed, rt.params, "")
		}
		if ae != nil {
			fail(ae)
			return
		}
		c.expand, _ = c.in["expand"].([]string)
		if r.Method == http.MethodGet {
			if f := e.readHook.Load(); f != nil {
				(*f)(Read{Path: r.URL.Path, Query: c.raw})
			}
			e.mu.Lock()
			c.now = e.now().Unix()
			out, ae := rt.do(e, c)
			e.mu.Unlock()
			if ae != nil {
				fail(ae)
				return
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		e.write(w, r, c, rt)
	}
}

// idemEntry is a write's answer kept for its Idempotency-Key.
type idemEntry struct {
	Key       string `json:"key"`
	Endpoint  string `json:"endpoint"` // method and path
	Params    string `json:"params"`   // hash of the parameters
	Status    int    `json:"status"`
	Body      []byte `json:"body"`
	RequestID string `json:"requestId"`
	Created   int64  `json:"created"`
}

// idemTTL is how long Stripe keeps an idempotency key.
const idemTTL = 24 * time.Hour

// write runs a POST or DELETE: idempotency, the before-write hook, then
// the change under the lock, journaled before it is answered.
func (e *Emulator) write(w http.ResponseWriter, r *http.Request, c *call, rt route) {
	c.idemKey = r.Header.Get("Idempotency-Key")
	endpoint := r.Method + " " + r.URL.Path
	sum := sha256.Sum256([]byte(canonical(c.raw)))
	fingerprint := hex.EncodeToString(sum[:])
	if c.idemKey != "" {
		e.mu.Lock()
		prev, seen := e.idem[c.idemKey]
		if seen && e.now().Sub(time.Unix(prev.Created, 0)) > idemTTL {
			delete(e.idem, c.idemKey)
			seen = false
		}
		var ae *apiError
		switch {
		case seen && (prev.Endpoint != endpoint || prev.Params != fingerprint):
			ae = &apiError{status: http.StatusBadRequest, typ: "idempotency_error",
				message: fmt.Sprintf("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '%s' if you meant to execute a different request.", c.idemKey)}
		case seen:
			e.mu.Unlock()
			w.Header().Set("Idempotent-Replayed", "true")
			w.Header().Set("Original-Request", prev.RequestID)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(prev.Status)
			_, _ = w.Write(prev.Body)
			return
		case e.inflight[c.idemKey]:
			ae = &apiError{status: http.StatusConflict, typ: "idempotency_error", code: "idempotency_key_in_use",
				message: "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): " + c.idemKey + ". Please try again later."}
		}
		if ae != nil {
			e.mu.Unlock()
			writeJSON(w, ae.status, ae.body(c.reqID))
			return
		}
		e.inflight[c.idemKey] = true
		e.mu.Unlock()
	}
	if f := e.hook.Load(); f != nil {
		(*f)(Write{Method: r.Method, Path: r.URL.Path, Params: c.raw, IdempotencyKey: c.idemKey})
	}
	e.mu.Lock()
	c.now = e.now().Unix()
	out, ae := rt.do(e, c)
	status, body := http.StatusOK, any(out)
	if ae != nil {
		status, body = ae.status, ae.body(c.reqID)
	}
	b, err := jsonBytes(body)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"type":"api_error","message":"cannot encode the response"}}`)
	}
	if c.idemKey != "" {
		delete(e.inflight, c.idemKey)
		en := &idemEntry{Key: c.idemKey, Endpoint: endpoint, Params: fingerprint, Status: status, Body: b, RequestID: c.reqID, Created: c.now}
		e.idem[c.idemKey] = en
		e.noteLocked(journalEntry{Idem: en})
	}
	e.saveLocked()
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// canonical is the parameters in a fixed order, so a retry that encodes
// them in another order still matches.
func canonical(v url.Values) string {
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range v {
			if !yield(k) {
				return
			}
		}
	})
	var b strings.Builder
	for _, k := range keys {
		for _, s := range v[k] {
			b.WriteString(url.QueryEscape(k) + "=" + url.QueryEscape(s) + "&")
		}
	}
	return b.String()
}

func (e *Emulator) authorize(r *http.Request) *apiError {
	h := r.Header.Get("Authorization")
	var got string
	switch {
	case strings.HasPrefix(h, "Bearer "):
		got = strings.TrimPrefix(h, "Bearer ")
	case strings.HasPrefix(h, "Basic "):
		b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(h, "Basic "))
		if err == nil {
			got, _, _ = strings.Cut(string(b), ":")
		}
	}
	if got == "" {
		return &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error",
			message: "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/."}
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(e.key)) != 1 {
		shown := got
		if len(shown) > 4 {
			shown = strings.Repeat("*", min(len(shown)-4, 24)) + shown[len(shown)-4:]
		}
		return &apiError{status: http.StatusUnauthorized, typ: "invalid_request_error", code: "api_key_invalid",
			message: "Invalid API Key provided: " + shown}
	}
	return nil
}

func (e *Emulator) getAccount(c *call) (obj, *apiError) {
	return obj{
		"id": e.account, "object": "account", "country": "US", "default_currency": "usd",
		"charges_enabled": false, "payouts_enabled": false, "details_submitted": false,
		"type": "standard", "metadata": map[string]string{}, "email": nil, "created": e.created,
		"business_type": nil,
	}, nil
}

// errUnknownKind is a journal line naming an object kind this version
// does not know.
var errUnknownKind = errors.New("unknown object kind")
