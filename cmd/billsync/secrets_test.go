package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	billingemu "github.com/billsync/billsync/emulate/billing"
	"github.com/billsync/billsync/emulate/faults"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/sandbox"
)

// lockedBuffer is a log sink several goroutines write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// strong is a random secret no log line holds by chance.
func strong(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// secretWorld is the two emulators with credentials of the test's own
// (the sandbox's fixed ones are words like "billsync" that log lines hold
// anyway), and billsync between them.
type secretWorld struct {
	sf        *sfemu.Emulator
	bill      *billingemu.Emulator
	billFault *faults.Injector
	sfURL     string
	billURL   string
	appAddr   string
	billing   *billingapi.Client
	sales     *rest.Client
}

func startSecretWorld(t *testing.T, sfSecret, sfPassword, billToken, whsec string) *secretWorld {
	t.Helper()
	w := &secretWorld{}
	quiet := slog.New(slog.DiscardHandler)
	listen := func() net.Listener {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return ln
	}
	serve := func(ln net.Listener, h http.Handler) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
	sfLn, billLn, appLn := listen(), listen(), listen()
	w.appAddr = appLn.Addr().String()
	appLn.Close()
	w.sfURL, w.billURL = "http://"+sfLn.Addr().String(), "http://"+billLn.Addr().String()
	users := sfemu.DefaultUsers()
	for i := range users {
		if users[i].Username == sfemu.IntegrationUsername {
			users[i].Password = sfPassword
		}
	}
	var err error
	w.sf, err = sfemu.New(sfemu.Options{Users: users, ClientSecret: sfSecret, MultiCurrency: true, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.sf.Close() })
	w.sf.SetBaseURL(w.sfURL)
	serve(sfLn, w.sf.Handler())
	w.bill, err = billingemu.New(billingemu.Options{Token: billToken, TenantID: sandbox.Tenant, WebhookSecret: whsec,
		WebhookURL: "http://" + w.appAddr + "/webhooks/billing", Logger: quiet,
		RetryBackoff: func(int) time.Duration { return 200 * time.Millisecond }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); w.bill.Close() })
	h, inj, err := sandbox.WithFaults(w.bill.Handler(), "", faults.BillingFormat, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.billFault = inj
	serve(billLn, h)
	w.bill.Start(ctx)
	w.billing = billingapi.New(w.billURL, billToken, nil)
	w.sales, err = rest.New(rest.Config{LoginURL: w.sfURL, Grant: "password", ClientID: sfemu.DefaultClientID,
		ClientSecret: sfSecret, Username: sfemu.SalesUsername, Password: sfemu.SalesPassword})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// alertHook is an alert webhook whose URL holds secrets in its path and
// query, as Slack's and others' do. Its first answer is a dropped
// connection (an error Go's HTTP client reports with the whole URL), its
// second a 500, and then it takes what it is sent.
type alertHook struct {
	url  string
	hits atomic.Int32
}

func startAlertHook(t *testing.T) *alertHook {
	t.Helper()
	a := &alertHook{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch a.hits.Add(1) {
		case 1, 3:
			if hj, ok := w.(http.Hijacker); ok {
				if conn, _, err := hj.Hijack(); err == nil {
					conn.Close()
					return
				}
			}
			w.WriteHeader(http.StatusBadGateway)
		case 2:
			w.WriteHeader(http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL + "/services/" + strong("hookpath-") + "?key=" + strong("hookkey-")
	return a
}

// postgresWithPassword gives the test a PostgreSQL role of its own with a
// password, and a schema it may use; it returns the database URL without
// the password, and the password. The role is dropped when t ends.
func postgresWithPassword(t *testing.T) (dsn, password string) {
	t.Helper()
	u, err := url.Parse(pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	schema := u.Query().Get("search_path")
	var b [6]byte
	_, _ = rand.Read(b[:])
	role, password := "r_"+hex.EncodeToString(b[:]), strong("pgpw-")
	admin := func(stmts ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, pgtest.BaseDSN(t))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		for _, s := range stmts {
			if _, err := conn.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	}
	if err := admin("CREATE ROLE "+role+" LOGIN PASSWORD '"+password+"'", "GRANT ALL ON SCHEMA "+schema+" TO "+role); err != nil {
		t.Fatal(err)
	}
	// Before the schema is dropped (cleanups run last first).
	t.Cleanup(func() {
		if err := admin("DROP OWNED BY "+role, "DROP ROLE "+role); err != nil {
			t.Errorf("dropping role %s: %v", role, err)
		}
	})
	u.User = url.User(role)
	return u.String(), password
}

// TestSecretsNeverLogged starts billsync on SQLite against the emulators
// with every secret read from a …File key (the alert webhook URL among
// them), and finds none of them in its log (secretsScenario).
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
	secretsScenario(t, "", "")
}

// TestSecretsNeverLoggedOnPostgres is TestSecretsNeverLogged on
// PostgreSQL, with the database password read from
// databasePasswordFile: the password is a configured secret too.
func TestSecretsNeverLoggedOnPostgres(t *testing.T) {
	t.Parallel()
	dsn, pw := postgresWithPassword(t) // skips without BILLSYNC_TEST_POSTGRES_DSN
	secretsScenario(t, dsn, pw)
}

// secretsScenario starts billsync against the emulators with every secret
// read from a …File key, logging at debug level; it syncs both ways, meets
// a billing error, refused admin calls and an alert webhook that fails
// before it takes the alert, and then finds none of the configured secrets
// anywhere in its log output. With dsn, the store is that PostgreSQL
// database, its password pgPassword read from databasePasswordFile.
func secretsScenario(t *testing.T, dsn, pgPassword string) {
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sfSecret, sfPassword, billToken := strong("sfsecret-"), strong("sfpw-"), strong("billtok-")
	whsec := "whsec_" + base64.StdEncoding.EncodeToString([]byte(strong("key-")))
	adminToken, readToken := strong("admin-"), strong("read-")
	w := startSecretWorld(t, sfSecret, sfPassword, billToken, whsec)
	hook := startAlertHook(t)

	store, want := "", 7
	if dsn != "" {
		store, want = fmt.Sprintf("database: %s\ndatabasePasswordFile: %s\n", dsn, file("db-password", pgPassword)), 8
	}
	path := file("billsync.yaml", fmt.Sprintf(`addr: %s
data: %s
%ssalesforce:
  loginUrl: %s
  grant: password
  clientId: %s
  clientSecretFile: %s
  username: %s
  passwordFile: %s
  stream: cometd
billing:
  url: %s
  tokenFile: %s
  webhookSecretFile: %s
adminTokenFiles:
  ops: %s
readTokenFiles:
  dashboard: %s
alerts:
  webhookUrlFile: %s
  interval: 100ms
  budgetShare: 0.000001
`, w.appAddr, filepath.Join(dir, "data"), store, w.sfURL, sfemu.DefaultClientID, file("sf-secret", sfSecret), sfemu.IntegrationUsername,
		file("sf-password", sfPassword), w.billURL, file("billing-token", billToken),
		file("webhook-secret", whsec), file("admin-token", adminToken), file("read-token", readToken), file("alert-hook", hook.url)))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	secrets := cfg.Secrets()
	if len(secrets) != want {
		t.Fatalf("%d secrets configured, want %d", len(secrets), want)
	}
	for _, s := range []string{hook.url, pgPassword} {
		if s != "" && !slices.Contains(secrets, s) {
			t.Fatalf("a secret (starting %q) is not among the configured secrets", s[:6])
		}
	}
	logs := &lockedBuffer{}
	g := &globals{logLevel: "debug", logFormat: "text", err: logs}
	app, err := StartApp(context.Background(), cfg, g.logger())
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if app != nil {
			app.Close()
		}
	}()
	exerciseSecrets(t, w, app, adminToken, readToken)
	h := &harness{t: t}
	// The budget alert fires (any use passes a share of 0.000001); its
	// first delivery fails (three tries), the next takes it.
	h.eventually("the alert delivered", func() (bool, string) {
		n := hook.hits.Load()
		return n >= 4, fmt.Sprintf("%d posts", n)
	})
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	app = nil

	out := logs.String()
	if strings.Count(out, "\n") < 5 || !strings.Contains(out, "alerts: delivery failed") {
		t.Fatalf("too little log output to judge (no failed alert webhook among it):\n%s", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("a configured secret (%d bytes, starting %q) appears in the log", len(s), s[:min(6, len(s))])
		}
		// The webhook key without its prefix, as it is used.
		if k, ok := strings.CutPrefix(s, "whsec_"); ok && strings.Contains(out, k) {
			t.Errorf("the webhook key appears in the log")
		}
	}
	// The alert webhook's secret parts, each on its own.
	u, _ := url.Parse(hook.url)
	for _, part := range []string{u.Path, u.Query().Get("key")} {
		if strings.Contains(out, part) {
			t.Errorf("a part of the alert webhook URL (%q…) appears in the log", part[:min(12, len(part))])
		}
	}
}

// exerciseSecrets syncs both ways through app, meets a billing error
// answered with its body, and makes admin calls with a wrong token, a
// read token where an admin one is needed, and a good one.
func exerciseSecrets(t *testing.T, w *secretWorld, app *App, adminToken, readToken string) {
	t.Helper()
	h := &harness{t: t}
	h.eventually("subscribed", func() (bool, string) { return app.sub.State().Connected, "not yet" })
	ctx := context.Background()
	acc, err := w.billing.Create(ctx, billsync.ObjectAccount, billsync.Entity{"code": "SECRET", "name": "Secret Inc", "currency": "USD"}, "")
	if err != nil {
		t.Fatal(err)
	}
	var sfID string
	h.eventually("the account in Salesforce", func() (bool, string) {
		for _, r := range w.sf.Records("BillingAccount__c") {
			if r.Str("BillingId__c") == acc.ID() {
				sfID = r.ID()
				return true, ""
			}
		}
		return false, "not there"
	})
	fc, err := faults.Parse("once:path=/api/v1/accounts,method=PATCH,status=500,after")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.billFault.Apply(fc); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"Secret edited", "Secret edited again"} {
		if res, err := w.sales.Update(ctx, "BillingAccount__c", []billsync.SObject{{"Id": sfID, "Name": name}}); err != nil || !res[0].Success {
			t.Fatalf("sales update: %v %+v", err, res)
		}
		h.eventually("the edit in billing", func() (bool, string) {
			e, err := w.billing.Get(ctx, billsync.ObjectAccount, acc.ID())
			if err != nil {
				return false, err.Error()
			}
			return e.Str("name") == name, e.Str("name")
		})
	}
	for _, tok := range []string{"wrong-" + readToken, readToken, adminToken} {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			req, _ := http.NewRequest(method, app.URL+"/api/v1/settings/conflicts.account", strings.NewReader(`"latest-wins"`))
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
}
