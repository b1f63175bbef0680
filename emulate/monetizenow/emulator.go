package monetizenow

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/journal"
	"github.com/billsync/billsync/emulate/outbound"
)

// Options configures an Emulator.
type Options struct {
	APIKey string // required: the x-api-key every request must carry
	// WebhookURL is where events are POSTed ("" records them only);
	// SetWebhookURL changes it. It stands for Settings → Webhooks.
	WebhookURL string
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

// DefaultAPIKey is the key `billsync emulate monetizenow` and the sandbox
// accept unless told otherwise: fixed, so a walkthrough can be followed
// by copy and paste.
const DefaultAPIKey = "sandbox-monetizenow-api-key"

// userID is the user the emulator's API key acts as (lastModifiedBy and
// the webhook's userId).
const userID = "usr_emulator0000000"

// Emulator is a stateful MonetizeNow stand-in. Its methods are safe for
// concurrent use.
type Emulator struct {
	key        string
	clock      func() time.Time
	log        *slog.Logger
	httpClient *http.Client
	ownClient  bool
	dataDir    string

	mu         sync.Mutex
	webhookURL string
	eventSeq   int64
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
	if strings.TrimSpace(opts.APIKey) == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "monetizenow emulator: the API key is required")
	}
	e := &Emulator{key: opts.APIKey, clock: opts.Clock, log: opts.Logger,
		httpClient: opts.HTTPClient, dataDir: opts.DataDir, webhookURL: opts.WebhookURL, state: newState()}
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
		Client: e.httpClient, UserAgent: "monetizenow-emulator (billsync)", Wait: func() bool { return e.webhookURL == "" }})
	if e.dataDir != "" {
		if err := e.openDataDir(); err != nil {
			return nil, err
		}
	}
	e.mu.Lock()
	for _, d := range e.pending {
		e.deliv.AddLocked(d)
	}
	e.mu.Unlock()
	return e, nil
}

// SetWebhookURL sets where events go from now on ("" stops delivery;
// what is pending waits).
func (e *Emulator) SetWebhookURL(url string) {
	e.mu.Lock()
	e.webhookURL = url
	e.deliv.WakeLocked()
	e.mu.Unlock()
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
		e.deliv.Stop()
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

func (e *Emulator) now() string { return e.clock().UTC().Format("2006-01-02T15:04:05.000Z") }

// newID is a MonetizeNow-style id: a prefix and 16 random letters and
// digits.
func newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b)
}

// apiError is a failed call: its status and MonetizeNow's error body.
type apiError struct {
	status    int
	message   string
	subErrors []subError
}

func (a *apiError) Error() string { return a.message }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

func notFound(kind, id string) *apiError {
	return &apiError{status: http.StatusNotFound, message: fmt.Sprintf("%s not found with id %s", kind, id)}
}

func invalid(errs []subError) *apiError {
	return &apiError{status: http.StatusBadRequest, message: "Validation failed", subErrors: errs}
}

func errorBody(status int, code, message string, subs []subError) map[string]any {
	inner := map[string]any{"details": message}
	if code != "" {
		inner["errorCode"] = code
	}
	b := map[string]any{"status": status, "message": message, "error": inner}
	if len(subs) > 0 {
		b["subErrors"] = subs
	}
	return b
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"cannot encode the response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, ae *apiError) {
	writeJSON(w, ae.status, errorBody(ae.status, "", ae.message, ae.subErrors))
}

// FaultFormat renders an injected fault (emulate/faults) as MonetizeNow's
// error body.
func FaultFormat(status int, code, msg string) (string, []byte) {
	if msg == "" {
		msg = http.StatusText(status)
	}
	b, _ := json.Marshal(errorBody(status, code, msg, nil))
	return "application/json", b
}

// maxBody bounds a request body.
const maxBody = 1 << 20

// Handler serves the API.
func (e *Emulator) Handler() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern string, f func(r *http.Request, body []byte) (int, any, *apiError)) {
		mux.HandleFunc(pattern, e.serve(f))
	}
	h("GET /api/quotes", e.listQuotes)
	h("POST /api/quotes", e.createQuote)
	h("GET /api/quotes/{quoteId}", e.getQuote)
	h("PUT /api/quotes/{quoteId}", e.putQuote)
	h("DELETE /api/quotes/{quoteId}", e.deleteQuote)
	h("PUT /api/quotes/{quoteId}/quoteOfferings/{quoteOfferingId}", e.putOffering)
	for _, step := range []string{"review", "send", "accept", "retract"} {
		h("POST /api/quotes/{quoteId}/"+step, e.transition(step))
	}
	h("GET /api/accounts", e.listAccounts)
	h("POST /api/accounts", e.createAccount)
	h("GET /api/accounts/{accountId}", e.getAccount)
	// GET /api/accounts/customId/{customId} and
	// GET /api/accounts/{accountId}/quotes share a shape.
	h("GET /api/accounts/{first}/{second}", func(r *http.Request, body []byte) (int, any, *apiError) {
		switch {
		case r.PathValue("first") == "customId":
			return e.getAccountByCustomID(r.PathValue("second"))
		case r.PathValue("second") == "quotes":
			return e.listQuotesOf(r, r.PathValue("first"))
		}
		return 0, nil, &apiError{status: http.StatusNotFound, message: "No handler found for GET " + r.URL.Path}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{status: http.StatusNotFound, message: fmt.Sprintf("No handler found for %s %s", r.Method, r.URL.Path)})
	})
	return mux
}

func (e *Emulator) serve(f func(r *http.Request, body []byte) (int, any, *apiError)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("x-api-key"); got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(e.key)) != 1 {
			writeError(w, &apiError{status: http.StatusUnauthorized, message: "Unauthorized: a valid x-api-key header is required"})
			return
		}
		var body []byte
		if r.Method == http.MethodPost || r.Method == http.MethodPut {
			b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
			if err != nil {
				writeError(w, badRequest("Could not read the request body: %v", err))
				return
			}
			body = b
		}
		status, out, ae := f(r, body)
		if ae != nil {
			writeError(w, ae)
			return
		}
		writeJSON(w, status, out)
	}
}

// decodeBody reads a JSON object into v, numbers exact.
func decodeBody(body []byte, v any) *apiError {
	if len(bytes.TrimSpace(body)) == 0 {
		return badRequest("Required request body is missing")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return badRequest("JSON parse error: %v", err)
	}
	return nil
}

// pageParams reads currentPage (0-based) and pageSize (1..100, default 20).
func pageParams(r *http.Request) (int, int, *apiError) {
	n, size := 0, 20
	if s := r.URL.Query().Get("currentPage"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return 0, 0, badRequest("currentPage must be a number, 0 or more")
		}
		n = v
	}
	if s := r.URL.Query().Get("pageSize"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 100 {
			return 0, 0, badRequest("pageSize must be between 1 and 100")
		}
		size = v
	}
	return n, size, nil
}

// pageOf is page n of size size of all, as MonetizeNow lists.
func pageOf[T any](all []T, n, size int) map[string]any {
	total := (len(all) + size - 1) / size
	from := min(n*size, len(all))
	to := min(from+size, len(all))
	content := all[from:to]
	if content == nil {
		content = []T{}
	}
	return map[string]any{"content": content, "totalPages": total, "totalElements": len(all)}
}
