package rest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/billsync/billsync"
)

func TestPasswordLoginReadsSessionAndIdentity(t *testing.T) {
	f := newFake(t, nil)
	c := f.client()
	inst, tok, err := c.Session(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if inst != f.srv.URL || tok != f.token(0) {
		t.Errorf("Session = %q, %q; want %q, the fixture's token", inst, tok, f.srv.URL)
	}
	user, org, err := c.Identity(context.Background())
	if err != nil || user != "0051a000000UGT8AAO" || org != "00D1a000000H3O9EAK" {
		t.Errorf("Identity = %q, %q, %v", user, org, err)
	}
	if f.loginCount() != 1 {
		t.Errorf("logins = %d, want 1 (the session is kept)", f.loginCount())
	}
	form := f.logins[0]
	want := url.Values{"grant_type": {"password"}, "client_id": {"billsync"}, "client_secret": {"billsync-secret"},
		"username": {"integration@billsync.test"}, "password": {"pass+token"}}
	for k, v := range want {
		if form.Get(k) != v[0] {
			t.Errorf("token form %s = %q, want %q", k, form.Get(k), v[0])
		}
	}
	if _, _, ok := c.Limits(); ok {
		t.Error("Limits ok after a login alone; the token endpoint sends no Sforce-Limit-Info")
	}
}

func TestClientCredentialsLogin(t *testing.T) {
	f := newFake(t, nil)
	c := f.client(func(cfg *Config) { cfg.Grant = GrantClientCredentials; cfg.Username, cfg.Password = "", "" })
	if _, _, err := c.Session(context.Background()); err != nil {
		t.Fatal(err)
	}
	form := f.logins[0]
	if form.Get("grant_type") != "client_credentials" || form.Get("client_id") != "billsync" || form.Get("client_secret") != "billsync-secret" {
		t.Errorf("token form = %v", form)
	}
}

func TestJWTBearerLogin(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := newFake(t, nil)
	c := f.client(func(cfg *Config) {
		cfg.Grant, cfg.PrivateKeyPEM, cfg.Password, cfg.ClientSecret = GrantJWT, pemKey, "", ""
		cfg.Clock = func() time.Time { return now }
	})
	if _, _, err := c.Session(context.Background()); err != nil {
		t.Fatal(err)
	}
	form := f.logins[0]
	if form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		t.Fatalf("grant_type = %q", form.Get("grant_type"))
	}
	var claims jwt.RegisteredClaims
	_, err = jwt.ParseWithClaims(form.Get("assertion"), &claims, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(func() time.Time { return now }))
	if err != nil {
		t.Fatalf("assertion: %v", err)
	}
	u, _ := url.Parse(f.srv.URL)
	if claims.Issuer != "billsync" || claims.Subject != "integration@billsync.test" ||
		len(claims.Audience) != 1 || claims.Audience[0] != "http://"+u.Host {
		t.Errorf("claims iss=%q sub=%q aud=%v", claims.Issuer, claims.Subject, claims.Audience)
	}
	if got := claims.ExpiresAt.Time.Sub(now); got != 3*time.Minute {
		t.Errorf("assertion lives %v, want 3m", got)
	}
}

func TestLoginErrorShapes(t *testing.T) {
	for _, tc := range []struct {
		file      string
		status    int
		code, msg string
		transient bool
	}{
		{"token_invalid_grant.json", 400, "invalid_grant", "authentication failure - Invalid Password", false},
		{"token_invalid_client_id.json", 400, "invalid_client_id", "client identifier invalid", false},
		{"error_invalid_session.json", 503, "INVALID_SESSION_ID", "Session expired or invalid", true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			f := newFake(t, nil)
			f.tokenFiles, f.tokenStatus = []string{tc.file}, tc.status
			c := f.client()
			_, _, err := c.Session(context.Background())
			var re *billsync.RemoteError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a *RemoteError", err)
			}
			if re.System != billsync.SystemSalesforce || re.StatusCode != tc.status || re.Code != tc.code || re.Message != tc.msg || re.Transient != tc.transient {
				t.Errorf("got %+v", re)
			}
			// A failed login is not cached: the next call tries again.
			c.Session(context.Background())
			if f.loginCount() != 2 {
				t.Errorf("logins = %d, want 2", f.loginCount())
			}
		})
	}
}

func TestLoginUnreachableIsTransient(t *testing.T) {
	f := newFake(t, nil)
	c := f.client()
	f.srv.Close()
	_, _, err := c.Session(context.Background())
	var re *billsync.RemoteError
	if !errors.As(err, &re) || !re.Transient || re.StatusCode != 0 {
		t.Fatalf("err = %v, want a transient transport RemoteError", err)
	}
}

func TestConcurrentCallersShareOneLogin(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, nil)
	inner := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/services/oauth2/token" {
			<-release
		}
		inner.ServeHTTP(w, r)
	})
	c := f.client()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := c.Session(context.Background())
			errs <- err
		}()
	}
	waitFor(t, "a login in flight", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.flight != nil
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if f.loginCount() != 1 {
		t.Errorf("logins = %d, want 1", f.loginCount())
	}
}

func TestSessionWaitHonoursContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	f := newFake(t, nil)
	inner := f.srv.Config.Handler
	f.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		inner.ServeHTTP(w, r)
	})
	c := f.client()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, _, err := c.Session(ctx); done <- err }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Session did not return after its context was cancelled")
	}
}

func TestParseIdentityURL(t *testing.T) {
	org, user, ok := parseIdentityURL("https://login.salesforce.com/id/00D1a000000H3O9EAK/0051a000000UGT8AAO")
	if !ok || org != "00D1a000000H3O9EAK" || user != "0051a000000UGT8AAO" {
		t.Errorf("got %q %q %v", org, user, ok)
	}
	for _, bad := range []string{"", "https://login.salesforce.com/", "https://x/id/00D", "::"} {
		if _, _, ok := parseIdentityURL(bad); ok {
			t.Errorf("parseIdentityURL(%q) ok", bad)
		}
	}
}

func TestNewValidatesConfig(t *testing.T) {
	good := Config{LoginURL: "https://login.salesforce.com", ClientID: "id", Username: "u", Password: "p"}
	if c, err := New(good); err != nil || c.APIVersion() != "62.0" {
		t.Fatalf("New(good) = %v, %v", c, err)
	}
	for name, mod := range map[string]func(*Config){
		"no login url":      func(c *Config) { c.LoginURL = "" },
		"ftp login url":     func(c *Config) { c.LoginURL = "ftp://x" },
		"no client id":      func(c *Config) { c.ClientID = "" },
		"no password":       func(c *Config) { c.Password = "" },
		"bad version":       func(c *Config) { c.APIVersion = "62" },
		"unknown grant":     func(c *Config) { c.Grant = "refresh_token" },
		"cc without secret": func(c *Config) { c.Grant = GrantClientCredentials },
		"jwt without key":   func(c *Config) { c.Grant = GrantJWT },
	} {
		cfg := good
		mod(&cfg)
		_, err := New(cfg)
		if billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%s: err = %v, want EINVALID", name, err)
		}
	}
}
