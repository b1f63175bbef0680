package billing

import (
	"bytes"
	"container/heap"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// Options configures an Emulator.
type Options struct {
	Token         string // bearer token for the REST API; required
	TenantID      string // "" = generated (and kept in the data directory)
	WebhookURL    string // "" = hold webhooks until SetWebhookURL
	WebhookSecret string // "whsec_" + base64; required
	// DataDir "" keeps everything in memory; otherwise every change is
	// journaled there before it is answered, and the next New reloads it.
	DataDir string
	// RetryBackoff is the wait after the attempt-th failed delivery
	// (attempt ≥ 1). Default DefaultRetryBackoff.
	RetryBackoff func(attempt int) time.Duration
	Clock        func() time.Time // default time.Now
	Logger       *slog.Logger     // default discards
	// Workers is how many webhooks are in flight at once, each of a
	// different account (default 16).
	Workers int
	// HTTPClient delivers webhooks (default: a client with a 30 s timeout
	// that keeps a connection per worker).
	HTTPClient *http.Client
}

// DefaultWorkers is how many webhooks are in flight at once by default.
const DefaultWorkers = 16

// Emulator is the billing emulator. Its methods are safe for concurrent use.
type Emulator struct {
	token      string
	clock      func() time.Time
	log        *slog.Logger
	signer     *standardwebhooks.Webhook
	backoff    func(int) time.Duration
	workers    int
	httpClient *http.Client
	ownClient  bool // httpClient is ours: Close drops its idle connections
	dataDir    string

	mu sync.Mutex
	state
	webhookURL string
	// Delivery: a partition with events is in exactly one of ready (its
	// head is due), busy (a worker holds it) or retryAt (its head failed).
	ready    readyHeap
	busy     map[string]bool
	retryAt  map[string]time.Time
	work     *sync.Cond // signalled when ready gains a partition, or on stop
	stopping bool
	retry    chan struct{}

	journal *journal.Journal // nil without DataDir
	unsaved []journalEntry   // changes of the current critical section

	startOnce sync.Once
	closeOnce sync.Once
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeErr  error
}

// New builds an emulator, reloading Options.DataDir if it holds state.
// Webhooks are delivered only after Start.
func New(opts Options) (*Emulator, error) {
	if opts.Token == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "billing emulator: a bearer token is required")
	}
	if !strings.HasPrefix(opts.WebhookSecret, "whsec_") {
		return nil, billsync.Errorf(billsync.EINVALID, `billing emulator: the webhook secret must be "whsec_" followed by base64`)
	}
	signer, err := standardwebhooks.NewWebhook(opts.WebhookSecret)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "billing emulator: webhook secret: %v", err)
	}
	e := &Emulator{
		token:      opts.Token,
		clock:      opts.Clock,
		log:        opts.Logger,
		signer:     signer,
		backoff:    opts.RetryBackoff,
		workers:    opts.Workers,
		httpClient: opts.HTTPClient,
		dataDir:    opts.DataDir,
		state:      newState(),
		webhookURL: opts.WebhookURL,
		busy:       map[string]bool{},
		retryAt:    map[string]time.Time{},
		retry:      make(chan struct{}, 1),
	}
	e.work = sync.NewCond(&e.mu)
	if e.clock == nil {
		e.clock = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.backoff == nil {
		e.backoff = DefaultRetryBackoff
	}
	if e.workers <= 0 {
		e.workers = DefaultWorkers
	}
	if e.httpClient == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = e.workers // a connection per worker, kept between deliveries
		e.httpClient = &http.Client{Timeout: 30 * time.Second, Transport: tr}
		e.ownClient = true
	}
	if e.dataDir != "" {
		if err := e.openDataDir(); err != nil {
			return nil, err
		}
	}
	if opts.TenantID != "" && opts.TenantID != e.tenant || e.tenant == "" {
		e.tenant = opts.TenantID
		if e.tenant == "" {
			e.tenant = newID("ten_")
		}
		e.noteLocked(journalEntry{Tenant: e.tenant})
		e.saveLocked()
	}
	for p, q := range e.queues {
		heap.Push(&e.ready, readyPartition{p, q[0].Seq})
	}
	return e, nil
}

func (e *Emulator) now() time.Time { return e.clock().UTC().Truncate(time.Millisecond) }

// Tenant is the tenant id GET /api/v1/tenant answers.
func (e *Emulator) Tenant() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tenant
}

// Start begins webhook delivery; it runs until ctx ends or Close.
func (e *Emulator) Start(ctx context.Context) {
	e.startOnce.Do(func() {
		ctx, e.cancel = context.WithCancel(ctx)
		e.wg.Add(2 + e.workers)
		go func() { defer e.wg.Done(); e.retryLoop(ctx) }()
		go func() {
			defer e.wg.Done()
			<-ctx.Done()
			e.mu.Lock()
			e.stopping = true
			e.work.Broadcast()
			e.mu.Unlock()
		}()
		for range e.workers {
			go func() { defer e.wg.Done(); e.worker(ctx) }()
		}
	})
}

// Close stops delivery and writes the state as the snapshot, which then
// holds the whole journal.
// Undelivered webhooks stay in the data directory for the next run.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		e.startOnce.Do(func() {}) // a later Start must not spawn workers
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

// Get returns a stored record (a copy), without HTTP.
func (e *Emulator) Get(t billsync.ObjectType, id string) (billsync.Entity, bool) { return e.get(t, id) }

// Create stores a record with the same validation and webhook as POST.
// Failures are *billsync.Error (EINVALID, ENOTFOUND, ECONFLICT).
func (e *Emulator) Create(t billsync.ObjectType, rec billsync.Entity) (billsync.Entity, error) {
	if _, ok := idPrefix[t]; !ok {
		return nil, billsync.Errorf(billsync.EINVALID, "unknown object type %q", t)
	}
	// Round-trip through JSON so Go values (ints, float64 from literals,
	// typed structs) are judged exactly as a POST body would be.
	in, err := reencode(rec)
	if err != nil {
		return nil, err
	}
	out, aerr := e.create(t, in)
	if aerr != nil {
		return nil, aerr.appError()
	}
	return out, nil
}

func reencode(rec billsync.Entity) (billsync.Entity, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, "record: %v", err)
	}
	return billsync.DecodeEntity(b)
}

// Inject queues a webhook carrying data exactly as given, signed and
// delivered like those of real writes, without writing anything: a test
// stands in for a sender whose word (a version, say) is not what its
// records hold.
func (e *Emulator) Inject(t billsync.ObjectType, op billsync.Op, data billsync.Entity) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.emitLocked(t, op, data.Clone(), e.now())
	e.saveLocked()
}

// Writes counts the creates, updates and deletes of a record.
func (e *Emulator) Writes(id string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writes[id]
}

// maxBody bounds a REST request body.
const maxBody = 1 << 20

// Handler serves the REST API of SPEC §5.1 under /api/v1, and /healthz.
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/v1/tenant", e.auth(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"id": e.Tenant()})
	}))
	mux.HandleFunc("GET /api/v1/{coll}", e.auth(e.withType(func(w http.ResponseWriter, r *http.Request, t billsync.ObjectType) {
		q := r.URL.Query()
		limit := 0
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				writeError(w, invalid("limit", "limit must be a positive integer (at most %d)", maxLimit))
				return
			}
			limit = n
		}
		page, next, aerr := e.list(t, q.Get("cursor"), limit)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		var nextCursor *string
		if next != "" {
			nextCursor = &next
		}
		writeJSON(w, http.StatusOK, struct {
			Data       []billsync.Entity `json:"data"`
			NextCursor *string           `json:"nextCursor"`
		}{page, nextCursor})
	})))
	mux.HandleFunc("GET /api/v1/{coll}/{id}", e.auth(e.withType(func(w http.ResponseWriter, r *http.Request, t billsync.ObjectType) {
		id := r.PathValue("id")
		ent, ok := e.get(t, id)
		if !ok {
			writeError(w, notFound(t, id))
			return
		}
		writeJSON(w, http.StatusOK, ent)
	})))
	mux.HandleFunc("POST /api/v1/{coll}", e.auth(e.withType(func(w http.ResponseWriter, r *http.Request, t billsync.ObjectType) {
		raw, aerr := readBody(w, r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		ent, replayed, aerr := e.createIdempotent(t, raw, r.Header.Get("Idempotency-Key"))
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		if replayed {
			w.Header().Set("Idempotent-Replayed", "true")
		}
		writeJSON(w, http.StatusCreated, ent)
	})))
	mux.HandleFunc("PUT /api/v1/{coll}/{id}", e.auth(e.withType(func(w http.ResponseWriter, r *http.Request, t billsync.ObjectType) {
		raw, aerr := readBody(w, r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		ent, aerr := e.update(t, r.PathValue("id"), raw)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		writeJSON(w, http.StatusOK, ent)
	})))
	mux.HandleFunc("DELETE /api/v1/{coll}/{id}", e.auth(e.withType(func(w http.ResponseWriter, r *http.Request, t billsync.ObjectType) {
		if aerr := e.remove(t, r.PathValue("id")); aerr != nil {
			writeError(w, aerr)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, code: "not_found", message: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func (e *Emulator) auth(next http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + e.token)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="billing"`)
			writeError(w, &apiError{status: http.StatusUnauthorized, code: "unauthorized", message: "missing or invalid bearer token"})
			return
		}
		next(w, r)
	}
}

func (e *Emulator) withType(next func(http.ResponseWriter, *http.Request, billsync.ObjectType)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		coll := r.PathValue("coll")
		t, ok := collections[coll]
		if !ok {
			writeError(w, &apiError{status: http.StatusNotFound, code: "not_found",
				message: "unknown collection " + strconv.Quote(coll) + " (want accounts, balances, balance-transactions or quotes)"})
			return
		}
		next(w, r, t)
	}
}

func readBody(w http.ResponseWriter, r *http.Request) (billsync.Entity, *apiError) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &apiError{status: http.StatusRequestEntityTooLarge, code: "invalid", message: "body is larger than 1 MiB"}
		}
		return nil, invalid("", "cannot read body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var ent billsync.Entity
	if err := dec.Decode(&ent); err != nil {
		return nil, invalid("", "malformed JSON object: %v", err)
	}
	if ent == nil {
		return nil, invalid("", "body must be a JSON object, not null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, invalid("", "malformed JSON: trailing data after the object")
	}
	return ent, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *apiError) {
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Field   string `json:"field,omitempty"`
	}
	writeJSON(w, e.status, map[string]body{"error": {e.code, e.message, e.field}})
}
