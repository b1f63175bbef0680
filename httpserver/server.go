package httpserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/alert"
)

// Server serves billsync's HTTP endpoints. Create it with New.
type Server struct {
	webhooks    WebhookDecoder
	settings    SettingsStore
	logs        SyncLog
	deadLetters DeadLetterStore
	conflicts   ConflictReader
	resolver    billsync.ConflictResolver
	resyncer    billsync.Resyncer
	held        HeldRuns
	status      billsync.StatusReader
	mapping     *billsync.MappingView
	alerts      func() []alert.Status
	tokens      []adminToken
	apiRoutes   []apiRoute
	ready       func(ctx context.Context) error
	onEnqueue   func()
	onSettings  func()
	ingest      *ingester // webhooks are committed in groups
	metrics     *Metrics
	log         *slog.Logger
	now         func() time.Time
	handler     http.Handler
	profiling   bool
	console     http.Handler
	webhookPath string // besides /webhooks/billing
	hookToken   string // the secret segment after webhookPath, if any
	quoteHooks  *WebhookRoute
}

// Timeouts for calls the server makes on behalf of a probe or scrape,
// which have no caller deadline of their own worth trusting.
const (
	readyTimeout  = 5 * time.Second
	scrapeTimeout = 5 * time.Second
)

// New checks cfg and builds the server and its routes.
func New(cfg Config) (*Server, error) {
	if err := checkRequired(cfg); err != nil {
		return nil, err
	}
	s := &Server{
		webhooks:    cfg.Webhooks,
		webhookPath: cfg.WebhookPath,
		hookToken:   cfg.WebhookToken,
		quoteHooks:  cfg.QuoteWebhooks,
		ingest:      &ingester{q: cfg.Queue},
		settings:    cfg.Settings,
		logs:        cfg.Logs,
		deadLetters: cfg.DeadLetters,
		conflicts:   cfg.Conflicts,
		resolver:    cfg.Resolver,
		resyncer:    cfg.Resyncer,
		held:        cfg.Held,
		status:      cfg.Status,
		mapping:     cfg.Mapping,
		alerts:      cfg.Alerts,
		ready:       cfg.Ready,
		onEnqueue:   cfg.OnEnqueue,
		onSettings:  cfg.OnSettings,
		metrics:     cfg.Metrics,
		log:         cfg.Logger,
		now:         cfg.Clock,
		profiling:   cfg.Profiling,
		console:     cfg.Console,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.onEnqueue == nil {
		s.onEnqueue = func() {}
	}
	if s.onSettings == nil {
		s.onSettings = func() {}
	}
	if err := s.addTokens(cfg.AdminTokens, scopeAdmin); err != nil {
		return nil, err
	}
	if err := s.addTokens(cfg.ReadTokens, scopeRead); err != nil {
		return nil, err
	}
	if len(s.tokens) == 0 {
		s.log.Warn("no admin tokens configured: the admin API refuses every request")
	}
	if s.metrics == nil {
		m, err := NewMetrics(MetricsConfig{Logger: s.log, Clock: s.now})
		if err != nil {
			return nil, err
		}
		s.metrics = m
	}
	s.handler = s.routes()
	return s, nil
}

// Handler is the server's root handler, with access logging.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPServer returns an *http.Server for addr serving Handler, with
// timeouts that keep a slow or idle client from holding a connection
// forever. The caller starts and shuts it down.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
}

// Metrics is what the server counts in and /metrics serves: Config.Metrics,
// or the server's own when that was nil.
func (s *Server) Metrics() *Metrics { return s.metrics }

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/billing", s.handleWebhook)
	switch p := s.webhookPath; {
	case p != "" && s.hookToken != "":
		mux.HandleFunc("POST "+p+"/{token}", s.withHookToken(s.handleWebhook))
	case p != "" && p != "/webhooks/billing":
		mux.HandleFunc("POST "+p, s.handleWebhook)
	}
	if q := s.quoteHooks; q != nil {
		mux.HandleFunc("POST "+q.Path+"/{token}", guardToken(q.Token, s, s.webhookHandler(q.Webhooks)))
	}

	mux.HandleFunc("GET /healthz", s.handleHealthz)
	mux.HandleFunc("GET /readyz", s.handleReadyz)
	mux.Handle("GET /metrics", s.metrics.handler())

	api := func(pattern string, h http.HandlerFunc) { s.handle(mux, pattern, h) }
	api("GET /api/v1/settings", s.handleSettings)
	api("GET /api/v1/settings/audit", s.handleAudit)
	api("GET /api/v1/settings/{key}", s.handleSetting)
	api("PUT /api/v1/settings/{key}", s.handlePutSetting)
	api("GET /api/v1/logs", s.handleLogs)
	api("GET /api/v1/deadletters", s.handleDeadLetters)
	api("POST /api/v1/deadletters/retry", s.handleRetryDeadLetters)
	api("POST /api/v1/deadletters/discard", s.handleDiscardDeadLetters)
	api("POST /api/v1/deadletters/{id}/retry", s.handleRetry)
	api("GET /api/v1/queue", s.handleQueue)
	api("GET /api/v1/status", s.handleStatus)
	api("GET /api/v1/mapping", s.handleMapping)
	api("GET /api/v1/conflicts", s.handleConflicts)
	api("GET /api/v1/conflicts/{id}", s.handleConflict)
	api("POST /api/v1/conflicts/{id}/resolve", s.handleResolveConflict)
	api("POST /api/v1/resync", s.handleStartResync)
	api("GET /api/v1/resync/{id}", s.handleResync)
	s.heldRoutes(api)
	api("GET /api/v1/alerts", s.handleAlerts)
	if s.profiling {
		s.serveProfiles(mux)
	}
	// Anything else under the API answers in the API's error shape
	// rather than the mux's plain-text 404, but still only to a token.
	api("/api/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, billsync.Errorf(billsync.ENOTFOUND, "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	if s.console != nil {
		mux.Handle("/", s.console)
	}
	return s.recoverPanics(s.accessLog(mux))
}

func (s *Server) handleHealthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

type readyBody struct {
	Status  string   `json:"status"`
	Reasons []string `json:"reasons,omitempty"`
}

func (s *Server) handleReadyz(w http.ResponseWriter, r *http.Request) {
	if s.ready == nil {
		writeJSON(w, http.StatusOK, readyBody{Status: "ready"})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
	defer cancel()
	err := s.ready(ctx)
	if err == nil {
		writeJSON(w, http.StatusOK, readyBody{Status: "ready"})
		return
	}
	var reasons []string
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			if e != nil {
				reasons = append(reasons, e.Error())
			}
		}
	}
	if len(reasons) == 0 {
		reasons = []string{err.Error()}
	}
	writeJSON(w, http.StatusServiceUnavailable, readyBody{Status: "unavailable", Reasons: reasons})
}

// statusRecorder remembers what a handler answered, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer (flush,
// deadlines).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// accessLog logs one line per request: method, path, route, status,
// duration. Never the body, the query or headers, which may carry tokens
// or record data.
func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		d := s.now().Sub(start)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		s.metrics.observeHTTP(route, rec.status)
		// Access lines are for debugging: what synced is in the sync log
		// and its own lines. A server error always shows, and a refused
		// request (a wrong token, a bad signature) is worth a warning.
		level := slog.LevelDebug
		switch {
		case rec.status >= 500:
			level = slog.LevelError
		case rec.status >= 400 && rec.status != http.StatusNotFound:
			level = slog.LevelWarn
		}
		s.log.LogAttrs(r.Context(), level, "http request",
			slog.String("method", r.Method),
			slog.String("path", s.logPath(r)),
			slog.String("route", route),
			slog.Int("status", rec.status),
			slog.Int64("bytes", rec.bytes),
			slog.Duration("duration", d),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// recoverPanics turns a handler panic into a logged 500 in the API's error
// shape instead of a dropped connection.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				panic(v)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "handler panic",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Any("panic", v))
			writeJSON(w, http.StatusInternalServerError, errorBody{Error: errorDetail{Code: billsync.EINTERNAL, Message: "internal error"}})
		}()
		next.ServeHTTP(w, r)
	})
}

// withHookToken answers 404, as for any unknown path, unless the URL's
// last segment is the webhook token (compared in constant time).
func (s *Server) withHookToken(next http.HandlerFunc) http.HandlerFunc {
	return guardToken(s.hookToken, s, next)
}

func guardToken(token string, s *Server, next http.HandlerFunc) http.HandlerFunc {
	want := []byte(token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.PathValue("token")), want) != 1 {
			s.writeError(w, r, billsync.Errorf(billsync.ENOTFOUND, "no such endpoint: %s %s", r.Method, s.logPath(r)))
			return
		}
		next(w, r)
	}
}

// logPath is the request's path as logs show it: the segment after a
// token-guarded webhook path is replaced, so the token is never logged.
func (s *Server) logPath(r *http.Request) string {
	if s.hookToken != "" && strings.HasPrefix(r.URL.Path, s.webhookPath+"/") {
		return s.webhookPath + "/<token>"
	}
	if q := s.quoteHooks; q != nil && strings.HasPrefix(r.URL.Path, q.Path+"/") {
		return q.Path + "/<token>"
	}
	return r.URL.Path
}
