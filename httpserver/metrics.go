package httpserver

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/billsync/billsync"
)

const namespace = "billsync"

// Metrics holds billsync's Prometheus metrics (G4) and the registry they
// are served from. The engine and the event subscriber update them through
// its methods; a nil *Metrics ignores every update, so code under test
// needs none.
//
// Labels are low-cardinality only (direction, object, outcome, result,
// route): never a record id.
type Metrics struct {
	registry      *prometheus.Registry
	log           *slog.Logger
	syncAttempts  *prometheus.CounterVec
	syncLatency   *prometheus.HistogramVec
	webhooks      *prometheus.CounterVec
	httpRequests  *prometheus.CounterVec
	streamUp      prometheus.Gauge
	streamStandby prometheus.Gauge
	streamLag     prometheus.Gauge
	stream        atomic.Pointer[func() StreamReading]
	apiUsed       prometheus.Gauge
	apiMax        prometheus.Gauge
	apiShare      prometheus.Gauge
	synced        atomic.Int64 // successful sync outcomes, for Synced
}

// QueueGauges is what the metrics read from the store at scrape time: the
// queue's state and the held conflicts (billsync.Store has both).
type QueueGauges interface {
	Stats(ctx context.Context) (billsync.QueueStats, error)
	CountHeld(ctx context.Context) (int64, error)
}

// MetricsConfig wires Metrics.
type MetricsConfig struct {
	// Registry receives the metrics; nil creates one with the Go and
	// process collectors.
	Registry *prometheus.Registry
	// Gauges is read at every scrape; nil leaves the queue and conflict
	// gauges out.
	Gauges QueueGauges
	// APIUsage, when set, is read at every scrape for the Salesforce API
	// budget gauges (the REST client's Limits); ok false leaves them as
	// they were.
	APIUsage func() (used, max int, ok bool)
	Logger   *slog.Logger
	Clock    func() time.Time
}

// NewMetrics registers billsync's metrics. It needs no server, so the
// engine, which reports to them, can be built before the server that
// serves them.
func NewMetrics(cfg MetricsConfig) (*Metrics, error) {
	reg, log, now := cfg.Registry, cfg.Logger, cfg.Clock
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
		if err := reg.Register(collectors.NewGoCollector()); err != nil {
			return nil, billsync.Errorf(billsync.EINTERNAL, "httpserver: register Go collector: %v", err)
		}
		if err := reg.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
			return nil, billsync.Errorf(billsync.EINTERNAL, "httpserver: register process collector: %v", err)
		}
	}
	m := newMetricSet()
	m.registry, m.log = reg, log
	cs := []prometheus.Collector{
		m.syncAttempts, m.syncLatency, m.webhooks, m.httpRequests,
		streamCollector{m}, apiCollector{m, cfg.APIUsage},
	}
	if cfg.Gauges != nil {
		cs = append(cs, &storeCollector{store: cfg.Gauges, now: now, log: log})
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, billsync.Errorf(billsync.EINTERNAL, "httpserver: register metric: %v", err)
		}
	}
	return m, nil
}

func newMetricSet() *Metrics {
	return &Metrics{
		syncAttempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "sync_attempts_total",
			Help: "Sync attempts by direction, object and outcome (one per sync-log entry).",
		}, []string{"direction", "object", "outcome"}),
		syncLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "sync_duration_seconds",
			Help:    "Time to apply one change to the other side.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"direction", "object"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "webhooks_received_total",
			Help: "Billing webhooks received, by result (accepted, duplicate, unauthorized, invalid, too_large, unavailable).",
		}, []string{"result"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "http_requests_total",
			Help: "HTTP requests served, by route pattern and status code.",
		}, []string{"route", "code"}),
		streamUp: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "event_stream_connected",
			Help: "1 while this replica's Salesforce event subscription is connected, else 0; /readyz answers 503 exactly while neither this nor billsync_event_stream_standby is 1.",
		}),
		streamStandby: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "event_stream_standby",
			Help: "1 while another replica holds the Salesforce event subscription and this one stands by, else 0.",
		}),
		streamLag: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "event_stream_lag_seconds",
			Help: "Age of the newest Salesforce event received when it was received.",
		}),
		apiUsed: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "salesforce_api_requests_used",
			Help: "Salesforce API requests used in the org's current 24-hour window.",
		}),
		apiMax: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "salesforce_api_requests_limit",
			Help: "The org's Salesforce API request limit per 24 hours.",
		}),
		apiShare: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "salesforce_api_usage_ratio",
			Help: "Share of the Salesforce API budget used (0 to 1).",
		}),
	}
}

// Registry is the registry /metrics serves; nil for a nil *Metrics.
func (m *Metrics) Registry() *prometheus.Registry {
	if m == nil {
		return nil
	}
	return m.registry
}

// ObserveSync counts one sync attempt and its latency.
func (m *Metrics) ObserveSync(direction, object, outcome string, latency time.Duration) {
	if m == nil {
		return
	}
	m.syncAttempts.WithLabelValues(direction, object, outcome).Inc()
	if outcome == string(billsync.OutcomeSuccess) {
		m.synced.Add(1)
	}
	if latency > 0 {
		m.syncLatency.WithLabelValues(direction, object).Observe(latency.Seconds())
	}
}

// Synced is how many sync attempts succeeded since start (the console's
// throughput).
func (m *Metrics) Synced() int64 {
	if m == nil {
		return 0
	}
	return m.synced.Load()
}

// ObserveLog counts sync-log entries as attempts.
func (m *Metrics) ObserveLog(entries ...billsync.LogEntry) {
	for _, e := range entries {
		m.ObserveSync(string(e.Direction), string(e.Object), string(e.Outcome), e.Latency)
	}
}

// StreamReading is the event subscription's state at one moment.
type StreamReading struct {
	Connected bool          // this replica's subscription is connected
	Standby   bool          // another replica holds the subscription
	Lag       time.Duration // publish-to-queue delay of the last event
}

// ReadStreamFrom makes every scrape read the event subscription's state
// from f, the function readiness is derived from too, so that
// billsync_event_stream_connected and /readyz never disagree and neither
// lags behind the other.
func (m *Metrics) ReadStreamFrom(f func() StreamReading) {
	if m == nil || f == nil {
		return
	}
	m.stream.Store(&f)
}

// SetStreamState records whether the event subscription is connected and
// how far behind it is, for a server without ReadStreamFrom.
func (m *Metrics) SetStreamState(connected bool, lagSeconds float64) {
	if m == nil {
		return
	}
	m.setStream(StreamReading{Connected: connected, Lag: time.Duration(lagSeconds * float64(time.Second))})
}

func (m *Metrics) setStream(r StreamReading) {
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	m.streamUp.Set(b(r.Connected))
	m.streamStandby.Set(b(r.Standby))
	m.streamLag.Set(r.Lag.Seconds())
}

// apiCollector serves the API budget gauges, read afresh from usage (when
// set) at each scrape.
type apiCollector struct {
	m     *Metrics
	usage func() (used, max int, ok bool)
}

func (c apiCollector) Describe(ch chan<- *prometheus.Desc) {
	c.m.apiUsed.Describe(ch)
	c.m.apiMax.Describe(ch)
	c.m.apiShare.Describe(ch)
}

func (c apiCollector) Collect(ch chan<- prometheus.Metric) {
	if c.usage != nil {
		if used, max, ok := c.usage(); ok {
			c.m.SetAPIUsage(used, max)
		}
	}
	c.m.apiUsed.Collect(ch)
	c.m.apiMax.Collect(ch)
	c.m.apiShare.Collect(ch)
}

// streamCollector serves the stream gauges, read afresh from the source
// given to ReadStreamFrom at each scrape.
type streamCollector struct{ m *Metrics }

func (c streamCollector) Describe(ch chan<- *prometheus.Desc) {
	c.m.streamUp.Describe(ch)
	c.m.streamStandby.Describe(ch)
	c.m.streamLag.Describe(ch)
}

func (c streamCollector) Collect(ch chan<- prometheus.Metric) {
	if f := c.m.stream.Load(); f != nil {
		c.m.setStream((*f)())
	}
	c.m.streamUp.Collect(ch)
	c.m.streamStandby.Collect(ch)
	c.m.streamLag.Collect(ch)
}

// SetAPIUsage records the Salesforce API budget (from /limits or the
// Sforce-Limit-Info header).
func (m *Metrics) SetAPIUsage(used, max int) {
	if m == nil {
		return
	}
	m.apiUsed.Set(float64(used))
	m.apiMax.Set(float64(max))
	if max > 0 {
		m.apiShare.Set(float64(used) / float64(max))
	} else {
		m.apiShare.Set(0)
	}
}

func (m *Metrics) webhook(result string) {
	if m == nil {
		return
	}
	m.webhooks.WithLabelValues(result).Inc()
}

func (m *Metrics) observeHTTP(route string, status int) {
	if m == nil {
		return
	}
	m.httpRequests.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

func (m *Metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		// A store that cannot answer must not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
		ErrorLog:      slogPrinter{m.log},
		Registry:      m.registry,
		Timeout:       2 * scrapeTimeout,
	})
}

type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Println(v ...any) {
	p.log.Warn("metrics", slog.Any("detail", v))
}

// storeCollector reads the queue's state and the held conflicts from the
// store at scrape time, so the figures are never older than the scrape,
// cost nothing between scrapes, and stay right whichever process (engine,
// admin API, another replica) changed them.
type storeCollector struct {
	store QueueGauges
	now   func() time.Time
	log   *slog.Logger
}

var (
	descQueueDepth = prometheus.NewDesc(namespace+"_queue_depth",
		"Queued changes by state (pending, running).", []string{"state"}, nil)
	descDeadLetters = prometheus.NewDesc(namespace+"_dead_letters",
		"Changes in the dead letters, waiting to be replayed.", nil, nil)
	descOldestPending = prometheus.NewDesc(namespace+"_oldest_pending_change_age_seconds",
		"Age of the oldest pending change; 0 when the queue is empty.", nil, nil)
	descStoreUp = prometheus.NewDesc(namespace+"_queue_stats_up",
		"1 if the queue figures could be read from the store at this scrape, else 0.", nil, nil)
	descConflictsHeld = prometheus.NewDesc(namespace+"_conflicts_held",
		"Conflicts waiting for a person to resolve them (manual policy); absent when the store could not say.", nil, nil)
)

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descQueueDepth
	ch <- descDeadLetters
	ch <- descOldestPending
	ch <- descStoreUp
	ch <- descConflictsHeld
	ch <- descHeldRunsPending
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	// Each figure is reported on its own, so a failure of one read
	// hides only its own metrics.
	if held, err := c.store.CountHeld(ctx); err != nil {
		c.log.Warn("metrics: held conflicts", slog.Any("err", err))
	} else {
		ch <- prometheus.MustNewConstMetric(descConflictsHeld, prometheus.GaugeValue, float64(held))
	}
	c.collectHeldRuns(ctx, ch)
	c.collectQueue(ctx, ch)
}

func (c *storeCollector) collectQueue(ctx context.Context, ch chan<- prometheus.Metric) {
	st, err := c.store.Stats(ctx)
	if err != nil {
		c.log.Warn("metrics: queue stats", slog.Any("err", err))
		ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, 1)
	ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(st.Pending), "pending")
	ch <- prometheus.MustNewConstMetric(descQueueDepth, prometheus.GaugeValue, float64(st.Running), "running")
	ch <- prometheus.MustNewConstMetric(descDeadLetters, prometheus.GaugeValue, float64(st.DeadLetters))
	age := 0.0
	if !st.OldestPending.IsZero() {
		age = max(c.now().Sub(st.OldestPending).Seconds(), 0)
	}
	ch <- prometheus.MustNewConstMetric(descOldestPending, prometheus.GaugeValue, age)
}
