package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	billingemu "github.com/billsync/billsync/emulate/billing"
	"github.com/billsync/billsync/emulate/faults"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
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

// TestSecretsNeverLogged starts billsync against the emulators with
// every secret read from a …File key, logging at debug level, syncs both
// ways, meets a billing error and refused admin calls, and then finds
// none of the configured secrets anywhere in its log output.
func TestSecretsNeverLogged(t *testing.T) {
	t.Parallel()
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

	path := file("billsync.yaml", fmt.Sprintf(`addr: %s
data: %s
salesforce:
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
`, w.appAddr, filepath.Join(dir, "data"), w.sfURL, sfemu.DefaultClientID, file("sf-secret", sfSecret), sfemu.IntegrationUsername,
		file("sf-password", sfPassword), w.billURL, file("billing-token", billToken),
		file("webhook-secret", whsec), file("admin-token", adminToken), file("read-token", readToken)))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	secrets := cfg.Secrets()
	if len(secrets) != 6 {
		t.Fatalf("%d secrets configured, want 6", len(secrets))
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
	h := &harness{t: t}
	h.eventually("subscribed", func() (bool, string) { return app.sub.State().Connected, "not yet" })

	// Both directions, and a billing error answered with its body.
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
	// Admin calls: a wrong token, a read token where an admin one is
	// needed, and a good one.
	for _, tok := range []string{"wrong-" + readToken, readToken, adminToken} {
		for _, method := range []string{http.MethodGet, http.MethodPut} {
			req, _ := http.NewRequest(method, app.URL+"/api/v1/settings/conflicts.account", strings.NewReader(`"latest-wins"`))
			req.Header.Set("Authorization", "Bearer "+tok)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	app = nil

	out := logs.String()
	if strings.Count(out, "\n") < 5 {
		t.Fatalf("too little log output to judge:\n%s", out)
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
}
