package httpserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/alert"
)

// WebhookDecoder verifies and decodes billing webhooks. The server knows
// neither the signature scheme nor the body format: each billing adapter
// brings its own (billingapi.Webhooks for the contract of SPEC §5.2). The
// server calls Verify first and Decode only on a body Verify accepted.
type WebhookDecoder interface {
	// Verify checks the request's signature and returns its webhook id,
	// the idempotency key. An EUNAVAILABLE error answers 503 (try again);
	// any other answers 401, with the message of an EUNAUTHORIZED or
	// EINVALID *billsync.Error and a generic one otherwise.
	Verify(h http.Header, body []byte) (webhookID string, err error)
	// Decode turns a verified body into the changes to enqueue (none: an
	// event billsync has no use for, answered 200); their EventIDs must
	// derive from webhookID, so a redelivery is stored once. A failure
	// answers 400 with its message, which is written for the sender.
	Decode(webhookID string, body []byte, now time.Time) ([]*billsync.Change, error)
}

// WebhookRoute is a token-guarded webhook path and the decoder of what
// arrives there.
type WebhookRoute struct {
	Path, Token string
	Webhooks    WebhookDecoder
}

// Enqueuer stores the changes webhooks bring, durably, once per EventID
// (billsync.Queue.Enqueue).
type Enqueuer interface {
	Enqueue(ctx context.Context, changes ...*billsync.Change) (dup []bool, err error)
}

// SettingsStore is what the settings routes use of billsync.SettingsStore.
type SettingsStore interface {
	Settings(ctx context.Context) ([]billsync.Setting, error)
	SetSetting(ctx context.Context, key string, value json.RawMessage, actor string) (billsync.Setting, error)
	Audit(ctx context.Context, limit int) ([]billsync.AuditEntry, error)
}

// SyncLog is what the server uses of billsync.LogStore: the sync-log
// route reads it, and a signed webhook refused as invalid is recorded in
// it (outcome rejected), so the operator sees the billing platform's bad
// event among the other outcomes.
type SyncLog interface {
	Logs(ctx context.Context, f billsync.LogFilter) (entries []billsync.LogEntry, nextCursor string, err error)
	AppendLog(ctx context.Context, entries ...billsync.LogEntry) error
}

// DeadLetterStore is what the dead-letter and queue routes use of
// billsync.Queue.
type DeadLetterStore interface {
	DeadLetters(ctx context.Context, limit int) ([]billsync.DeadLetter, error)
	Resurrect(ctx context.Context, ids ...int64) error
	Discard(ctx context.Context, actor string, ids ...int64) error
	Stats(ctx context.Context) (billsync.QueueStats, error)
}

// ConflictReader is what the conflict routes read of
// billsync.ConflictStore; resolving goes through Config.Resolver.
type ConflictReader interface {
	Conflicts(ctx context.Context, f billsync.ConflictFilter) ([]billsync.Conflict, string, error)
	Conflict(ctx context.Context, id int64) (*billsync.Conflict, error)
}

// Config wires a Server. Each route group takes only the part of the
// store it uses, so a front end that only takes webhooks needs no more
// than a queue; every store field is required all the same.
type Config struct {
	// Webhooks verifies and decodes billing webhooks; Queue stores the
	// changes they bring.
	Webhooks WebhookDecoder
	// WebhookPath is where billing webhooks arrive besides
	// /webhooks/billing (Stripe's: /webhooks/stripe); "" is that alone.
	WebhookPath string
	// WebhookToken, when set, is a secret last segment of WebhookPath's
	// URL (WebhookPath/<token>), for a platform whose webhooks carry no
	// signature billsync can check (m3ter): a request without it is not
	// found, and the token never appears in a log line.
	WebhookToken string
	// QuoteWebhooks, when set, is a second platform's webhook route: the
	// quote source beside the billing platform (billing.quotes), whose
	// unsigned deliveries arrive at Path/<Token>.
	QuoteWebhooks *WebhookRoute
	Queue         Enqueuer

	// The admin API's stores.
	Settings    SettingsStore
	Logs        SyncLog
	DeadLetters DeadLetterStore
	Conflicts   ConflictReader

	// AdminTokens maps each admin token to its name; the audit trail
	// records the name, never the token. An admin token may use every
	// route of the admin API.
	AdminTokens map[string]string
	// ReadTokens maps each read-only token to its name. A read token may
	// use the routes that change nothing (GET); every other route answers
	// it 403. A token may not be in both maps.
	ReadTokens map[string]string
	// Ready reports whether billsync can do its work (nil error = ready),
	// e.g. whether the event subscription is up (G4). Nil means always
	// ready. An errors.Join of several errors is reported as several reasons.
	Ready func(ctx context.Context) error
	// Resolver applies operators' decisions on held conflicts and Resyncer
	// runs resyncs (the engine implements both); nil answers their routes
	// 503 (a server without an engine).
	Resolver billsync.ConflictResolver
	Resyncer billsync.Resyncer
	// Held lists and decides the runs the mass-change guard held; nil
	// answers its routes 503.
	Held HeldRuns
	// Status reports health and recent activity (GET /api/v1/status, the
	// console's overview); nil answers its route 503.
	Status billsync.StatusReader
	// Mapping is the mapping in force (GET /api/v1/mapping); nil answers
	// that route 503.
	Mapping *billsync.MappingView
	// Alerts, when set, is every alert rule's standing now
	// (alert.Evaluator.Statuses), served at /api/v1/alerts; nil answers
	// that route 503.
	Alerts func() []alert.Status
	// OnEnqueue wakes the workers after new work was stored.
	OnEnqueue func()
	// OnSettings is called after a setting changed, so that cached
	// settings are dropped and the change applies to the next change.
	OnSettings func()
	// Metrics is served at /metrics and counts webhooks and requests. It
	// is built first (NewMetrics), so that the engine can report to it
	// before the server exists; nil makes metrics of the server's own,
	// without the queue and conflict gauges (there is nothing to read
	// them from).
	Metrics *Metrics
	// Profiling serves Go's runtime profiles under /debug/pprof/ (go tool
	// pprof reads them), to admin tokens only: a profile shows the
	// program's internals and a CPU profile costs CPU while it runs. Off
	// unless set.
	Profiling bool
	// Console, when set, serves "/" and every path no route above takes
	// (the web console, package console). It is outside the admin API's
	// token check: it has its own login, and acts through the API.
	Console http.Handler
	Logger  *slog.Logger
	Clock   func() time.Time
}

// checkRequired refuses a Config missing a part the routes need, rather
// than answer a request with a nil dereference later.
func checkRequired(cfg Config) error {
	if cfg.Webhooks == nil {
		return billsync.Errorf(billsync.EINVALID, "httpserver: Webhooks is required (webhooks are never accepted unsigned)")
	}
	for _, f := range []struct {
		name    string
		missing bool
	}{
		{"Queue", cfg.Queue == nil},
		{"Settings", cfg.Settings == nil},
		{"Logs", cfg.Logs == nil},
		{"DeadLetters", cfg.DeadLetters == nil},
		{"Conflicts", cfg.Conflicts == nil},
	} {
		if f.missing {
			return billsync.Errorf(billsync.EINVALID, "httpserver: %s is required", f.name)
		}
	}
	return nil
}
