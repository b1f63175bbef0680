// Package config is billsync's configuration: the YAML file, the
// BILLSYNC_* environment over it, defaults, and the checks run before
// anything starts. The commands overlay their flags and wire what it
// describes.
package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"go.yaml.in/yaml/v4"
)

// Config is billsync's configuration. Precedence: flags > environment
// (BILLSYNC_…) > config file > defaults.
type Config struct {
	// Addr is where billsync serves webhooks, the admin API, health and
	// metrics.
	Addr string `yaml:"addr"`
	// Data is the directory of the embedded SQLite store.
	Data string `yaml:"data"`
	// Database, when set, is a PostgreSQL URL (postgres://…): the store
	// for several replicas sharing one database, instead of SQLite.
	Database string `yaml:"database"`
	// DatabasePasswordFile names a file holding the database password,
	// set into Database's URL (see secrets.go for every …File key).
	DatabasePasswordFile string `yaml:"databasePasswordFile"`
	// Mapping is an optional YAML mapping file; empty uses the default
	// mapping of SPEC §2.
	Mapping string `yaml:"mapping"`
	// Workers is how many partitions are synced in parallel; their
	// Salesforce writes share sObject Collections calls.
	Workers int `yaml:"workers"`
	// BulkWorkers is how many partitions are synced in parallel while a
	// large backlog is due (a resync, an initial load, a catch-up): wide
	// enough that a level's Salesforce writes gather into one Bulk API 2.0
	// ingest job (salesforce.bulkIngestThreshold). At most Workers when
	// bulk ingest is off.
	BulkWorkers int `yaml:"bulkWorkers"`
	// Profiling serves Go's runtime profiles at /debug/pprof/ to admin
	// tokens, for `go tool pprof` against a live instance.
	Profiling bool `yaml:"profiling"`
	// RunLength is the most changes of one partition claimed and applied
	// together: a record's states fold into the newest, and the records
	// are written level by level (accounts, balances, transactions).
	RunLength int `yaml:"runLength"`
	// BatchWait is how long nothing new must arrive before Salesforce
	// writes that every change in flight waits for go without filling
	// their call (a lone change waits about this long).
	BatchWait time.Duration `yaml:"batchWait"`
	// APIBudgetShare is the share of the org's daily API allocation above
	// which billsync slows down (default 0.9).
	APIBudgetShare float64 `yaml:"apiBudgetShare"`
	// ClaimLease is how long a claimed change is held before another
	// worker or replica may take it over (a crashed one). Changes take
	// well under a second; a lease far above that keeps a slow change
	// from running twice. A run still at work (a Bulk ingest job that
	// takes minutes) has its lease renewed every third of it, for up to
	// 10 minutes.
	ClaimLease time.Duration `yaml:"claimLease"`
	// SubscriptionLease is how long the replica holding the Salesforce
	// event subscription keeps it without renewing (it renews every third
	// of it); another replica takes over once it lapses.
	SubscriptionLease time.Duration `yaml:"subscriptionLease"`
	// Poll is the longest the runner sleeps when nothing wakes it; new
	// webhooks and events wake it at once.
	Poll time.Duration `yaml:"poll"`
	// LogRetention is how long sync-log entries are kept (G3).
	LogRetention time.Duration `yaml:"logRetention"`
	// Rebind lets billsync sync with a Salesforce org or billing tenant
	// other than the one its store is bound to (§4). Flag only in practice.
	Rebind bool `yaml:"-"`

	Salesforce SalesforceConfig `yaml:"salesforce"`
	Billing    BillingConfig    `yaml:"billing"`
	Alerts     AlertsConfig     `yaml:"alerts"`
	// AdminTokens maps a token's name (recorded in the audit) to the
	// token; an admin token may change things. ReadTokens likewise, for
	// tokens that may only read (logs, settings, conflicts, dead letters,
	// resync reports).
	AdminTokens map[string]string `yaml:"adminTokens"`
	ReadTokens  map[string]string `yaml:"readTokens"`

	// AdminTokenFiles and ReadTokenFiles map a token's name to a file
	// holding the token (a mounted secret).
	AdminTokenFiles map[string]string `yaml:"adminTokenFiles"`
	ReadTokenFiles  map[string]string `yaml:"readTokenFiles"`
	// Settings seed the settings store on first start only (A4).
	Settings map[string]any `yaml:"settings"`
}

// SalesforceConfig says how to reach the org.
type SalesforceConfig struct {
	LoginURL       string `yaml:"loginUrl"`
	Grant          string `yaml:"grant"` // password | client_credentials | jwt
	ClientID       string `yaml:"clientId"`
	ClientSecret   string `yaml:"clientSecret"`
	Username       string `yaml:"username"`
	Password       string `yaml:"password"`
	PrivateKeyFile string `yaml:"privateKeyFile"`
	APIVersion     string `yaml:"apiVersion"`

	// ClientSecretFile and PasswordFile name files holding the secrets.
	ClientSecretFile string `yaml:"clientSecretFile"`
	PasswordFile     string `yaml:"passwordFile"`

	// Stream is how billsync hears Salesforce's change events: "pubsub"
	// (the gRPC Pub/Sub API, Salesforce's recommendation) or "cometd" (the
	// Streaming API: Government Cloud, or networks that block PubSubAddr).
	Stream string `yaml:"stream"`
	// ChangeSource is what billsync listens to: "trigger" (the platform
	// event the BillingSyncTrigger Apex publishes; works in every edition)
	// or "cdc" (the synced objects' Change Data Capture channels; nothing
	// to deploy, but needs CDC and the objects selected for it).
	ChangeSource string `yaml:"changeSource"`
	// PubSubAddr is the Pub/Sub API's host:port; Salesforce serves it on
	// 7443 and 443.
	PubSubAddr string `yaml:"pubsubAddr"`
	// PubSubInsecure speaks plaintext gRPC to PubSubAddr: for the local
	// emulator only, never a real org.
	PubSubInsecure bool `yaml:"pubsubInsecure"`
	// BulkThreshold is the record count of an object above which a
	// resync reads it through a Bulk API 2.0 query job instead of REST
	// query pages (0: 10,000; negative: never).
	BulkThreshold int `yaml:"bulkThreshold"`
	// BulkIngestThreshold is the fewest writes of one object and one
	// operation that go as one Bulk API 2.0 ingest job instead of
	// sObject Collections calls of 200 (0: 2,000, Salesforce's advice;
	// negative: never). Only a backlog (bulkWorkers) gathers that many.
	BulkIngestThreshold int `yaml:"bulkIngestThreshold"`
}

// The change-event transports salesforce.stream names.
const (
	StreamPubSub = "pubsub"
	StreamCometD = "cometd"
)

// The change sources salesforce.changeSource names.
const (
	ChangeSourceTrigger = "trigger"
	ChangeSourceCDC     = "cdc"
)

// DefaultPubSubAddr is Salesforce's global Pub/Sub API endpoint.
const DefaultPubSubAddr = "api.pubsub.salesforce.com:7443"

// BillingConfig says which billing platform to sync with and how to reach it.
type BillingConfig struct {
	Platform      string `yaml:"platform"` // contract (the default), stripe, m3ter or monetizenow
	URL           string `yaml:"url"`      // Stripe: "" is https://api.stripe.com
	Token         string `yaml:"token"`
	WebhookSecret string `yaml:"webhookSecret"`

	// TokenFile and WebhookSecretFile name files holding the secrets.
	TokenFile         string `yaml:"tokenFile"`
	WebhookSecretFile string `yaml:"webhookSecretFile"`
	// Options are the platform's own settings (Stripe: rateLimit, quotes,
	// apiVersion); the adapter refuses a name it does not know.
	Options map[string]string `yaml:"options"`
	// RecordURL links the console to a billing record: {object} and {id}
	// are filled in (e.g. https://dashboard.stripe.com/customers/{id});
	// empty shows no link.
	RecordURL string `yaml:"recordUrl"`
	// PollInterval is how often billsync asks a platform that needs it
	// (Stripe) for what its webhooks missed or never send.
	PollInterval time.Duration `yaml:"pollInterval"`
	// Quotes is a second platform as the source of quotes (quotes.go).
	Quotes QuotesConfig `yaml:"quotes"`
}

// AlertsConfig says when billsync alerts an operator and where it tells
// them. The rules are evaluated whether or not WebhookURL is set; the
// admin API shows them either way.
type AlertsConfig struct {
	// WebhookURL receives one JSON POST per alert firing or resolved
	// (Slack-compatible: a "text" field). A secret: it is never logged.
	WebhookURL string `yaml:"webhookUrl"`
	// WebhookURLFile names a file holding WebhookURL.
	WebhookURLFile string `yaml:"webhookUrlFile"`
	// Interval is the time between evaluations of the rules.
	Interval time.Duration `yaml:"interval"`
	// StreamDownFor is how long the Salesforce event stream must be down
	// before its alert fires (a reconnect shorter than this is no news).
	StreamDownFor time.Duration `yaml:"streamDownFor"`
	// PendingAge is the age of the oldest pending change above which its
	// alert fires.
	PendingAge time.Duration `yaml:"pendingAge"`
	// DeadLetterWindow: the dead-letter alert fires while the count grew
	// within this window, and resolves once a window passes without a new
	// dead letter.
	DeadLetterWindow time.Duration `yaml:"deadLetterWindow"`
	// BudgetShare is the share of the org's daily API requests above
	// which the budget alert fires; below apiBudgetShare, where billsync
	// slows down, so the operator hears first.
	BudgetShare float64 `yaml:"budgetShare"`
}

// WebhookPath is where the platform's webhooks arrive.
func (b BillingConfig) WebhookPath() string {
	switch b.Platform {
	case billsync.PlatformStripe:
		return "/webhooks/stripe"
	case billsync.PlatformM3ter:
		return "/webhooks/m3ter" // followed by the token: WebhookToken
	case billsync.PlatformMonetizeNow:
		return "/webhooks/monetizenow" // followed by the token: WebhookToken
	}
	return "/webhooks/billing"
}

// WebhookToken is the secret last segment of the webhook URL of a platform
// whose webhooks carry no signature billsync can check (m3ter: its
// billing.webhookSecret; MonetizeNow likewise); "" for the others, which
// sign theirs.
func (b BillingConfig) WebhookToken() string {
	if b.Platform == billsync.PlatformM3ter || b.Platform == billsync.PlatformMonetizeNow {
		return strings.TrimSpace(b.WebhookSecret)
	}
	return ""
}

// DefaultConfig is the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Addr:              "127.0.0.1:8080",
		Data:              "./billsync-data",
		Workers:           1000,
		BulkWorkers:       10000,
		RunLength:         100,
		Poll:              time.Second,
		ClaimLease:        2 * time.Minute,
		SubscriptionLease: 15 * time.Second,
		APIBudgetShare:    0.9,
		BatchWait:         50 * time.Millisecond,
		LogRetention:      30 * 24 * time.Hour,
		Salesforce: SalesforceConfig{LoginURL: "https://login.salesforce.com", Grant: "password", APIVersion: "62.0",
			Stream: StreamPubSub, PubSubAddr: DefaultPubSubAddr, ChangeSource: ChangeSourceTrigger},
		Billing: BillingConfig{Platform: billsync.PlatformContract, PollInterval: time.Minute},
		Alerts: AlertsConfig{Interval: 15 * time.Second, StreamDownFor: time.Minute, PendingAge: 15 * time.Minute,
			DeadLetterWindow: 15 * time.Minute, BudgetShare: 0.8},
	}
}

// LoadConfig reads path (if not empty) strictly, expanding ${VAR}, over
// the defaults, then applies the environment.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		dec := yaml.NewDecoder(bytes.NewReader([]byte(os.ExpandEnv(string(b)))))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	ApplyEnv(&cfg, os.Getenv)
	return cfg, ReadSecrets(&cfg, os.Getenv)
}

// ApplyEnv overlays BILLSYNC_* variables.
func ApplyEnv(cfg *Config, getenv func(string) string) {
	str := func(dst *string, key string) {
		if v := getenv(key); v != "" {
			*dst = v
		}
	}
	str(&cfg.Addr, "BILLSYNC_ADDR")
	str(&cfg.Data, "BILLSYNC_DATA")
	str(&cfg.Database, "BILLSYNC_DATABASE")
	str(&cfg.Mapping, "BILLSYNC_MAPPING")
	parsed(&cfg.Workers, getenv("BILLSYNC_WORKERS"), strconv.Atoi)
	parsed(&cfg.BulkWorkers, getenv("BILLSYNC_BULK_WORKERS"), strconv.Atoi)
	parsed(&cfg.Profiling, getenv("BILLSYNC_PROFILING"), strconv.ParseBool)
	parsed(&cfg.RunLength, getenv("BILLSYNC_RUN_LENGTH"), strconv.Atoi)
	parsed(&cfg.BatchWait, getenv("BILLSYNC_BATCH_WAIT"), time.ParseDuration)
	parsed(&cfg.ClaimLease, getenv("BILLSYNC_CLAIM_LEASE"), time.ParseDuration)
	parsed(&cfg.SubscriptionLease, getenv("BILLSYNC_SUBSCRIPTION_LEASE"), time.ParseDuration)
	str(&cfg.Salesforce.LoginURL, "BILLSYNC_SALESFORCE_LOGIN_URL")
	str(&cfg.Salesforce.Grant, "BILLSYNC_SALESFORCE_GRANT")
	str(&cfg.Salesforce.ClientID, "BILLSYNC_SALESFORCE_CLIENT_ID")
	str(&cfg.Salesforce.ClientSecret, "BILLSYNC_SALESFORCE_CLIENT_SECRET")
	str(&cfg.Salesforce.Username, "BILLSYNC_SALESFORCE_USERNAME")
	str(&cfg.Salesforce.Password, "BILLSYNC_SALESFORCE_PASSWORD")
	str(&cfg.Salesforce.PrivateKeyFile, "BILLSYNC_SALESFORCE_PRIVATE_KEY_FILE")
	str(&cfg.Salesforce.APIVersion, "BILLSYNC_SALESFORCE_API_VERSION")
	str(&cfg.Salesforce.Stream, "BILLSYNC_SALESFORCE_STREAM")
	str(&cfg.Salesforce.ChangeSource, "BILLSYNC_SALESFORCE_CHANGE_SOURCE")
	str(&cfg.Salesforce.PubSubAddr, "BILLSYNC_SALESFORCE_PUBSUB_ADDR")
	parsed(&cfg.Salesforce.PubSubInsecure, getenv("BILLSYNC_SALESFORCE_PUBSUB_INSECURE"), strconv.ParseBool)
	parsed(&cfg.Salesforce.BulkThreshold, getenv("BILLSYNC_SALESFORCE_BULK_THRESHOLD"), strconv.Atoi)
	parsed(&cfg.Salesforce.BulkIngestThreshold, getenv("BILLSYNC_SALESFORCE_BULK_INGEST_THRESHOLD"), strconv.Atoi)
	str(&cfg.Billing.Platform, "BILLSYNC_BILLING_PLATFORM")
	str(&cfg.Billing.URL, "BILLSYNC_BILLING_URL")
	str(&cfg.Billing.RecordURL, "BILLSYNC_BILLING_RECORD_URL")
	str(&cfg.Billing.Token, "BILLSYNC_BILLING_TOKEN")
	str(&cfg.Billing.WebhookSecret, "BILLSYNC_BILLING_WEBHOOK_SECRET")
	parsed(&cfg.Billing.PollInterval, getenv("BILLSYNC_BILLING_POLL_INTERVAL"), time.ParseDuration)
	applyQuotesEnv(&cfg.Billing.Quotes, getenv)
	str(&cfg.Alerts.WebhookURL, "BILLSYNC_ALERTS_WEBHOOK_URL")
	parsed(&cfg.Alerts.Interval, getenv("BILLSYNC_ALERTS_INTERVAL"), time.ParseDuration)
	parsed(&cfg.Alerts.StreamDownFor, getenv("BILLSYNC_ALERTS_STREAM_DOWN_FOR"), time.ParseDuration)
	parsed(&cfg.Alerts.PendingAge, getenv("BILLSYNC_ALERTS_PENDING_AGE"), time.ParseDuration)
	parsed(&cfg.Alerts.DeadLetterWindow, getenv("BILLSYNC_ALERTS_DEAD_LETTER_WINDOW"), time.ParseDuration)
	parsed(&cfg.Alerts.BudgetShare, getenv("BILLSYNC_ALERTS_BUDGET_SHARE"), func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
	tokens(&cfg.AdminTokens, getenv("BILLSYNC_ADMIN_TOKENS"))
	tokens(&cfg.ReadTokens, getenv("BILLSYNC_READ_TOKENS"))
}

// parsed sets *dst to v parsed, when v parses; an unset or malformed
// variable leaves the value from the file or the default.
func parsed[T any](dst *T, v string, parse func(string) (T, error)) {
	if x, err := parse(v); err == nil {
		*dst = x
	}
}

// tokens adds the name=token,name2=token2 pairs of v to *m.
func tokens(m *map[string]string, v string) {
	for _, pair := range strings.Split(v, ",") {
		if name, tok, ok := strings.Cut(strings.TrimSpace(pair), "="); ok {
			if *m == nil {
				*m = map[string]string{}
			}
			(*m)[name] = tok
		}
	}
}

// Validate says exactly what is missing.
func (c Config) Validate() error {
	var missing []string
	need := func(v, name string) {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if err := billsync.CheckBillingPlatform(c.Billing.Platform); err != nil {
		return fmt.Errorf("config: %s", billsync.ErrorMessage(err))
	}
	need(c.Addr, "addr")
	need(c.Data, "data")
	need(c.Salesforce.LoginURL, "salesforce.loginUrl")
	need(c.Salesforce.ClientID, "salesforce.clientId")
	switch c.Salesforce.Grant {
	case "password":
		need(c.Salesforce.Username, "salesforce.username")
		need(c.Salesforce.Password, "salesforce.password")
		need(c.Salesforce.ClientSecret, "salesforce.clientSecret")
	case "client_credentials":
		need(c.Salesforce.ClientSecret, "salesforce.clientSecret")
	case "jwt":
		need(c.Salesforce.Username, "salesforce.username")
		need(c.Salesforce.PrivateKeyFile, "salesforce.privateKeyFile")
	default:
		return fmt.Errorf("config: salesforce.grant %q: want password, client_credentials or jwt", c.Salesforce.Grant)
	}
	switch c.Salesforce.Stream {
	case StreamPubSub:
		need(c.Salesforce.PubSubAddr, "salesforce.pubsubAddr")
	case StreamCometD:
	default:
		return fmt.Errorf("config: salesforce.stream %q: want pubsub or cometd", c.Salesforce.Stream)
	}
	switch c.Salesforce.ChangeSource {
	case "", ChangeSourceTrigger: // "": a configuration built in code
	case ChangeSourceCDC: // over either stream: Pub/Sub's field bitmaps are decoded into names
	default:
		return fmt.Errorf("config: salesforce.changeSource %q: want trigger or cdc", c.Salesforce.ChangeSource)
	}
	switch c.Billing.Platform {
	case billsync.PlatformStripe, billsync.PlatformM3ter, billsync.PlatformMonetizeNow:
		// billing.url defaults to the platform's API.
	default:
		need(c.Billing.URL, "billing.url")
	}
	need(c.Billing.Token, "billing.token")
	switch tok := strings.TrimSpace(c.Billing.WebhookSecret); {
	case c.Billing.Platform == billsync.PlatformM3ter && tok != "" && len(tok) < 16:
		return fmt.Errorf("config: billing.webhookSecret: m3ter's webhook URL token must be at least 16 characters, so nobody can guess it")
	case c.Billing.Platform == billsync.PlatformMonetizeNow && tok != "" && len(tok) < 16:
		return fmt.Errorf("config: billing.webhookSecret: MonetizeNow's webhook URL token must be at least 16 characters, so nobody can guess it")
	case tok != "":
	case c.Billing.Platform == billsync.PlatformStripe:
		missing = append(missing, "billing.webhookSecret (`billsync stripe setup` creates the webhook endpoint and stores it)")
	case c.Billing.Platform == billsync.PlatformM3ter:
		missing = append(missing, "billing.webhookSecret (the token in m3ter's webhook URL; `billsync m3ter setup` sets up delivery and stores it)")
	case c.Billing.Platform == billsync.PlatformMonetizeNow:
		missing = append(missing, "billing.webhookSecret (a random token of at least 16 characters, the last segment of the webhook URL you enter in MonetizeNow's Settings → Webhooks: <billsync>/webhooks/monetizenow/<token>)")
	default:
		need(c.Billing.WebhookSecret, "billing.webhookSecret")
	}
	if err := c.validateQuotes(); err != nil {
		return err
	}
	if len(c.AdminTokens) == 0 {
		missing = append(missing, "adminTokens (at least one name: token)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("config: missing %s", strings.Join(missing, ", "))
	}
	if c.Workers <= 0 {
		return fmt.Errorf("config: workers must be at least 1")
	}
	if c.RunLength <= 0 {
		return fmt.Errorf("config: runLength must be at least 1")
	}
	if err := c.Alerts.validate(); err != nil {
		return err
	}
	for k, v := range c.Settings {
		b, _ := json.Marshal(v)
		if _, err := billsync.ValidateSetting(k, b); err != nil {
			return fmt.Errorf("config: settings: %w", err)
		}
	}
	return nil
}

// SeedSettings renders the config's settings as JSON values.
func (c Config) SeedSettings() map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range c.Settings {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

func (c Config) StorePath() string { return filepath.Join(c.Data, "billsync.db") }

func (a AlertsConfig) validate() error {
	if a.WebhookURL != "" {
		u, err := url.Parse(a.WebhookURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL is a secret: only say what is wrong with it.
			return fmt.Errorf("config: alerts.webhookUrl: want an http(s)://host/… URL")
		}
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"alerts.interval", a.Interval}, {"alerts.pendingAge", a.PendingAge}, {"alerts.deadLetterWindow", a.DeadLetterWindow}} {
		if d.v <= 0 {
			return fmt.Errorf("config: %s must be above 0", d.key)
		}
	}
	if a.StreamDownFor < 0 {
		return fmt.Errorf("config: alerts.streamDownFor must not be negative")
	}
	if a.BudgetShare <= 0 || a.BudgetShare > 1 {
		return fmt.Errorf("config: alerts.budgetShare must be above 0 and at most 1")
	}
	return nil
}
