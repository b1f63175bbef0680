package rest

import (
	"crypto/rsa"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billsync/billsync"
)

// Grants the client can log in with.
const (
	GrantPassword          = "password"
	GrantClientCredentials = "client_credentials"
	GrantJWT               = "jwt"
)

// DefaultAPIVersion is the REST API version used when Config leaves it empty.
const DefaultAPIVersion = "62.0"

// DefaultTimeout bounds one HTTP exchange when Config leaves Timeout zero.
const DefaultTimeout = 30 * time.Second

// batchSize is the sObject Collections limit: a 201st record makes
// Salesforce refuse the whole call with EXCEEDED_ID_LIMIT.
const batchSize = 200

// Config says where and how to log in.
type Config struct {
	// LoginURL is https://login.salesforce.com, https://test.salesforce.com,
	// a My Domain, or the emulator's base URL.
	LoginURL string
	// Grant is "password", "client_credentials" or "jwt".
	Grant        string
	ClientID     string
	ClientSecret string
	// Username and Password for the password grant (the password may carry
	// the security token appended). Username is also the JWT subject.
	Username string
	Password string
	// PrivateKeyPEM signs the JWT bearer assertion (RS256; PKCS#1 or #8).
	PrivateKeyPEM []byte
	// APIVersion such as "62.0"; DefaultAPIVersion when empty.
	APIVersion string
	// Timeout bounds one HTTP exchange; DefaultTimeout when zero.
	Timeout    time.Duration
	HTTPClient *http.Client
	Logger     *slog.Logger
	Clock      func() time.Time
}

// Client talks to one org. It is safe for concurrent use.
type Client struct {
	loginURL   *url.URL
	grant      string
	clientID   string
	secret     string
	username   string
	password   string
	key        *rsa.PrivateKey
	apiVersion string
	timeout    time.Duration
	http       *http.Client
	log        *slog.Logger
	now        func() time.Time

	mu     sync.Mutex
	sess   *session
	flight *loginFlight

	limitMu   sync.Mutex
	limitUsed int
	limitMax  int
	limitOK   bool

	descMu sync.Mutex
	desc   map[string]*billsync.SObjectDescribe
}

var _ billsync.CRM = (*Client)(nil)

var versionRE = regexp.MustCompile(`^\d+\.\d$`)

// New checks cfg and returns a client; it does not log in until first use.
func New(cfg Config) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(strings.TrimSpace(cfg.LoginURL), "/"))
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce: login URL %q must be an http(s) URL", cfg.LoginURL)
	}
	c := &Client{
		loginURL:   u,
		grant:      cfg.Grant,
		clientID:   cfg.ClientID,
		secret:     cfg.ClientSecret,
		username:   cfg.Username,
		password:   cfg.Password,
		apiVersion: strings.TrimPrefix(cfg.APIVersion, "v"),
		timeout:    cfg.Timeout,
		http:       cfg.HTTPClient,
		log:        cfg.Logger,
		now:        cfg.Clock,
		desc:       map[string]*billsync.SObjectDescribe{},
	}
	if c.grant == "" {
		c.grant = GrantPassword
	}
	if c.apiVersion == "" {
		c.apiVersion = DefaultAPIVersion
	}
	if !versionRE.MatchString(c.apiVersion) {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce: API version %q: want a form like 62.0", cfg.APIVersion)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.clientID == "" {
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce: a client id (consumer key) is required")
	}
	switch c.grant {
	case GrantPassword:
		if c.username == "" || c.password == "" {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce: the password grant needs a username and a password")
		}
	case GrantClientCredentials:
		if c.secret == "" {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce: the client credentials grant needs a client secret")
		}
	case GrantJWT:
		if c.username == "" {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce: the JWT bearer grant needs a username (the assertion's subject)")
		}
		key, err := jwt.ParseRSAPrivateKeyFromPEM(cfg.PrivateKeyPEM)
		if err != nil {
			return nil, billsync.Errorf(billsync.EINVALID, "salesforce: JWT private key: %v", err)
		}
		c.key = key
	default:
		return nil, billsync.Errorf(billsync.EINVALID, "salesforce: unknown grant %q (want password, client_credentials or jwt)", cfg.Grant)
	}
	return c, nil
}

// APIVersion is the REST API version the client speaks, such as "62.0".
func (c *Client) APIVersion() string { return c.apiVersion }

// Limits reports the org's API usage from the last Sforce-Limit-Info
// header seen; ok is false until one arrived.
func (c *Client) Limits() (used, max int, ok bool) {
	c.limitMu.Lock()
	defer c.limitMu.Unlock()
	return c.limitUsed, c.limitMax, c.limitOK
}

func (c *Client) noteLimits(h http.Header) {
	used, max, ok := parseLimitInfo(h.Values("Sforce-Limit-Info"))
	if !ok {
		return
	}
	c.limitMu.Lock()
	c.limitUsed, c.limitMax, c.limitOK = used, max, true
	c.limitMu.Unlock()
}
