// Package console is billsync's web console: server-rendered pages an
// operator keeps open (overview, sync log, conflicts, dead letters,
// settings). Every page reads, and every form acts, through billsync's
// own admin API (package adminclient) with the token the operator logged
// in with, so the console adds no behaviour of its own and a read token
// can change nothing here that it could not change with curl.
//
// Templates and assets are embedded; there is no build step.
package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
)

//go:embed templates/*.html static/*
var assets embed.FS

// Config wires a console.
type Config struct {
	// API returns a client of billsync's admin API acting with token.
	// BaseURL(url) builds one for a server at url.
	API func(token string) *adminclient.Client
	// Secure marks the session cookie Secure even on a plain-HTTP
	// request: set it when a TLS-terminating proxy sits in front.
	// A request that arrives over TLS gets a Secure cookie regardless.
	Secure bool
	// SessionTTL is how long a login lasts; 0 is 8 hours.
	SessionTTL time.Duration
	Logger     *slog.Logger
	Clock      func() time.Time
}

// BaseURL is a Config.API for the admin API at url (billsync's own
// address, e.g. "http://127.0.0.1:8080").
func BaseURL(url string) func(token string) *adminclient.Client {
	return func(token string) *adminclient.Client { return adminclient.New(url, token, nil) }
}

// LocalURL is the URL billsync reaches its own admin API at when it
// listens on addr: the address itself, or loopback when it listens on
// every interface (0.0.0.0, ::), which is not an address to dial.
func LocalURL(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return "http://" + addr.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port)
}

const (
	sessionCookie = "billsync_session"
	// loginCookie carries the login form's CSRF token (double submit):
	// before login there is no session to keep it in.
	loginCookie       = "billsync_login"
	defaultSessionTTL = 8 * time.Hour
	// apiTimeout bounds the admin API calls of one page.
	apiTimeout = 30 * time.Second
)

// session is one login: the token stays on the server, the browser holds
// only a random id.
type session struct {
	token   string
	admin   bool // false: a read token, shown no write controls
	csrf    string
	expires time.Time
	flash   *flash
}

type flash struct {
	Error bool
	Text  string
}

type handler struct {
	api    func(token string) *adminclient.Client
	secure bool
	ttl    time.Duration
	log    *slog.Logger
	now    func() time.Time
	pages  map[string]*template.Template
	mux    *http.ServeMux

	mu       sync.Mutex
	sessions map[string]*session
}

// New builds the console's handler. It serves "/" and everything under
// "/console/"; mount it outside the admin API's token check, since it has
// its own login.
func New(cfg Config) (http.Handler, error) {
	if cfg.API == nil {
		return nil, billsync.Errorf(billsync.EINVALID, "console: API is required (the console acts through the admin API)")
	}
	h := &handler{api: cfg.API, secure: cfg.Secure, ttl: cfg.SessionTTL, log: cfg.Logger, now: cfg.Clock,
		sessions: map[string]*session{}}
	if h.ttl <= 0 {
		h.ttl = defaultSessionTTL
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if err := h.parseTemplates(); err != nil {
		return nil, err
	}
	h.routes()
	return h, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Pages hold record data and act on a session: never cached, never
	// framed (clickjacking), no sniffing.
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy", "default-src 'self'; style-src 'self'; script-src 'none'; frame-ancestors 'none'; form-action 'self'")
	h.mux.ServeHTTP(w, r)
}

func (h *handler) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(assets, "static")
	m.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", h.page(h.overview))
	m.HandleFunc("GET /console/{$}", h.page(h.overview))
	m.HandleFunc("GET /console/login", h.loginPage)
	m.HandleFunc("POST /console/login", h.login)
	m.HandleFunc("POST /console/logout", h.action(h.logout))
	m.HandleFunc("GET /console/logs", h.page(h.logsPage))
	m.HandleFunc("GET /console/records/{id}", h.page(h.recordPage))
	m.HandleFunc("GET /console/conflicts", h.page(h.conflictsPage))
	m.HandleFunc("GET /console/conflicts/{id}", h.page(h.conflictPage))
	m.HandleFunc("POST /console/conflicts/{id}/resolve", h.action(h.resolveConflict))
	m.HandleFunc("GET /console/deadletters", h.page(h.deadLettersPage))
	m.HandleFunc("POST /console/deadletters/{id}/retry", h.action(h.retryDeadLetter))
	m.HandleFunc("POST /console/deadletters/{id}/discard", h.action(h.discardDeadLetter))
	m.HandleFunc("GET /console/settings", h.page(h.settingsPage))
	m.HandleFunc("POST /console/settings/{key}", h.action(h.setSetting))
	m.HandleFunc("POST /console/held/{id}/{decision}", h.action(h.decideHeldRun))
	m.HandleFunc("GET /console/mapping", h.page(h.mappingPage))
	m.HandleFunc("GET /console/resync", h.page(h.resyncForm))
	m.HandleFunc("POST /console/resync", h.action(h.startResync))
	m.HandleFunc("GET /console/resync/{id}", h.page(h.resyncPage))
	m.HandleFunc("POST /console/deadletters/retry", h.action(h.retryDeadLetters))
	m.HandleFunc("POST /console/deadletters/discard", h.action(h.discardDeadLetters))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.renderStatus(w, r, http.StatusNotFound, "Not found", "There is no page at "+r.URL.Path+".")
	})
	h.mux = m
}

// view is what every page template gets.
type view struct {
	Title    string
	Nav      string // the navigation entry to mark current
	Admin    bool
	CSRF     string
	LoggedIn bool
	Flash    *flash
	Data     any
	Refresh  int // seconds; see refresher
}

// pageFunc reads what a page shows through c and returns its title,
// navigation entry and data.
type pageFunc func(ctx context.Context, c *adminclient.Client, r *http.Request) (page string, title string, data any, err error)

// page runs a pageFunc for a logged-in session; without one it shows the
// login form.
func (h *handler) page(f pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, s := h.session(r)
		if s == nil {
			h.renderLogin(w, r, http.StatusOK, "")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
		defer cancel()
		name, title, data, err := f(ctx, h.api(s.token), r)
		if billsync.ErrorCode(err) == billsync.EUNAUTHORIZED {
			// The token was revoked or changed since login.
			h.drop(id)
			h.renderLogin(w, r, http.StatusUnauthorized, "The admin API no longer accepts this token; log in again.")
			return
		}
		if err != nil {
			status := http.StatusBadGateway
			switch billsync.ErrorCode(err) {
			case billsync.ENOTFOUND:
				status = http.StatusNotFound
			case billsync.EINVALID:
				status = http.StatusBadRequest
			}
			h.renderStatus(w, r, status, "Cannot show this page", errorText(err))
			return
		}
		v := view{Title: title, Nav: name, Data: data}
		if p, ok := data.(refresher); ok {
			v.Refresh = p.RefreshSeconds()
		}
		h.render(w, r, http.StatusOK, name, v, id)
	}
}

// refresher is a page's data that asks the browser to reload the page
// every RefreshSeconds while something runs (0: never), so progress shows
// without a script.
type refresher interface{ RefreshSeconds() int }

// actionFunc performs one form's action through c and returns where to
// go next and what to tell the operator.
type actionFunc func(ctx context.Context, c *adminclient.Client, r *http.Request, sessionID string) (redirect string, done string, err error)

// action checks the session and the form's CSRF token, runs f, and
// redirects with its outcome in the session's flash (POST, redirect,
// GET: a reload does not repeat the action). A read token's action is
// passed on all the same: the admin API refuses it and its message is
// shown, so the console decides nothing the API does not.
func (h *handler) action(f actionFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, s := h.session(r)
		if s == nil {
			h.renderLogin(w, r, http.StatusUnauthorized, "Your session has ended; log in again.")
			return
		}
		if err := r.ParseForm(); err != nil {
			h.renderStatus(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return
		}
		if subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(s.csrf)) != 1 {
			h.renderStatus(w, r, http.StatusForbidden, "Form refused",
				"The form did not carry this session's security token (it may come from another site, or an old page). Reload the page and try again.")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
		defer cancel()
		next, done, err := f(ctx, h.api(s.token), r, id)
		if billsync.ErrorCode(err) == billsync.EUNAUTHORIZED {
			h.drop(id)
			h.renderLogin(w, r, http.StatusUnauthorized, "The admin API no longer accepts this token; log in again.")
			return
		}
		switch {
		case err != nil:
			h.setFlash(id, &flash{Error: true, Text: errorText(err)})
		case done != "":
			h.setFlash(id, &flash{Text: done})
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

// errorText is what an operator reads of an admin API error: its
// message, which the API writes for people.
func errorText(err error) string {
	if m := billsync.ErrorMessage(err); m != "" {
		return m
	}
	return err.Error()
}

// session returns the request's live session and its id, or nil.
func (h *handler) session(r *http.Request) (string, *session) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return "", nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[c.Value]
	if s == nil {
		return "", nil
	}
	if !h.now().Before(s.expires) {
		delete(h.sessions, c.Value)
		return "", nil
	}
	cp := *s
	return c.Value, &cp
}

func (h *handler) drop(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.sessions, id)
}

func (h *handler) setFlash(id string, f *flash) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.sessions[id]; s != nil {
		s.flash = f
	}
}

// takeSession returns the session's CSRF token, role and flash, and
// clears the flash: it is shown once.
func (h *handler) takeSession(id string) (csrf string, admin, ok bool, f *flash) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.sessions[id]
	if s == nil {
		return "", false, false, nil
	}
	f, s.flash = s.flash, nil
	return s.csrf, s.admin, true, f
}

// newSession stores a session for token and returns its id.
func (h *handler) newSession(token string, admin bool) (string, *session) {
	now := h.now()
	s := &session{token: token, admin: admin, csrf: randomID(), expires: now.Add(h.ttl)}
	id := randomID()
	h.mu.Lock()
	defer h.mu.Unlock()
	// Expired sessions are dropped at each login, so the map stays as
	// small as the live sessions.
	for k, old := range h.sessions {
		if !now.Before(old.expires) {
			delete(h.sessions, k)
		}
	}
	h.sessions[id] = s
	return id, s
}

// randomID is 256 bits from crypto/rand: a session id or CSRF token
// nobody can guess.
func randomID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// secureRequest says whether the browser reached billsync over TLS: its
// own, or a proxy's that says so. A client that claims https falsely only
// gets a cookie it will not send back over plain HTTP.
func (h *handler) secureRequest(r *http.Request) bool {
	return h.secure || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (h *handler) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: h.secureRequest(r)})
}

// loginPage shows the login form, or the overview to a logged-in session.
func (h *handler) loginPage(w http.ResponseWriter, r *http.Request) {
	if _, s := h.session(r); s != nil {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	h.renderLogin(w, r, http.StatusOK, "")
}

func (h *handler) renderLogin(w http.ResponseWriter, r *http.Request, status int, msg string) {
	tok := randomID()
	h.setCookie(w, r, loginCookie, tok, "/console/login", 3600)
	v := view{Title: "Log in", CSRF: tok}
	if msg != "" {
		v.Flash = &flash{Error: true, Text: msg}
	}
	h.render(w, r, status, "login", v, "")
}

// login checks the token against the admin API and exchanges it for a
// session cookie.
func (h *handler) login(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.renderLogin(w, r, http.StatusBadRequest, "The form could not be read.")
		return
	}
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || subtle.ConstantTimeCompare([]byte(r.PostForm.Get("csrf")), []byte(c.Value)) != 1 {
		h.renderLogin(w, r, http.StatusForbidden, "The login form had expired or came from another site; try again.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		h.renderLogin(w, r, http.StatusBadRequest, "Enter an admin or read token.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), apiTimeout)
	defer cancel()
	api := h.api(token)
	if _, err := api.Settings(ctx); err != nil {
		if billsync.ErrorCode(err) == billsync.EUNAUTHORIZED {
			h.renderLogin(w, r, http.StatusUnauthorized, "billsync does not accept that token (see adminTokens and readTokens in the configuration, or BILLSYNC_ADMIN_TOKENS and BILLSYNC_READ_TOKENS).")
			return
		}
		h.log.Warn("console login: the admin API did not answer", "err", err)
		h.renderLogin(w, r, http.StatusBadGateway, "The admin API did not answer: "+errorText(err))
		return
	}
	admin, err := probeAdmin(ctx, api)
	if err != nil {
		h.renderLogin(w, r, http.StatusBadGateway, "The admin API did not answer: "+errorText(err))
		return
	}
	id, _ := h.newSession(token, admin)
	h.setCookie(w, r, loginCookie, "", "/console/login", -1)
	h.setCookie(w, r, sessionCookie, id, "/", int(h.ttl/time.Second))
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// probeAdmin finds whether the token may change things, without changing
// anything: it asks to retry a dead letter id none has, which the API
// answers an admin token "not found" (a list is retried all or none) and
// a read token "forbidden". The answer only decides which
// controls are shown; the API still checks every action.
func probeAdmin(ctx context.Context, api *adminclient.Client) (bool, error) {
	_, err := api.RetryDeadLetters(ctx, adminclient.DeadLetterSelection{IDs: []int64{probeID}})
	switch billsync.ErrorCode(err) {
	case billsync.EFORBIDDEN:
		return false, nil
	case billsync.ENOTFOUND, "":
		return true, nil
	}
	return false, err
}

// probeID is an id no dead letter has (ids count up from 1).
const probeID = 1<<63 - 1

func (h *handler) logout(ctx context.Context, c *adminclient.Client, r *http.Request, id string) (string, string, error) {
	h.drop(id)
	return "/console/login", "", nil
}

// render executes page name. A sessionID fills in the CSRF token, role
// and flash.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, name string, v view, sessionID string) {
	if sessionID != "" {
		csrf, admin, ok, f := h.takeSession(sessionID)
		if ok {
			v.CSRF, v.Admin, v.LoggedIn, v.Flash = csrf, admin, true, f
		}
	}
	t := h.pages[name]
	if t == nil {
		h.log.Error("console: no template", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", v); err != nil {
		h.log.Error("console: rendering a page failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

type message struct {
	Heading string
	Text    string
}

func (h *handler) renderStatus(w http.ResponseWriter, r *http.Request, status int, heading, text string) {
	id, _ := h.session(r)
	h.render(w, r, status, "message", view{Title: heading, Data: message{Heading: heading, Text: text}}, id)
}
