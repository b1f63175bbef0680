package console_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/alert"
	"github.com/billsync/billsync/console"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/mock"
	"github.com/billsync/billsync/status"
)

const (
	adminToken = "admin-token-0123456789"
	readToken  = "read-token-0123456789"
)

var start = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is billsync's HTTP server over an in-memory store with the console
// mounted, as billsync serve wires it: the console reaches the store only
// through the admin API of the same server.
type env struct {
	t     *testing.T
	store *mock.Store
	clock *clock
	ts    *httptest.Server
	seq   int
	// status samples the store like the App's sampler; a test calls
	// Sample to add a point to the overview's charts.
	status *status.Sampler
	synced atomic.Int64
	// resyncs are the reports the stand-in engine answers, by id.
	resyncs sync.Map
	// alerts are the alert rules' standings the server reports.
	alerts atomic.Pointer[[]alert.Status]
}

type noWebhooks struct{}

func (noWebhooks) Verify(http.Header, []byte) (string, error) {
	return "", billsync.Errorf(billsync.EUNAUTHORIZED, "no webhooks in this test")
}

func (noWebhooks) Decode(string, []byte, time.Time) ([]*billsync.Change, error) { return nil, nil }

func newEnv(t *testing.T, edit ...func(*console.Config)) *env {
	t.Helper()
	return newEnvWithStatus(t, nil, edit...)
}

// newEnvWithStatus is newEnv with the status sampler's config edited by
// sedit (when not nil).
func newEnvWithStatus(t *testing.T, sedit func(*status.Config), edit ...func(*console.Config)) *env {
	t.Helper()
	clk := &clock{now: start}
	st := &mock.Store{Now: clk.Now}
	e := &env{t: t, store: st, clock: clk}
	scfg := status.Config{Queue: st, Clock: clk.Now, Synced: e.synced.Load,
		Stream:           func() billsync.StreamStatus { return billsync.StreamStatus{Connected: true, LagSeconds: 0.25} },
		API:              func() (int, int, bool) { return 1200, 15000, true },
		SalesforceURL:    func(context.Context) string { return "https://acme.my.salesforce.com" },
		BillingRecordURL: "https://billing.example/{object}s/{id}",
	}
	if sedit != nil {
		sedit(&scfg)
	}
	e.status = status.New(scfg)
	// The console calls the server it is mounted in: its address is
	// known once it listens.
	e.ts = httptest.NewUnstartedServer(nil)
	ccfg := console.Config{API: console.BaseURL("http://" + e.ts.Listener.Addr().String()), Clock: clk.Now}
	for _, f := range edit {
		f(&ccfg)
	}
	con, err := console.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	// The engine resolves a held conflict through the store; this stands
	// in for it.
	resolver := &mock.ConflictResolver{ResolveConflictFn: func(ctx context.Context, id int64, winner billsync.Side, actor string) (*billsync.Conflict, error) {
		return st.ResolveConflict(ctx, id, winner, actor, clk.Now())
	}}
	srv, err := httpserver.New(httpserver.Config{
		Webhooks: noWebhooks{}, Queue: st, Settings: st, Logs: st, DeadLetters: st, Conflicts: st, Held: st,
		Resolver: resolver,
		Status:   e.status,
		Mapping:  &billsync.MappingView{Source: "built-in", YAML: "objects:\n  - type: account\n    sobject: BillingAccount__c\n"},
		Resyncer: e.resyncer(),
		Alerts: func() []alert.Status {
			if p := e.alerts.Load(); p != nil {
				return *p
			}
			return nil
		},
		AdminTokens: map[string]string{adminToken: "ops"},
		ReadTokens:  map[string]string{readToken: "grafana"},
		Console:     con,
		Clock:       clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.ts.Config.Handler = srv.Handler()
	e.ts.Start()
	t.Cleanup(e.ts.Close)
	return e
}

// browser is a user agent with a cookie jar that follows redirects.
type browser struct {
	e  *env
	hc *http.Client
}

func (e *env) browser() *browser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		e.t.Fatal(err)
	}
	return &browser{e: e, hc: &http.Client{Jar: jar, Timeout: 15 * time.Second}}
}

type page struct {
	status int
	body   string
	url    string
}

func (b *browser) get(path string) page {
	b.e.t.Helper()
	res, err := b.hc.Get(b.e.ts.URL + path)
	if err != nil {
		b.e.t.Fatalf("GET %s: %v", path, err)
	}
	return readPage(b.e.t, res)
}

func (b *browser) post(path string, form url.Values) page {
	b.e.t.Helper()
	res, err := b.hc.PostForm(b.e.ts.URL+path, form)
	if err != nil {
		b.e.t.Fatalf("POST %s: %v", path, err)
	}
	return readPage(b.e.t, res)
}

func readPage(t *testing.T, res *http.Response) page {
	t.Helper()
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return page{status: res.StatusCode, body: string(body), url: res.Request.URL.Path}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (p page) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF field on the page:\n%s", p.body)
	}
	return m[1]
}

func (p page) mustHave(t *testing.T, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(p.body, w) {
			t.Errorf("page %s lacks %q:\n%s", p.url, w, p.body)
		}
	}
}

func (p page) mustLack(t *testing.T, unwanted ...string) {
	t.Helper()
	for _, w := range unwanted {
		if strings.Contains(p.body, w) {
			t.Errorf("page %s has %q:\n%s", p.url, w, p.body)
		}
	}
}

// login logs b in with token and returns the overview page.
func (b *browser) login(token string) page {
	b.e.t.Helper()
	lp := b.get("/console/login")
	p := b.post("/console/login", url.Values{"csrf": {lp.csrf(b.e.t)}, "token": {token}})
	if p.status != 200 || p.url != "/" || !strings.Contains(p.body, "<h1>Overview</h1>") {
		b.e.t.Fatalf("login: %d at %s:\n%s", p.status, p.url, p.body)
	}
	return p
}

func (e *env) bury(record string) int64 {
	e.t.Helper()
	ctx := context.Background()
	e.seq++
	c := &billsync.Change{Partition: billsync.AccountPartition(record), Source: billsync.SideBilling, Object: billsync.ObjectAccount,
		Op: "update", RecordID: record, EventID: fmt.Sprintf("webhook:%d", e.seq),
		Payload: []byte(fmt.Sprintf(`{"id":%q,"name":"<b>Acme</b>"}`, record))}
	if _, err := e.store.Enqueue(ctx, c); err != nil {
		e.t.Fatal(err)
	}
	claimed, err := e.store.Claim(ctx, 1, time.Minute)
	if err != nil || len(claimed) != 1 || claimed[0].ID != c.ID {
		e.t.Fatalf("claim: %v %v", claimed, err)
	}
	if err := e.store.Bury(ctx, c.ID, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]"); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func (e *env) heldConflict(billingID string) int64 {
	e.t.Helper()
	c := &billsync.Conflict{Object: billsync.ObjectAccount, BillingID: billingID, SalesforceID: "001SF" + billingID,
		Policy: billsync.PolicyManual, Status: billsync.ConflictHeld, Fields: []billsync.ConflictField{
			{Field: "name", Agreed: "Acme Ltd", Billing: "Acme Billing Ltd", Salesforce: "Acme Sales Ltd"},
			{Field: "creditLimit", Agreed: "100.00", Billing: "250.00", Salesforce: "300.00"},
		}}
	if err := e.store.AddConflict(context.Background(), c); err != nil {
		e.t.Fatal(err)
	}
	return c.ID
}

func (e *env) logs(entries ...billsync.LogEntry) {
	e.t.Helper()
	if err := e.store.AppendLog(context.Background(), entries...); err != nil {
		e.t.Fatal(err)
	}
}

func TestRootShowsLoginThenOverview(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.get("/")
	if p.status != 200 {
		t.Fatalf("GET /: %d", p.status)
	}
	p.mustHave(t, `<html lang="en">`, `href="#main"`, `<label for="token">`, `action="/console/login"`)
	p.mustLack(t, "Overview")

	b.login(adminToken)
	p = b.get("/")
	p.mustHave(t, "<h1>Overview</h1>", `action="/console/logout"`)
	if p := b.get("/console/nowhere"); p.status != 404 {
		t.Errorf("unknown console path: %d", p.status)
	}
	// The admin API is still the API, with its own token check.
	if p := b.get("/api/v1/settings"); p.status != 401 {
		t.Errorf("the API behind a console session: %d, want 401 (a session cookie is not a token)", p.status)
	}
}

func TestLoginRefusesAWrongToken(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	lp := b.get("/console/login")
	p := b.post("/console/login", url.Values{"csrf": {lp.csrf(t)}, "token": {"not-a-token"}})
	if p.status != 401 {
		t.Errorf("wrong token: %d", p.status)
	}
	p.mustHave(t, "does not accept that token")
	if p := b.get("/console/logs"); strings.Contains(p.body, "<h1>Sync log</h1>") {
		t.Error("a refused login opened the sync log")
	}
}

func TestLoginNeedsItsFormToken(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	p := b.post("/console/login", url.Values{"token": {adminToken}})
	if p.status != 403 {
		t.Errorf("login without the form's token: %d", p.status)
	}
	if p := b.get("/"); strings.Contains(p.body, "<h1>Overview</h1>") {
		t.Error("a login without the form's token opened a session")
	}
}

func TestSessionCookieAndLogout(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprintf("secure=%v", secure), func(t *testing.T) {
			e := newEnv(t, func(c *console.Config) { c.Secure = secure })
			b := e.browser()
			lp := b.get("/console/login")
			// Read the login answer itself, before any redirect.
			hc := &http.Client{Jar: b.hc.Jar, Timeout: 15 * time.Second,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			res, err := hc.PostForm(e.ts.URL+"/console/login", url.Values{"csrf": {lp.csrf(t)}, "token": {adminToken}})
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: %d", res.StatusCode)
			}
			var sess *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == "billsync_session" {
					sess = c
				}
			}
			if sess == nil {
				t.Fatal("no session cookie")
			}
			if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Secure != secure || sess.Path != "/" || sess.MaxAge <= 0 {
				t.Errorf("session cookie %+v: want HttpOnly, SameSite=Strict, Secure=%v, Path=/, a lifetime", sess, secure)
			}
			if strings.Contains(sess.Value, adminToken) {
				t.Error("the session cookie carries the token")
			}
			if secure {
				return // the jar keeps Secure cookies from a plain-HTTP test server
			}
			p := b.get("/")
			p.mustHave(t, "<h1>Overview</h1>")
			p = b.post("/console/logout", url.Values{"csrf": {p.csrf(t)}})
			p.mustHave(t, `<label for="token">`)
			// The old cookie is dead on the server, not only in the jar.
			req, _ := http.NewRequest("GET", e.ts.URL+"/console/logs", nil)
			req.AddCookie(sess)
			res, err = http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			old := readPage(t, res)
			old.mustLack(t, "<h1>Sync log</h1>")
			old.mustHave(t, `<label for="token">`)
		})
	}
}

func TestSessionExpires(t *testing.T) {
	e := newEnv(t, func(c *console.Config) { c.SessionTTL = time.Hour })
	b := e.browser()
	b.login(adminToken)
	e.clock.Add(time.Hour + time.Second)
	p := b.get("/")
	p.mustLack(t, "<h1>Overview</h1>")
	p.mustHave(t, `<label for="token">`)
}

func TestCSRFRefusal(t *testing.T) {
	e := newEnv(t)
	id := e.bury("acc_1")
	b := e.browser()
	b.login(adminToken)
	for _, form := range []url.Values{{}, {"csrf": {"forged"}}} {
		p := b.post(fmt.Sprintf("/console/deadletters/%d/retry", id), form)
		if p.status != 403 {
			t.Errorf("retry with csrf %q: %d", form.Get("csrf"), p.status)
		}
	}
	if dl, _ := e.store.DeadLetters(context.Background(), 10); len(dl) != 1 {
		t.Errorf("a refused form moved the dead letter: %d left", len(dl))
	}
	// Logging out is a form too.
	if p := b.post("/console/logout", url.Values{}); p.status != 403 {
		t.Errorf("logout without the form's token: %d", p.status)
	}
	b.get("/").mustHave(t, "<h1>Overview</h1>")
}

func TestReadTokenSeesNoWriteControls(t *testing.T) {
	e := newEnv(t)
	dead := e.bury("acc_1")
	cid := e.heldConflict("acc_2")
	b := e.browser()
	p := b.login(readToken)
	p.mustHave(t, "read only")

	b.get("/console/deadletters").mustLack(t, "/retry", "/discard")
	b.get("/console/deadletters").mustHave(t, "Required fields are missing")
	b.get(fmt.Sprintf("/console/conflicts/%d", cid)).mustLack(t, "/resolve", `name="winner"`)
	b.get("/console/settings").mustLack(t, `action="/console/settings/`, "Save")

	// A forged POST, with the session's own CSRF token, is refused by
	// the admin API, and its message shown.
	csrf := b.get("/").csrf(t)
	p = b.post(fmt.Sprintf("/console/deadletters/%d/retry", dead), url.Values{"csrf": {csrf}})
	p.mustHave(t, `class="flash error"`, "read token")
	if dl, _ := e.store.DeadLetters(context.Background(), 10); len(dl) != 1 {
		t.Error("a read token retried a dead letter")
	}
	p = b.post(fmt.Sprintf("/console/conflicts/%d/resolve", cid), url.Values{"csrf": {csrf}, "winner": {"billing"}})
	p.mustHave(t, "read token")
	if c, _ := e.store.Conflict(context.Background(), cid); c.Status != billsync.ConflictHeld {
		t.Error("a read token resolved a conflict")
	}
	p = b.post("/console/settings/sync.enabled", url.Values{"csrf": {csrf}, "value": {"false"}})
	p.mustHave(t, "read token")
	if s, _ := e.store.Settings(context.Background()); len(s) != 0 {
		t.Errorf("a read token changed settings: %v", s)
	}
}

func TestOverview(t *testing.T) {
	e := newEnv(t)
	e.bury("acc_1")
	e.bury("acc_2")
	e.heldConflict("acc_3")
	ctx := context.Background()
	if _, err := e.store.Enqueue(ctx, &billsync.Change{Partition: "account:acc_9", Source: billsync.SideBilling,
		Object: billsync.ObjectAccount, Op: "update", RecordID: "acc_9", EventID: "webhook:pending"}); err != nil {
		t.Fatal(err)
	}
	if err := e.store.HoldRun(ctx, &billsync.HeldRun{Kind: billsync.HeldKindResync, Job: "rs_1", Object: billsync.ObjectAccount},
		[]*billsync.Change{{Partition: "account:acc_8", Source: billsync.SideBilling, Object: billsync.ObjectAccount, Op: billsync.OpResync, RecordID: "acc_8", EventID: "resync:1"}}); err != nil {
		t.Fatal(err)
	}
	for i := range 25 {
		e.logs(billsync.LogEntry{Time: start.Add(time.Duration(i) * time.Second), Direction: billsync.ToSalesforce,
			Object: billsync.ObjectAccount, BillingID: fmt.Sprintf("acc_log%02d", i), SalesforceID: fmt.Sprintf("001LOG%02d", i),
			Operation: "update", Outcome: billsync.OutcomeSuccess})
	}
	b := e.browser()
	p := b.login(adminToken)
	// One sample is not a trend yet.
	p.mustHave(t, "not enough samples yet")
	e.status.Sample(ctx)
	e.synced.Add(4)
	e.status.Sample(ctx)
	e.synced.Add(3)
	p.mustLack(t, `aria-label="Alerts"`) // every rule ok
	e.alerts.Store(&[]alert.Status{
		{Rule: "stream_down", Title: "Salesforce event stream down", State: alert.StateFiring, Since: start, Detail: "handshake refused"},
		{Rule: "conflicts_held", Title: "Conflicts held", State: alert.StateOK},
	})
	p = b.get("/console/")
	p.mustHave(t, `<span class="badge">firing</span> <strong>Salesforce event stream down</strong>`, "handshake refused")
	p.mustLack(t, "Conflicts held")
	p.mustHave(t,
		`<span class="figure small">connected</span>`, "lag 0.2 s",
		`<span class="figure small">8.0 %</span>`, "1200 of 15000 daily requests",
		`<span class="figure">7</span><span class="sub">changes written</span>`,
		`<svg viewBox="0 0 240 48"`, `aria-label="Changes pending, last hour: from 1 to 1, now 1"`,
		`<span class="figure">1</span><span class="label">changes pending</span>`,
		`href="/console/deadletters"><span class="figure">2</span><span class="label">dead letters</span>`,
		`href="/console/conflicts"><span class="figure">1</span><span class="label">held conflicts</span>`,
		`<span class="figure">1</span><span class="label">held mass-change runs</span>`,
		`acc_log24`, `acc_log05`, `href="/console/records/001LOG24"`)
	// The last 20 only.
	p.mustLack(t, "acc_log04")
}

func TestSyncLogFiltersAndPages(t *testing.T) {
	e := newEnv(t)
	for i := range 30 {
		out := billsync.OutcomeSuccess
		if i%3 == 0 {
			out = billsync.OutcomeFailed
		}
		e.logs(billsync.LogEntry{Time: start.Add(time.Duration(i) * time.Second), Direction: billsync.ToSalesforce,
			Object: billsync.ObjectAccount, BillingID: fmt.Sprintf("acc_%02d", i), Operation: "update", Outcome: out,
			Message: fmt.Sprintf("entry %02d", i)})
	}
	e.logs(billsync.LogEntry{Time: start.Add(time.Minute), Direction: billsync.ToBilling, Object: billsync.ObjectBalance,
		BillingID: "bal_1", SalesforceID: "a01BAL", Operation: "update", Outcome: billsync.OutcomeConflict, Reason: billsync.ReasonStale})
	b := e.browser()
	b.login(adminToken)

	p := b.get("/console/logs?outcome=failed&limit=4")
	if p.status != 200 {
		t.Fatalf("filtered log: %d\n%s", p.status, p.body)
	}
	p.mustHave(t, "entry 27", "entry 18", `<option value="failed" selected>`, `value="4"`)
	p.mustLack(t, "entry 28", "entry 15", "First page")
	next := regexp.MustCompile(`href="(/console/logs\?[^"]*cursor=[^"]*)">Next page`).FindStringSubmatch(p.body)
	if next == nil {
		t.Fatalf("no next page link:\n%s", p.body)
	}
	p = b.get(strings.ReplaceAll(next[1], "&amp;", "&"))
	p.mustHave(t, "entry 15", "entry 06", "First page", `<option value="failed" selected>`)
	p.mustLack(t, "entry 18", "entry 16")

	p = b.get("/console/logs?object=balance")
	p.mustHave(t, "bal_1", "Salesforce → billing", billsync.ReasonStale)
	p.mustLack(t, "acc_01")

	// Direction and reason narrow it, and the form keeps them.
	p = b.get("/console/logs?direction=salesforce_to_billing&reason=stale")
	p.mustHave(t, "bal_1", `<option value="stale" selected>`, `<option value="salesforce_to_billing" selected>`)
	p.mustLack(t, "acc_01")
	b.get("/console/logs?direction=sideways").mustHave(t, `direction &#34;sideways&#34;`)
	p = b.get("/console/logs?record=acc_07")
	p.mustHave(t, "entry 07")
	p.mustLack(t, "entry 08")

	if p := b.get("/console/logs?outcome=bogus"); p.status != 400 || !strings.Contains(p.body, "unknown outcome") {
		t.Errorf("bad outcome: %d\n%s", p.status, p.body)
	}
}

func TestRecordHistoryBothDirections(t *testing.T) {
	e := newEnv(t)
	e.logs(
		billsync.LogEntry{Time: start, Direction: billsync.ToSalesforce, Object: billsync.ObjectAccount, BillingID: "acc_1",
			SalesforceID: "001AAA", Operation: "create", Outcome: billsync.OutcomeSuccess, Message: "created in Salesforce"},
		billsync.LogEntry{Time: start.Add(time.Minute), Direction: billsync.ToBilling, Object: billsync.ObjectAccount, BillingID: "acc_1",
			SalesforceID: "001AAA", Operation: "update", Outcome: billsync.OutcomeSuccess, Message: "name from Salesforce"},
		billsync.LogEntry{Time: start.Add(2 * time.Minute), Direction: billsync.ToSalesforce, Object: billsync.ObjectAccount, BillingID: "acc_2",
			Operation: "create", Outcome: billsync.OutcomeSuccess, Message: "another record"},
	)
	b := e.browser()
	b.login(adminToken)
	p := b.get("/console/records/acc_1")
	p.mustHave(t, "History of <code>acc_1</code>", "created in Salesforce", "name from Salesforce",
		"billing → Salesforce", "Salesforce → billing", `href="/console/records/001AAA"`,
		`href="https://billing.example/accounts/acc_1"`, "Open acc_1 in billing",
		`href="https://acme.my.salesforce.com/lightning/r/001AAA/view"`, "Open 001AAA in Salesforce")
	p.mustLack(t, "another record")
	b.get("/console/records/001AAA").mustHave(t, "created in Salesforce", "name from Salesforce", `href="/console/records/acc_1"`)
}

func TestConflictResolveThroughTheUI(t *testing.T) {
	e := newEnv(t)
	id := e.heldConflict("acc_7")
	b := e.browser()
	b.login(adminToken)

	list := b.get("/console/conflicts")
	list.mustHave(t, fmt.Sprintf(`href="/console/conflicts/%d"`, id), "acc_7", "name, creditLimit", "held")

	p := b.get(fmt.Sprintf("/console/conflicts/%d", id))
	p.mustHave(t, "Agreed base", "<th scope=\"row\">name</th><td><code>Acme Ltd</code></td><td><code>Acme Billing Ltd</code></td><td><code>Acme Sales Ltd</code></td>",
		"<code>100.00</code></td><td><code>250.00</code></td><td><code>300.00</code>",
		`<label for="w-billing">`, `<label for="w-salesforce">`)

	// No winner chosen: the API refuses, the operator reads why.
	p = b.post(fmt.Sprintf("/console/conflicts/%d/resolve", id), url.Values{"csrf": {p.csrf(t)}})
	p.mustHave(t, `class="flash error"`, "winner")
	p = b.post(fmt.Sprintf("/console/conflicts/%d/resolve", id), url.Values{"csrf": {p.csrf(t)}, "winner": {"salesforce"}})
	p.mustHave(t, "resolved: Salesforce&#39;s values win")
	p.mustLack(t, `name="winner"`)
	c, err := e.store.Conflict(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != billsync.ConflictResolved || c.Winner != billsync.SideSalesforce || c.ResolvedBy != "ops" {
		t.Errorf("after resolving: %+v", c)
	}
	b.get("/console/conflicts").mustHave(t, "No conflicts.")
	b.get("/console/conflicts?status=resolved").mustHave(t, "acc_7", "salesforce won")

	// Resolving again: the API says it is not held any more.
	p = b.post(fmt.Sprintf("/console/conflicts/%d/resolve", id), url.Values{"csrf": {p.csrf(t)}, "winner": {"billing"}})
	p.mustHave(t, `class="flash error"`)
	if p := b.get("/console/conflicts/999"); p.status != 404 {
		t.Errorf("unknown conflict: %d", p.status)
	}
}

func TestDeadLetterRetryAndDiscardThroughTheUI(t *testing.T) {
	e := newEnv(t)
	keep := e.bury("acc_1")
	drop := e.bury("acc_2")
	b := e.browser()
	b.login(adminToken)

	p := b.get("/console/deadletters")
	p.mustHave(t, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", "acc_1", "acc_2",
		"<summary>Payload</summary>", `{&#34;id&#34;:&#34;acc_1&#34;,&#34;name&#34;:`,
		fmt.Sprintf(`action="/console/deadletters/%d/retry"`, keep), fmt.Sprintf(`aria-label="Discard dead letter %d"`, drop))
	p.mustLack(t, "<b>Acme")
	p = b.post(fmt.Sprintf("/console/deadletters/%d/retry", keep), url.Values{"csrf": {p.csrf(t)}})
	p.mustHave(t, fmt.Sprintf("Dead letter %d is queued again.", keep))
	if q := e.store.Queued(); len(q) != 1 || q[0].RecordID != "acc_1" || q[0].EventID != "webhook:1" {
		t.Errorf("queued after retry: %+v", q)
	}
	p = b.post(fmt.Sprintf("/console/deadletters/%d/discard", drop), url.Values{"csrf": {p.csrf(t)}})
	p.mustHave(t, fmt.Sprintf("Dead letter %d discarded", drop), "No dead letters.")
	if dl, _ := e.store.DeadLetters(context.Background(), 10); len(dl) != 0 {
		t.Errorf("dead letters left: %+v", dl)
	}
	// The discard is in the sync log under the session's token name.
	b.get("/console/logs").mustHave(t, "discarded by ops")
	// Retrying what is gone: the API's message.
	p = b.post(fmt.Sprintf("/console/deadletters/%d/retry", drop), url.Values{"csrf": {p.csrf(t)}})
	p.mustHave(t, `class="flash error"`, fmt.Sprintf("no dead letter %d", drop))
}

func TestSettingsAndHeldRunsThroughTheUI(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	run := &billsync.HeldRun{Kind: billsync.HeldKindResync, Job: "rs_1", Object: billsync.ObjectAccount,
		Guard: billsync.GuardCheck{Object: billsync.ObjectAccount, Total: 10, Overwrites: 8, Held: true,
			DeleteLimit: billsync.DefaultGuardLimit, OverwriteLimit: billsync.DefaultGuardLimit,
			Reasons: []string{"would overwrite 8 of 10 account records; guard.overwrites.account allows 1 (10%, at most 500)"}},
		Sample: []billsync.HeldRecord{{Op: billsync.GuardOverwrite, BillingID: "acc_8", SalesforceID: "a01", Action: "reconcile fields",
			Fields: []billsync.HeldField{{Field: "name", Side: billsync.SideSalesforce, Old: "Acme", New: "Wrong"}}}}}
	if err := e.store.HoldRun(ctx, run, []*billsync.Change{{Partition: "account:acc_8", Source: billsync.SideBilling,
		Object: billsync.ObjectAccount, Op: billsync.OpResync, RecordID: "acc_8", EventID: "resync:1"}}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	b.login(adminToken)
	p := b.get("/console/settings")
	p.mustHave(t, "<code>sync.enabled</code>", `<label class="sr-only" for="s-sync.enabled">`, `value="true"`,
		"master switch for all auto-sync", fmt.Sprintf(`action="/console/held/%d/approve"`, run.ID),
		`<td data-label="Overwrites">8 (limit 10%, at most 500)</td>`, "would overwrite 8 of 10 account records",
		"Sample of 1", `overwrite acc_8 / a01: name &#34;Acme&#34; → &#34;Wrong&#34; (in salesforce)`)

	p = b.post("/console/settings/sync.enabled", url.Values{"csrf": {p.csrf(t)}, "value": {"false"}})
	p.mustHave(t, "sync.enabled is now false.", "ops, 2026-03-04 12:00:00 UTC")
	p = b.post("/console/settings/conflicts.account", url.Values{"csrf": {p.csrf(t)}, "value": {"manual"}})
	p.mustHave(t, `conflicts.account is now &#34;manual&#34;.`)
	p = b.post("/console/settings/sync.enabled", url.Values{"csrf": {p.csrf(t)}, "value": {"maybe"}})
	p.mustHave(t, `class="flash error"`)
	got := billsync.NewSettings(mustSettings(t, e))
	if got.Bool(billsync.KeySyncEnabled) || got.ConflictPolicy(billsync.ObjectAccount) != billsync.PolicyManual {
		t.Errorf("settings after the UI changed them: %s", got)
	}
	audit, _ := e.store.Audit(ctx, 10)
	if len(audit) != 2 || audit[0].Actor != "ops" {
		t.Errorf("audit: %+v", audit)
	}

	p = b.post(fmt.Sprintf("/console/held/%d/approve", run.ID), url.Values{"csrf": {p.csrf(t)}})
	p.mustHave(t, fmt.Sprintf("Held run %d approved", run.ID), "No runs waiting.")
	if r, _ := e.store.HeldRun(ctx, run.ID); r.State != billsync.HeldApproved || r.DecidedBy != "ops" {
		t.Errorf("held run after approval: %+v", r)
	}
	if q := e.store.Queued(); len(q) != 1 || q[0].RecordID != "acc_8" {
		t.Errorf("queued after approval: %+v", q)
	}
}

func mustSettings(t *testing.T, e *env) []billsync.Setting {
	t.Helper()
	s, err := e.store.Settings(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLocalURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:8080": "http://127.0.0.1:8080",
		"0.0.0.0:8080":   "http://127.0.0.1:8080",
		"[::]:8080":      "http://127.0.0.1:8080",
		"10.1.2.3:9000":  "http://10.1.2.3:9000",
		"[::1]:8080":     "http://[::1]:8080",
	} {
		a, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := console.LocalURL(a); got != want {
			t.Errorf("LocalURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

// Behind a TLS-terminating proxy that says so, the cookie is Secure.
func TestSecureCookieBehindAProxy(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	lp := b.get("/console/login")
	req, _ := http.NewRequest("POST", e.ts.URL+"/console/login",
		strings.NewReader(url.Values{"csrf": {lp.csrf(t)}, "token": {adminToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Forwarded-Proto", "https")
	for _, c := range b.hc.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	found := false
	for _, c := range res.Cookies() {
		if c.Name == "billsync_session" {
			found = true
			if !c.Secure {
				t.Error("session cookie not Secure behind an https proxy")
			}
		}
	}
	if !found {
		t.Fatalf("no session cookie (status %d)", res.StatusCode)
	}
}

// The console takes what no other route takes, and nothing of the API.
func TestConsoleLeavesTheAPIAlone(t *testing.T) {
	e := newEnv(t)
	b := e.browser()
	b.login(adminToken)
	p := b.get("/api/v1/nothing-here")
	if p.status != 401 || strings.Contains(p.body, "<html") {
		t.Errorf("unknown API path with a console session: %d %s", p.status, p.body)
	}
	for _, path := range []string{"/healthz", "/metrics"} {
		if p := b.get(path); p.status != 200 || strings.Contains(p.body, "<html") {
			t.Errorf("%s: %d", path, p.status)
		}
	}
}

// The overview shows the billing platform by name and, with a quote
// source of its own (billing.quotes), that connection beside it: a
// failing quote source is seen as failing, not hidden behind a healthy
// billing platform.
func TestOverviewShowsTheQuoteSource(t *testing.T) {
	e := newEnvWithStatus(t, func(c *status.Config) {
		c.Billing, c.BillingPlatform = func(context.Context) error { return nil }, "m3ter"
		c.Quotes = func(context.Context) error {
			return billsync.Errorf(billsync.EUNAUTHORIZED, "monetizenow: the token was refused")
		}
		c.QuotesPlatform = "monetizenow"
	})
	e.status.Sample(context.Background())
	p := e.browser().login(adminToken)
	p.mustHave(t, `<span class="label">Billing connection (m3ter)</span>`, "answering",
		`<span class="label">Quote source (monetizenow)</span>`, "failing", "the token was refused")

	plain := newEnvWithStatus(t, func(c *status.Config) {
		c.Billing, c.BillingPlatform = func(context.Context) error { return nil }, "contract"
	})
	plain.status.Sample(context.Background())
	p = plain.browser().login(adminToken)
	p.mustHave(t, `<span class="label">Billing connection (contract)</span>`)
	p.mustLack(t, "Quote source")
}
