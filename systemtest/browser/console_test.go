package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/faults"
	"github.com/billsync/billsync/sandbox"
)

// console is one browser on the console of one running sandbox; its
// steps run in order as subtests, each building on the last.
type console struct {
	*world
	b *browser
}

// run runs step as a subtest: the shared world and browser report to it.
func (c *console) run(t *testing.T, name string, step func(t *testing.T)) bool {
	t.Helper()
	return t.Run(name, func(st *testing.T) {
		c.world.t, c.b.t = st, st
		defer func() { c.world.t, c.b.t = t, t }()
		step(st)
	})
}

// TestConsole drives the web console in headless Chromium through an
// operator's day: log in with the keyboard, watch a billing change reach
// the sync log, resolve a conflict, retry a dead letter, look as a read
// token, flip a switch, run a dry-run resync, and see that every page
// fits a desktop and a phone and passes the basic accessibility checks.
// One browser and one sandbox serve every step.
func TestConsole(t *testing.T) {
	path := requireChromium(t)
	c := &console{world: startWorld(t)}
	c.b = newBrowser(t, path)
	c.quiesce()

	if !c.run(t, "Login", c.login) {
		t.FailNow() // every later step needs the session
	}
	c.run(t, "SyncLog", c.syncLog)
	c.run(t, "Screenshot", c.screenshot)
	c.run(t, "Conflict", c.conflict)
	c.run(t, "DeadLetter", c.deadLetter)
	c.run(t, "ReadOnly", c.readOnly)
	c.run(t, "Settings", c.settings)
	c.run(t, "Resync", c.resync)
	c.run(t, "Pages", c.pages)
}

// login checks the login page, then logs in with the keyboard alone:
// the token typed and Enter pressed.
func (c *console) login(t *testing.T) {
	c.b.checkPage(c.url + "/console/login")
	c.logIn(sandbox.AdminToken, "admin")
}

func (c *console) logIn(token, role string) {
	c.b.t.Helper()
	c.b.do("opening the login form", chromedp.Navigate(c.url+"/"), chromedp.WaitVisible(chromedp.CSS("#token")))
	c.b.load("logging in with Enter", chromedp.SendKeys(chromedp.CSS("#token"), token+kb.Enter))
	c.b.do("waiting for the console", chromedp.WaitVisible(chromedp.CSS(`nav[aria-label="Console"]`)))
	if got := c.b.text(".role"); got != role {
		c.b.fatalf("logged in as %q, want %q", got, role)
	}
	if h := c.b.text("main h1"); h != "Overview" {
		c.b.fatalf("after login the page is %q, want the overview", h)
	}
}

func (c *console) logOut() {
	c.b.t.Helper()
	c.b.load("logging out", chromedp.Click(chromedp.CSS(`form.logout button`)))
	c.b.do("waiting for the login form", chromedp.WaitVisible(chromedp.CSS("#token")))
}

// syncLog: an account created in billing shows in the sync log, found
// with the page's filter, as a success that names its Salesforce id; its
// link leads to the record's history.
func (c *console) syncLog(t *testing.T) {
	acc := c.create(billsync.ObjectAccount, billsync.Entity{"code": "BROWSER", "name": "Browser Test Inc", "currency": "USD"})
	c.b.do("opening the sync log", chromedp.Navigate(c.url+"/console/logs"), chromedp.SendKeys(chromedp.CSS("#f-record"), acc.ID()))
	c.b.load("filtering it by record", chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`)))
	loc := eval[string](c.b, "location.href")
	if !strings.Contains(loc, "record="+acc.ID()) {
		c.b.fatalf("the filter led to %s, want record=%s in it", loc, acc.ID())
	}
	c.b.reloadUntil("the account's successful sync", loc,
		fmt.Sprintf(`[...document.querySelectorAll("tr.outcome-success")].some(r => r.textContent.includes(%q))`, acc.ID()))
	rec := c.sfRecord("BillingAccount__c", acc.ID(), nil)
	row := c.b.text("tr.outcome-success")
	if !strings.Contains(row, rec.ID()) || !strings.Contains(row, "billing → Salesforce") {
		c.b.fatalf("the success row %q does not name the Salesforce record %s and the direction", row, rec.ID())
	}
	c.b.load("opening the record's history",
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`tr.outcome-success a[href="/console/records/%s"]`, acc.ID()))))
	if h := c.b.text("main h1 code"); h != acc.ID() {
		c.b.fatalf("the history page is of %q, want %s", h, acc.ID())
	}
	c.b.checkPage(eval[string](c.b, "location.href"))
}

// conflict: with conflicts.account manual, an account edited on both
// sides is held; the operator picks Salesforce's values on the
// conflict's page, and the admin API and billing show it applied.
func (c *console) conflict(t *testing.T) {
	ctx := context.Background()
	c.setSetting(billsync.PrefixConflicts+string(billsync.ObjectAccount), billsync.PolicyManual)
	acc, rec := c.syncedAccount("CONFLICT")
	c.whileDown(func() {
		c.salesUpdate("BillingAccount__c", billsync.SObject{"Id": rec.ID(), "Name": "From Salesforce"})
		c.billingUpdate(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) { e["name"] = "From billing" })
	})
	var held billsync.Conflict
	c.eventually("a held conflict", func() (bool, string) {
		cs, _, err := c.admin.Conflicts(ctx, billsync.ConflictFilter{Record: acc.ID(), Status: billsync.ConflictHeld})
		if err != nil || len(cs) == 0 {
			return false, fmt.Sprint(len(cs), err)
		}
		held = cs[0]
		return true, ""
	})
	// Sessions live in billsync's memory: the restart logged us out.
	c.logIn(sandbox.AdminToken, "admin")
	c.b.do("opening the conflicts", chromedp.Navigate(c.url+"/console/conflicts"))
	c.b.load("opening the conflict from the list", chromedp.Click(chromedp.CSS(fmt.Sprintf(`a[href="/console/conflicts/%d"]`, held.ID))))
	c.b.do("waiting for the choice of winner", chromedp.WaitVisible(chromedp.CSS("#w-salesforce")))
	c.b.checkPage(fmt.Sprintf("%s/console/conflicts/%d", c.url, held.ID))
	c.b.do("choosing Salesforce's values", chromedp.Click(chromedp.CSS(`label[for="w-salesforce"]`)))
	c.b.load("resolving", chromedp.Click(chromedp.CSS(`form[action$="/resolve"] button[type="submit"]`)))
	if f := c.b.text(".flash"); !strings.Contains(f, "resolved") {
		c.b.fatalf("after resolving, the page says %q", f)
	}
	// The decision is queued and applied like any change: the conflict
	// stays held until then.
	c.b.reloadUntil("the conflict resolved", fmt.Sprintf("%s/console/conflicts/%d", c.url, held.ID),
		`document.querySelector(".facts .badge").textContent === "resolved" && !document.querySelector('form[action$="/resolve"]')`)
	got, err := c.admin.Conflict(ctx, held.ID)
	if err != nil || got.Status != billsync.ConflictResolved || got.Winner != billsync.SideSalesforce {
		t.Fatalf("the admin API shows conflict %d as %+v (%v), want resolved with salesforce winning", held.ID, got, err)
	}
	c.eventually("Salesforce's name in billing", func() (bool, string) {
		e, err := c.billing.Get(ctx, billsync.ObjectAccount, acc.ID())
		return err == nil && e.Str("name") == "From Salesforce", fmt.Sprint(e.Str("name"), err)
	})
}

// deadLetter: a permanent Salesforce error makes a billing change a dead
// letter; once the fault is gone, Retry on the dead-letter page queues it
// again and it syncs.
func (c *console) deadLetter(t *testing.T) {
	ctx := context.Background()
	c.quiesce()
	cfg, err := faults.Parse("refuse:path=/services/data/,method=PATCH,status=400,code=FIELD_CUSTOM_VALIDATION_EXCEPTION,msg=refused by a validation rule")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.sb.SFFaults.Apply(cfg); err != nil {
		t.Fatal(err)
	}
	acc := c.create(billsync.ObjectAccount, billsync.Entity{"code": "DEAD", "name": "Dead Letter Ltd", "currency": "USD"})
	var dead billsync.DeadLetter
	c.eventually("a dead letter", func() (bool, string) {
		dls, err := c.admin.DeadLetters(ctx)
		for _, d := range dls {
			if d.RecordID == acc.ID() {
				dead = d
				return true, ""
			}
		}
		return false, fmt.Sprint(len(dls), err)
	})
	if err := c.sb.SFFaults.Apply(faults.Config{}); err != nil {
		t.Fatal(err)
	}
	retry := fmt.Sprintf(`button[aria-label="Retry dead letter %d"]`, dead.ID)
	c.b.do("opening the dead letters", chromedp.Navigate(c.url+"/console/deadletters"), chromedp.WaitVisible(chromedp.CSS(retry)))
	c.b.checkPage(c.url + "/console/deadletters")
	if row := c.b.text(fmt.Sprintf(`tr:has(%s)`, retry)); !strings.Contains(row, "FIELD_CUSTOM_VALIDATION_EXCEPTION") {
		c.b.fatalf("the dead letter's row %q does not show its error code", row)
	}
	c.b.load("retrying it", chromedp.Click(chromedp.CSS(retry)))
	if f := c.b.text(".flash"); !strings.Contains(f, "queued again") {
		c.b.fatalf("after Retry the page says %q", f)
	}
	c.sfRecord("BillingAccount__c", acc.ID(), nil)
	dls, err := c.admin.DeadLetters(ctx)
	for _, d := range dls {
		if d.ID == dead.ID || err != nil {
			t.Fatalf("dead letter %d is still there after its retry synced (%v)", dead.ID, err)
		}
	}
}

// readOnly: a read token sees the pages but no control that changes
// anything.
func (c *console) readOnly(t *testing.T) {
	c.logOut()
	c.logIn(readToken, "read only")
	for _, p := range []string{"/console/settings", "/console/deadletters", "/console/conflicts"} {
		c.b.do("loading "+p, chromedp.Navigate(c.url+p), chromedp.WaitVisible(chromedp.CSS("main h1")))
		if n := eval[int](c.b, `document.querySelectorAll('main form[method="post"]').length`); n != 0 {
			c.b.fatalf("%s shows a read token %d forms that change things", p, n)
		}
	}
	c.logOut()
	c.logIn(sandbox.AdminToken, "admin")
}

// settings: switching quote sync off on the settings page is what the
// admin API then reports, and the change is in the page's audit.
func (c *console) settings(t *testing.T) {
	field := fmt.Sprintf(`[id="s-%s"]`, billsync.KeySyncQuotes)
	c.b.do("switching quote sync off",
		chromedp.Navigate(c.url+"/console/settings"),
		chromedp.WaitVisible(chromedp.CSS(field)),
		chromedp.Clear(chromedp.CSS(field)),
		chromedp.SendKeys(chromedp.CSS(field), "false"))
	c.b.load("saving it", chromedp.Click(chromedp.CSS(fmt.Sprintf(`form[action="/console/settings/%s"] button`, billsync.KeySyncQuotes))))
	if f := c.b.text(".flash"); !strings.Contains(f, "false") {
		c.b.fatalf("after saving, the page says %q", f)
	}
	s, err := c.admin.Setting(context.Background(), billsync.KeySyncQuotes)
	if err != nil || string(s.Value) != "false" || s.UpdatedBy != sandbox.AdminName {
		t.Fatalf("the admin API shows %s = %s set by %q (%v), want false set by %s", billsync.KeySyncQuotes, s.Value, s.UpdatedBy, err, sandbox.AdminName)
	}
}

// resync: a dry-run resync of accounts started on the resync page shows
// its report there, and the admin API has the same run, done, changing
// nothing.
func (c *console) resync(t *testing.T) {
	resp, err := http.Get(c.url + "/console/resync")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		t.Skip("this build's console has no resync page (GET /console/resync is 404)")
	}
	// A billing edit made while account sync is off is a difference
	// only a resync finds.
	acc, rec := c.syncedAccount("RESYNC")
	c.setSetting(billsync.KeySyncAccounts, false)
	c.billingUpdate(billsync.ObjectAccount, acc.ID(), func(e billsync.Entity) { e["name"] = "Renamed while sync was off" })
	c.quiesce()
	c.setSetting(billsync.KeySyncAccounts, true)
	c.b.do("starting a dry-run resync of accounts",
		chromedp.Navigate(c.url+"/console/resync"),
		chromedp.WaitVisible(chromedp.CSS("#rs-object")),
		chromedp.SetValue(chromedp.CSS("#rs-object"), string(billsync.ObjectAccount)))
	if !eval[bool](c.b, `document.querySelector("#rs-dry").checked`) {
		c.b.fatalf("the resync form does not start as a dry run")
	}
	c.b.load("submitting it", chromedp.Click(chromedp.CSS(`form[action="/console/resync"] button[type="submit"]`)))
	loc := eval[string](c.b, "location.href")
	id := loc[strings.LastIndex(loc, "/")+1:]
	c.b.reloadUntil("the resync's report", loc, `document.querySelector(".facts .badge").textContent === "done"`)
	if facts := c.b.text(".facts"); !strings.Contains(facts, "dry run") || !strings.Contains(facts, string(billsync.ObjectAccount)) {
		c.b.fatalf("the report says %q, want a dry run of accounts", facts)
	}
	if row := c.b.text(fmt.Sprintf(`tr:has(a[href="/console/records/%s"])`, acc.ID())); !strings.Contains(row, billsync.DiffFields) {
		c.b.fatalf("the report's row of %s is %q, want %s", acc.ID(), row, billsync.DiffFields)
	}
	if r, _ := c.sb.SF.Record("BillingAccount__c", rec.ID()); r.Str("Name") != rec.Str("Name") {
		t.Fatalf("the dry run changed Salesforce: Name %q, was %q", r.Str("Name"), rec.Str("Name"))
	}
	rep, err := c.admin.Resync(context.Background(), id)
	if err != nil || rep.State != "done" || !rep.Request.DryRun || rep.Repairs != 0 {
		t.Fatalf("the admin API has resync %s as %+v (%v), want a done dry run with no repairs", id, rep, err)
	}
	c.b.checkPage(loc)
}

// pages: every page fits both viewports and passes the accessibility
// checks (the ones with their own state are checked in their steps).
func (c *console) pages(t *testing.T) {
	for _, p := range []string{"/", "/console/logs", "/console/conflicts", "/console/conflicts?status=resolved",
		"/console/deadletters", "/console/settings", "/console/resync", "/console/no-such-page"} {
		c.b.checkPage(c.url + p)
	}
}

// screenshot writes docs/console.png, the overview after a sync at
// 1280x800, when BILLSYNC_UPDATE_SCREENSHOT=1.
func (c *console) screenshot(t *testing.T) {
	if os.Getenv("BILLSYNC_UPDATE_SCREENSHOT") != "1" {
		t.Skip("set BILLSYNC_UPDATE_SCREENSHOT=1 to write docs/console.png")
	}
	c.quiesce()
	c.b.viewport(desktop)
	c.b.do("loading the overview", chromedp.Navigate(c.url+"/"), chromedp.WaitVisible(chromedp.CSS("main table")))
	ctx, cancel := context.WithTimeout(c.b.tab, stepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		c.b.fatalf("screenshot: %v", err)
	}
	out := filepath.Join("..", "..", "docs", "console.png")
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", out, len(png))
}
