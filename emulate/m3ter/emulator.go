package m3ter

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
	"github.com/billsync/billsync/emulate/outbound"
)

// TokenLifetime is how long an access token lasts (m3ter's OpenAPI text:
// 18,000 seconds).
const TokenLifetime = 18000 * time.Second

// Options configures an Emulator.
type Options struct {
	OrgID         string // required; resources live under /organizations/{OrgID}
	AccessKeyID   string // required: the service user's access key id
	APISecret     string // required: its secret
	ServiceUserID string // "" = generated; createdBy / lastModifiedBy of the key's writes
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

// Write is a write request (POST, PUT or DELETE under the organization) as
// the emulator is about to apply it.
type Write struct {
	Method, Path string
	Body         []byte
}

// credential is an access key and the user its writes are attributed to.
type credential struct {
	secret, userID string
}

// Emulator is a stateful m3ter stand-in. Its methods are safe for
// concurrent use.
type Emulator struct {
	org        string
	clock      func() time.Time
	log        *slog.Logger
	httpClient *http.Client
	ownClient  bool
	dataDir    string
	hook       atomic.Pointer[func(Write)]

	mu    sync.Mutex
	creds map[string]credential // access key id → secret and user
	state
	deliv *outbound.Queue[*delivery]

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
	if opts.OrgID == "" || opts.AccessKeyID == "" || opts.APISecret == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "m3ter emulator: the organization id, access key id and API secret are required")
	}
	e := &Emulator{
		org: opts.OrgID, clock: opts.Clock, log: opts.Logger,
		httpClient: opts.HTTPClient, dataDir: opts.DataDir, state: newState(), creds: map[string]credential{},
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
		Client: e.httpClient, UserAgent: "m3ter-emulator (billsync)"})
	if e.dataDir != "" {
		if err := e.openDataDir(); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	// The service user id is kept in the data directory so a restarted
	// sandbox attributes writes to the same user as before.
	switch {
	case opts.ServiceUserID != "" && opts.ServiceUserID != e.serviceUser:
		e.serviceUser = opts.ServiceUserID
		e.noteLocked(journalEntry{ServiceUser: e.serviceUser})
	case e.serviceUser == "":
		e.serviceUser = newUUID()
		e.noteLocked(journalEntry{ServiceUser: e.serviceUser})
	}
	e.saveLocked()
	e.creds[opts.AccessKeyID] = credential{secret: opts.APISecret, userID: e.serviceUser}
	for _, d := range e.pending {
		e.deliv.AddLocked(d)
	}
	return e, nil
}

// OrgID is the organization the emulator serves.
func (e *Emulator) OrgID() string { return e.org }

// ServiceUserID is the user the access key of Options writes as.
func (e *Emulator) ServiceUserID() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.serviceUser
}

// AddCredentials lets another access key in, whose writes carry userID as
// createdBy / lastModifiedBy: a test writes "as someone else" (a person
// in m3ter's Console) this way. Not persisted: call it after each New.
func (e *Emulator) AddCredentials(accessKeyID, apiSecret, userID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.creds[accessKeyID] = credential{secret: apiSecret, userID: userID}
}

// SetBeforeWrite installs f, called with every POST, PUT and DELETE under
// the organization after it is authenticated and before it is applied,
// outside the emulator's lock: f may block to hold the request and may
// itself write to the emulator. A test makes a change land between a
// client's read and its write this way, without a sleep deciding the
// order. nil removes it.
func (e *Emulator) SetBeforeWrite(f func(Write)) {
	if f == nil {
		e.hook.Store(nil)
		return
	}
	e.hook.Store(&f)
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
	r    *http.Request
	body obj // the decoded JSON body of a POST or PUT
	user string
	now  time.Time
}

// route is one endpoint and what it does under the lock. maxPage is the
// spec's pageSize maximum for a list (0: not a list).
type route struct {
	method, pattern string
	maxPage         int
	do              func(e *Emulator, c *call) (any, *apiError)
}

const orgPrefix = "/organizations/{orgId}"

// Handler serves the API.
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /oauth/token", e.token)
	for _, rt := range e.routes() {
		mux.HandleFunc(rt.method+" "+orgPrefix+rt.pattern, e.serve(rt))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, msgBody(fmt.Sprintf("No route for %s %s", r.Method, r.URL.Path)))
	})
	return mux
}

func (e *Emulator) routes() []route {
	var rs []route
	rs = append(rs, accountRoutes()...)
	rs = append(rs, balanceRoutes()...)
	rs = append(rs, eventRoutes()...)
	rs = append(rs, integrationRoutes()...)
	rs = append(rs, route{"GET", "/users/me", 0, (*Emulator).me})
	return rs
}

// token is POST /oauth/token: client credentials with the access key as
// HTTP Basic user and the secret as password.
func (e *Emulator) token(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, msgBody("Could not read the request body"))
		return
	}
	grant, scope, ae := tokenRequest(r, b)
	if ae != nil {
		writeJSON(w, ae.status, msgBody(ae.message))
		return
	}
	if grant != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, msgBody("unsupported_grant_type: grant_type must be client_credentials"))
		return
	}
	key, secret, ok := r.BasicAuth()
	e.mu.Lock()
	cred, known := e.creds[key]
	e.mu.Unlock()
	if !ok || !known || subtle.ConstantTimeCompare([]byte(secret), []byte(cred.secret)) != 1 {
		writeJSON(w, http.StatusUnauthorized, msgBody("invalid_client: bad access key id or API secret"))
		return
	}
	if scope == "" {
		scope = "m3ter-resources/m3ter-scope"
	}
	tok := &token{Token: newSecret(), UserID: cred.userID, Expires: e.now().Add(TokenLifetime)}
	e.mu.Lock()
	e.dropExpiredTokensLocked()
	e.tokens[tok.Token] = tok
	e.noteLocked(journalEntry{Token: tok})
	e.saveLocked()
	e.mu.Unlock()
	writeJSON(w, http.StatusOK, obj{"access_token": tok.Token, "token_type": "Bearer",
		"expires_in": int64(TokenLifetime / time.Second), "scope": scope})
}

// tokenRequest reads grant_type and scope from a JSON body (as m3ter's SDK
// sends) or a form-encoded one (as m3ter's spec example posts).
func tokenRequest(r *http.Request, b []byte) (grant, scope string, ae *apiError) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-www-form-urlencoded" {
		v, err := url.ParseQuery(string(b))
		if err != nil {
			return "", "", badRequest("Invalid form body: %v", err)
		}
		return v.Get("grant_type"), v.Get("scope"), nil
	}
	var in struct {
		GrantType string `json:"grant_type"`
		Scope     string `json:"scope"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return "", "", badRequest("Invalid JSON body: %v", err)
	}
	return in.GrantType, in.Scope, nil
}

// authorize checks the bearer token and the organization; it returns the
// user the request acts as.
func (e *Emulator) authorize(r *http.Request) (string, *apiError) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return "", &apiError{status: http.StatusUnauthorized, message: "Unauthorized: a Bearer access token is required"}
	}
	e.mu.Lock()
	t := e.tokens[tok]
	expired := t != nil && !e.now().Before(t.Expires)
	e.mu.Unlock()
	if t == nil || expired {
		return "", &apiError{status: http.StatusUnauthorized, message: "Unauthorized: the access token is invalid or has expired"}
	}
	if r.PathValue("orgId") != e.org {
		return "", &apiError{status: http.StatusForbidden, message: "Forbidden: the token has no access to organization " + r.PathValue("orgId")}
	}
	return t.UserID, nil
}

func (e *Emulator) serve(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		fail := func(ae *apiError) { writeError(w, ae) }
		user, ae := e.authorize(r)
		if ae != nil {
			fail(ae)
			return
		}
		c := &call{r: r, user: user}
		var raw []byte
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				fail(badRequest("Could not read the request body: %v", err))
				return
			}
			raw = b
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err := dec.Decode(&c.body); err != nil || c.body == nil {
				fail(badRequest("The request body must be a JSON object"))
				return
			}
		}
		if rt.maxPage > 0 {
			if ae := checkPageSize(r, rt.maxPage); ae != nil {
				fail(ae)
				return
			}
		}
		if r.Method == http.MethodGet {
			e.mu.Lock()
			c.now = e.now()
			out, ae := rt.do(e, c)
			e.mu.Unlock()
			if ae != nil {
				fail(ae)
				return
			}
			writeJSON(w, http.StatusOK, out)
			return
		}
		if f := e.hook.Load(); f != nil {
			(*f)(Write{Method: r.Method, Path: r.URL.Path, Body: raw})
		}
		e.mu.Lock()
		c.now = e.now()
		out, ae := rt.do(e, c)
		e.saveLocked()
		e.mu.Unlock()
		if ae != nil {
			fail(ae)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

func (e *Emulator) me(c *call) (any, *apiError) {
	org := obj{"id": e.org, "orgId": e.org, "organizationName": "m3ter emulator", "shortName": "emulator", "version": int64(1)}
	if c.user == e.serviceUser {
		return obj{"serviceUser": obj{"id": c.user, "name": "billsync", "version": int64(1)}, "organization": org}, nil
	}
	return obj{"user": obj{"id": c.user, "version": int64(1)}, "organization": org}, nil
}

// FaultFormat renders an injected fault (emulate/faults) as m3ter's error
// body, {"message": "..."}.
func FaultFormat(status int, code, msg string) (string, []byte) {
	if msg == "" {
		msg = http.StatusText(status)
	}
	if code != "" {
		msg = code + ": " + msg
	}
	b, _ := json.Marshal(msgBody(msg))
	return "application/json", b
}

// ExpireTokens ends every issued access token now: the next request with
// one is answered 401, as after m3ter's 5 hours (a fault hook for chaos
// runs: the client must fetch a new token and retry).
func (e *Emulator) ExpireTokens() {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	for _, t := range e.tokens {
		if now.Before(t.Expires) {
			t.Expires = now
			e.noteLocked(journalEntry{Token: t})
		}
	}
	e.saveLocked()
}

// The credentials `billsync emulate m3ter` and the sandbox use unless told
// otherwise: fixed, so a walkthrough can be followed by copy and paste.
const (
	DefaultOrgID         = "00000000-0000-4000-8000-00000000e3e7"
	DefaultAccessKeyID   = "sandbox-access-key"
	DefaultAPISecret     = "sandbox-api-secret"
	DefaultServiceUserID = "00000000-0000-4000-8000-0000b1115c00"
)
