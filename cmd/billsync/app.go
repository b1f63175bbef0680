package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/alert"
	"github.com/billsync/billsync/binding"
	"github.com/billsync/billsync/config"
	"github.com/billsync/billsync/console"
	"github.com/billsync/billsync/engine"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/pgstore"
	"github.com/billsync/billsync/quotesync"
	"github.com/billsync/billsync/retention"
	"github.com/billsync/billsync/runner"
	"github.com/billsync/billsync/salesforce/batch"
	"github.com/billsync/billsync/salesforce/bulk"
	"github.com/billsync/billsync/salesforce/cometd"
	"github.com/billsync/billsync/salesforce/pubsub"
	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/sqlitestore"
	"github.com/billsync/billsync/status"
	"go.yaml.in/yaml/v4"
)

// App is billsync wired together: store, clients, engine, runner, stream
// listener and HTTP server. `serve` and `sandbox` run it; end-to-end tests
// start it in-process.
type App struct {
	URL string // http://addr billsync listens on

	cfg      Config
	log      *slog.Logger
	store    billsync.Store
	engine   *engine.Engine
	runner   *runner.Runner
	listener *runner.Listener
	crm      *batch.Batcher
	sub      *cometd.Subscriber // with salesforce.stream cometd
	pubsub   *pubsub.Client     // with salesforce.stream pubsub
	status   *status.Sampler
	alerts   *alert.Evaluator
	// alertLeader picks the replica that sends the shared alerts.
	alertLeader *alert.Leader
	server      *http.Server

	quoteSource *quoteSource // billing.quotes

	cancel context.CancelFunc
	wg     sync.WaitGroup
	errc   chan error
}

// StartApp opens the store, checks the org and tenant binding, and starts
// every loop. It returns once billsync is listening.
func StartApp(ctx context.Context, cfg Config, log *slog.Logger) (*App, error) {
	withStoredWebhookSecret(&cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := mapping.Default()
	if cfg.Mapping != "" {
		var err error
		if m, err = mapping.Load(cfg.Mapping); err != nil {
			return nil, err
		}
	}
	// The store, and with it every record's data, lives here: this user's
	// alone.
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	store, err := openStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	a := &App{cfg: cfg, log: log, store: store, errc: make(chan error, 4)}
	if err := a.start(ctx, m); err != nil {
		if a.pubsub != nil {
			a.pubsub.Close()
		}
		store.Close()
		return nil, err
	}
	return a, nil
}

func (a *App) start(ctx context.Context, m *mapping.Mapping) error {
	cfg, log := a.cfg, a.log
	if err := a.store.SeedSettings(ctx, cfg.SeedSettings(), "config"); err != nil {
		return fmt.Errorf("seeding settings: %w", err)
	}
	sf, err := salesforceClient(cfg.Salesforce, log)
	if err != nil {
		return err
	}
	adapter, err := billsync.OpenBillingPlatform(cfg.Billing.Platform, billsync.BillingOptions{URL: cfg.Billing.URL,
		Token: cfg.Billing.Token, WebhookSecret: cfg.Billing.WebhookSecret, Options: cfg.Billing.Options})
	if err != nil {
		return err
	}
	// billing.quotes: a second platform as the quote source (quotesource.go).
	qs, err := openQuoteSource(cfg.Billing, adapter)
	if err != nil {
		return err
	}
	a.quoteSource = qs
	bill, webhooks := adapter.Billing, qs.webhooks(log)
	if err := binding.Bind(ctx, a.store, sf, bill, cfg.Rebind, log); err != nil {
		return err
	}
	if err := qs.bind(ctx, a.store, sf, cfg.Rebind, log); err != nil {
		return err
	}

	// Metrics first: the engine reports to them, the server serves them.
	metrics, err := httpserver.NewMetrics(httpserver.MetricsConfig{Gauges: a.store, APIUsage: sf.Limits, Logger: log})
	if err != nil {
		return err
	}
	// Writes and reads of many partitions share sObject Collections calls;
	// a batch goes early only when the runner has nothing more on its way.
	var run atomic.Pointer[runner.Runner]
	// A backlog's level waits for its ingest job: polls back off from
	// 200 ms to 2 s, not to the client's 10 s.
	bc := bulk.New(sf, bulk.Options{Threshold: cfg.Salesforce.BulkThreshold, PollMin: 200 * time.Millisecond, PollMax: 2 * time.Second})
	crm := batch.New(sf, batch.Options{MaxWait: cfg.BatchWait, Logger: log, Idle: func() bool {
		r := run.Load()
		return r == nil || r.Idle()
	}, BulkOptions: bulkIngest(cfg, bc, &run)})
	a.crm = crm
	quotes, err := quotesync.New(quotesync.Config{CRM: crm, State: a.store, Billing: qs.forQuotes(), Mapping: m.Quote(), Logger: log})
	if err != nil {
		return err
	}
	if err := quotes.Warm(ctx); err != nil {
		log.Warn("quote sync: describes not cached at start; the first quote reads them", "err", err)
	}
	// Built in dependency order; the wake signal comes first, so whatever
	// enqueues work can wake the runner built after it.
	wake := runner.NewSignal()
	eng, err := engine.New(engine.Config{
		Settings: a.store, State: a.store, Conflicts: a.store, Queue: a.store, Held: a.store, CRM: bulk.NewCRM(crm, bc), Billing: qs.forEngine(), Mapping: m,
		Quotes: quotes, Observer: metrics, Logger: log, OnEnqueue: wake.Wake,
		// Without the trigger nothing in Salesforce keeps revisions.
		Unguarded: cfg.Salesforce.ChangeSource == config.ChangeSourceCDC,
	})
	if err != nil {
		return err
	}
	a.engine = eng
	a.runner = runner.New(runner.Config{Processor: eng, Queue: a.store, Workers: cfg.Workers, BulkWorkers: bulkWorkers(cfg), RunLength: cfg.RunLength,
		Join: crm.Join, KeepSalesforceChanges: cfg.Salesforce.ChangeSource == config.ChangeSourceCDC, Poll: cfg.Poll, Lease: cfg.ClaimLease, Budget: sf.Limits, BudgetShare: cfg.APIBudgetShare, Wake: wake,
		Quiet: cfg.BatchWait, Logger: log})
	run.Store(a.runner)
	source, cdc, err := a.listenTo(ctx, sf, eng)
	if err != nil {
		return err
	}
	a.listener = runner.NewListener(runner.ListenerConfig{
		Source: source, Queue: a.store, State: a.store, Log: a.store, Meta: a.store, Mapping: m, CDC: cdc,
		OnEnqueue: wake.Wake, Logger: log,
		Leases: a.store, Owner: replicaName(), LeaseTTL: cfg.SubscriptionLease,
		OnGap: func(ctx context.Context) {
			// Events may have been lost: compare everything.
			if _, err := eng.StartResync(ctx, billsync.ResyncRequest{}); err != nil {
				log.Error("starting the resync after a replay gap", "err", err)
			}
		},
	})
	metrics.ReadStreamFrom(a.streamReading)
	if err := a.observe(sf, bill, metrics); err != nil {
		return err
	}
	// The console acts through this server's own admin API, whose address
	// is known once it listens (set below, before it serves).
	var selfURL string
	con, err := console.New(console.Config{Logger: log,
		API: func(token string) *adminclient.Client { return adminclient.New(selfURL, token, nil) }})
	if err != nil {
		return err
	}
	srv, err := httpserver.New(httpserver.Config{Console: con,
		Webhooks: webhooks, WebhookPath: cfg.Billing.WebhookPath(), WebhookToken: cfg.Billing.WebhookToken(), QuoteWebhooks: qs.route(), Queue: a.store,
		Settings: a.store, Logs: a.store, DeadLetters: a.store, Conflicts: a.store, Held: a.store,
		AdminTokens: byToken(cfg.AdminTokens), ReadTokens: byToken(cfg.ReadTokens),
		Resolver: eng, Resyncer: eng, Status: a.status, Mapping: mappingView(m, cfg.Mapping), Metrics: metrics, Alerts: a.alertStatuses, Profiling: cfg.Profiling, Logger: log,
		// Readiness and the stream metrics read the same state.
		Ready:      func(context.Context) error { return a.listener.Err() },
		OnEnqueue:  wake.Wake,
		OnSettings: eng.InvalidateSettings,
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	a.URL = "http://" + ln.Addr().String()
	selfURL = console.LocalURL(ln.Addr())
	a.server = srv.HTTPServer(cfg.Addr)

	a.launch(ctx, ln, bill, wake)
	return a.resyncAfterRestore(ctx)
}

// mappingView is the mapping in force as the admin API shows it: in the
// mapping file's format, so what the console shows can be copied into a
// mapping file and edited.
func mappingView(m *mapping.Mapping, file string) *billsync.MappingView {
	v := &billsync.MappingView{Source: cmp.Or(file, "built-in")}
	if y, err := yaml.Marshal(m); err == nil {
		v.YAML = string(y)
	} else {
		v.YAML = "# the mapping could not be shown: " + err.Error()
	}
	return v
}

// salesforceClient is the REST client salesforce.* describes.
func salesforceClient(cfg config.SalesforceConfig, log *slog.Logger) (*rest.Client, error) {
	var key []byte
	if cfg.PrivateKeyFile != "" {
		var err error
		if key, err = os.ReadFile(cfg.PrivateKeyFile); err != nil {
			return nil, fmt.Errorf("salesforce.privateKeyFile: %w", err)
		}
	}
	return rest.New(rest.Config{
		LoginURL: cfg.LoginURL, Grant: cfg.Grant,
		ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		Username: cfg.Username, Password: cfg.Password,
		PrivateKeyPEM: key, APIVersion: cfg.APIVersion, Logger: log,
	})
}

// observe builds what watches billsync from outside the sync: the status
// sampler behind the console's overview and the alert rules.
func (a *App) observe(sf *rest.Client, bill billsync.Billing, metrics *httpserver.Metrics) error {
	a.status = status.New(status.Config{Queue: a.store, Stream: a.streamStatus, API: sf.Limits, Synced: metrics.Synced,
		Billing:         func(ctx context.Context) error { _, err := bill.Tenant(ctx); return err },
		BillingPlatform: cmp.Or(a.cfg.Billing.Platform, billsync.PlatformContract),
		Quotes:          a.quoteSource.check(), QuotesPlatform: a.cfg.Billing.Quotes.Platform,
		SalesforceURL: func(ctx context.Context) string {
			u, _, err := sf.Session(ctx)
			if err != nil {
				return ""
			}
			return u
		},
		BillingRecordURL: a.cfg.Billing.RecordURL, Logger: a.log})
	// The lease outlives a few evaluations, so a replica that stopped is
	// replaced within about three of them.
	a.alertLeader = alert.NewLeader(a.store, "alerts", replicaName(), max(3*a.cfg.Alerts.Interval, 15*time.Second), a.log)
	var err error
	a.alerts, err = newAlerts(a.cfg.Alerts, a.store, a.listener.Err, sf.Limits, a.alertLeader, a.log)
	return err
}

// eventSource is the transport salesforce.stream names. Either reports
// its connection's health to the listener (runner.SourceHealth), which
// readiness and the stream metrics read.
func (a *App) eventSource(ctx context.Context, sf *rest.Client) (billsync.ChangeSource, error) {
	cfg := a.cfg.Salesforce
	if cfg.Stream == config.StreamCometD {
		a.sub = cometd.New(cometd.Config{Session: sf, APIVersion: cfg.APIVersion, Logger: a.log})
		return a.sub, nil
	}
	// Pub/Sub wants the org id beside the token on every call.
	_, orgID, err := sf.Identity(ctx)
	if err != nil {
		return nil, fmt.Errorf("salesforce: reading the org id for the Pub/Sub API: %w", err)
	}
	pc := pubsub.Config{Addr: cfg.PubSubAddr, Session: sf, TenantID: orgID, Logger: a.log}
	if cfg.PubSubInsecure {
		pc.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	if a.pubsub, err = pubsub.New(pc); err != nil {
		return nil, fmt.Errorf("salesforce.pubsubAddr: %w", err)
	}
	return a.pubsub, nil
}

// launch starts what runs until Close: the HTTP server on ln, the sync
// runner, the event listener, log pruning, and the billing poll for a
// platform that needs one.
func (a *App) launch(ctx context.Context, ln net.Listener, bill billsync.Billing, wake *runner.Signal) {
	cfg, log := a.cfg, a.log
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel
	a.goRun("http server", func() error {
		if err := a.server.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	a.goRun("sync runner", func() error { return a.runner.Run(runCtx) })
	a.goRun("event listener", func() error { return a.listener.Run(runCtx) })
	a.alertLeader.Renew(runCtx)
	a.goRun("alerts sender lease", func() error { return a.alertLeader.Run(runCtx) })
	a.goRun("alerts", func() error { return a.alerts.Run(runCtx) })
	a.goRun("log pruning", func() error { return retention.Prune(runCtx, a.store, cfg.LogRetention, log) })
	a.goRun("status sampling", func() error { return a.status.Run(runCtx) })
	if src, ok := bill.(billsync.BillingPoller); ok {
		p := runner.NewPoller(runner.PollerConfig{Source: src, Queue: a.store, Meta: a.store, OnEnqueue: wake.Wake,
			Interval: cfg.Billing.PollInterval, Leases: a.store, Owner: replicaName(), Logger: log})
		a.goRun("billing poll", func() error { return p.Run(runCtx) })
	}
	a.quoteSource.launch(runCtx, a, wake)
}

// resyncAfterRestore starts the resync billsync restore asked for: billing
// webhooks accepted after the backup are in no store, and only comparing
// both sides finds what they carried.
func (a *App) resyncAfterRestore(ctx context.Context) error {
	since, ok, err := a.store.Meta(ctx, billsync.MetaRestored)
	if err != nil || !ok || since == "" {
		return err
	}
	rep, err := a.engine.StartResync(ctx, billsync.ResyncRequest{})
	if err != nil {
		return fmt.Errorf("starting the resync after the restore of %s: %w", since, err)
	}
	if err := a.store.SetMeta(ctx, billsync.MetaRestoreResync, rep.ID); err != nil {
		return err
	}
	a.log.Info("the store was restored from a backup: resyncing to repair what changed after it (billsync resync --follow ID)", "restored", since, "resync", rep.ID)
	return a.store.SetMeta(ctx, billsync.MetaRestored, "")
}

// streamReading is the listener's state as the metrics report it.
func (a *App) streamReading() httpserver.StreamReading {
	st := a.listener.Status()
	return httpserver.StreamReading{Connected: st.Connected, Standby: st.Standby, Lag: st.Lag}
}

// streamStatus is the listener's state as the console's overview shows it.
func (a *App) streamStatus() billsync.StreamStatus {
	st := a.listener.Status()
	out := billsync.StreamStatus{Connected: st.Connected, Standby: st.Standby, LagSeconds: st.Lag.Seconds()}
	if st.Err != nil {
		out.Error = st.Err.Error()
	}
	return out
}

// byToken turns the config's name → token map around.
func byToken(byName map[string]string) map[string]string {
	m := make(map[string]string, len(byName))
	for name, tok := range byName {
		m[tok] = name
	}
	return m
}

func (a *App) goRun(name string, f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil && !errors.Is(err, context.Canceled) {
			a.log.Error(name+" stopped", "err", err)
			select {
			case a.errc <- fmt.Errorf("%s: %w", name, err):
			default:
			}
		}
	}()
}

// openStore opens PostgreSQL when cfg.Database is set, else the embedded
// SQLite store under cfg.Data.
func openStore(ctx context.Context, cfg Config, log *slog.Logger) (billsync.Store, error) {
	if cfg.Database != "" {
		return pgstore.Open(ctx, cfg.Database, pgstore.Options{Logger: log})
	}
	store, err := sqlitestore.Open(ctx, cfg.StorePath(), sqlitestore.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	// A SQLite store belongs to this process alone: what a crashed run
	// had claimed can be taken back at once.
	if n, err := store.ReleaseLeases(ctx); err != nil {
		store.Close()
		return nil, err
	} else if n > 0 {
		log.Warn("resuming changes a previous run had claimed but not finished", "changes", n)
	}
	return store, nil
}

// replicaName names this process for leases: host, pid and a random
// suffix, so a restarted process never mistakes an old lease for its own.
func replicaName() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%x", host, os.Getpid(), b)
}

// Err delivers the first fatal error of a background loop.
func (a *App) Err() <-chan error { return a.errc }

// Close stops accepting webhooks, lets in-flight changes finish, and
// closes the store.
func (a *App) Close() error {
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := a.server.Shutdown(sctx)
	a.cancel()
	a.wg.Wait()
	if a.pubsub != nil {
		err = errors.Join(err, a.pubsub.Close())
	}
	return errors.Join(err, a.store.Close())
}

// bulkIngest is the batcher's Bulk API 2.0 path: a backlog's writes of
// at least salesforce.bulkIngestThreshold records of one object go as
// one ingest job (none when it is negative).
func bulkIngest(cfg Config, bc *bulk.Client, run *atomic.Pointer[runner.Runner]) batch.BulkOptions {
	if cfg.Salesforce.BulkIngestThreshold < 0 {
		return batch.BulkOptions{}
	}
	return batch.BulkOptions{Bulk: bc, BulkThreshold: cfg.Salesforce.BulkIngestThreshold, Wide: func() bool {
		r := run.Load()
		return r != nil && r.Wide()
	}}
}

// bulkWorkers is the runner's width for a backlog: bulkWorkers, or no
// wider than workers when bulk ingest is off.
func bulkWorkers(cfg Config) int {
	if cfg.Salesforce.BulkIngestThreshold < 0 {
		return 0
	}
	return cfg.BulkWorkers
}
