package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/pgstore"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/sandbox"
)

// afterKill bounds the waits once a replica has been killed: a change the
// dead replica had claimed stays claimed until its lease runs out, and
// the stream's lease must lapse before another replica subscribes.
const afterKill = 4 * time.Minute

// replica is one `billsync serve` child process sharing the test's
// PostgreSQL schema with the others.
type replica struct {
	name   string
	cmd    *exec.Cmd
	url    string
	logf   string
	sf     *streamWatch // its own way into Salesforce, to see its stream traffic
	killed atomic.Bool
}

// streamWatch proxies one replica's Salesforce traffic and records when
// its streaming (CometD) requests ran, to show which replica consumed the
// event stream when.
type streamWatch struct {
	url string

	mu    sync.Mutex
	spans []span
}

// span is one CometD request; end is zero while it runs.
type span struct{ start, end time.Time }

func (w *streamWatch) begin() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.spans = append(w.spans, span{start: time.Now()})
	return len(w.spans) - 1
}

func (w *streamWatch) finish(i int) {
	w.mu.Lock()
	w.spans[i].end = time.Now()
	w.mu.Unlock()
}

// snapshot returns the spans so far, running ones ending now.
func (w *streamWatch) snapshot() []span {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := slices.Clone(w.spans)
	for i := range out {
		if out[i].end.IsZero() {
			out[i].end = time.Now()
		}
	}
	return out
}

// startStreamWatch serves a reverse proxy to the Salesforce emulator. The
// emulator answers logins with the Host it was asked on (its base URL is
// cleared), so the replica's REST and CometD calls come back through here.
func startStreamWatch(t *testing.T, sfURL string) *streamWatch {
	t.Helper()
	target, err := url.Parse(sfURL)
	if err != nil {
		t.Fatal(err)
	}
	w := &streamWatch{}
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the Host header
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0) // a killed replica's requests end mid-flight
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/cometd/") {
			rp.ServeHTTP(rw, r)
			return
		}
		i := w.begin()
		defer w.finish(i)
		rp.ServeHTTP(rw, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	w.url = "http://" + ln.Addr().String()
	return w
}

// roundRobin stands where the billing emulator delivers webhooks and
// spreads them over the replicas, as a load balancer without health checks
// would: a delivery to a dead replica fails with 502 and the emulator
// retries it, reaching another replica.
type roundRobin struct {
	next     atomic.Uint64
	backends []*httputil.ReverseProxy
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := rr.next.Add(1) % uint64(len(rr.backends))
	rr.backends[i].ServeHTTP(w, r)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startReplica runs `billsync serve` on addr against dsn, modelled on
// startChild, with its Salesforce traffic through its own streamWatch.
func (h *harness) startReplica(name, addr, dsn string) *replica {
	h.t.Helper()
	r := &replica{name: name, url: "http://" + addr, sf: startStreamWatch(h.t, h.sb.SFURL)}
	dir := h.t.TempDir()
	r.logf = filepath.Join(dir, "billsync.log")
	logFile, err := os.Create(r.logf)
	if err != nil {
		h.t.Fatal(err)
	}
	defer logFile.Close()
	r.cmd = exec.Command(os.Args[0], "-test.run=^$")
	r.cmd.Env = append(os.Environ(),
		"BILLSYNC_E2E_CHILD_ARGS=serve --log-level warn",
		"BILLSYNC_ADDR="+addr,
		"BILLSYNC_DATABASE="+dsn,
		"BILLSYNC_DATA="+filepath.Join(dir, "data"),
		// Honoured once the runner's claim lease is configurable; until
		// then a killed replica's claims wait out the default lease.
		"BILLSYNC_CLAIM_LEASE=10s",
		"BILLSYNC_SUBSCRIPTION_LEASE=3s",
		"BILLSYNC_SALESFORCE_LOGIN_URL="+r.sf.url,
		"BILLSYNC_SALESFORCE_STREAM=cometd", // the emulator here serves no Pub/Sub API
		"BILLSYNC_SALESFORCE_GRANT=password",
		"BILLSYNC_SALESFORCE_CLIENT_ID="+sfemu.DefaultClientID,
		"BILLSYNC_SALESFORCE_CLIENT_SECRET="+sfemu.DefaultClientSecret,
		"BILLSYNC_SALESFORCE_USERNAME="+sfemu.IntegrationUsername,
		"BILLSYNC_SALESFORCE_PASSWORD="+sfemu.IntegrationPassword,
		"BILLSYNC_BILLING_URL="+h.sb.BillingURL,
		"BILLSYNC_BILLING_TOKEN="+sandbox.BillingToken,
		"BILLSYNC_BILLING_WEBHOOK_SECRET="+sandbox.WebhookSecret,
		"BILLSYNC_ADMIN_TOKENS="+sandbox.AdminName+"="+sandbox.AdminToken,
	)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(r.kill)
	h.t.Cleanup(func() {
		if h.t.Failed() {
			b, _ := os.ReadFile(r.logf)
			h.t.Logf("replica %s (pid %d) log:\n%s", r.name, r.cmd.Process.Pid, tail(string(b), 4000))
		}
	})
	h.eventually("replica "+name+" ready", func() (bool, string) {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return r
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func (r *replica) kill() {
	if r.cmd.Process != nil && r.cmd.ProcessState == nil {
		r.killed.Store(true)
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		_ = r.cmd.Wait()
	}
}

// waitUntil polls cond until it holds or d passes; unlike
// harness.eventually it may run on any goroutine.
func waitUntil(d time.Duration, what string, cond func() (bool, string)) error {
	end := time.Now().Add(d)
	last := ""
	for time.Now().Before(end) {
		ok, why := cond()
		if ok {
			return nil
		}
		last = why
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("timed out waiting for %s: %s", what, last)
}

// TestReplicas: three replicas on one PostgreSQL database, a burst of
// changes across many accounts, the replica holding the event stream
// killed (SIGKILL) mid-run. Afterwards every change was applied exactly
// once, per-account order held, and only one replica consumed the event
// stream at any time.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-replica crash test: skipped in -short mode")
	}
	dsn := pgtest.DSN(t) // skips without BILLSYNC_TEST_POSTGRES_DSN
	t.Parallel()
	h := startHarness(t, sandbox.Options{NoApp: true})
	ctx := context.Background()
	// Logins answer with the Host asked, so each replica's streamWatch
	// sees its own traffic.
	h.sb.SF.SetBaseURL("")

	// The address billing delivers webhooks to is taken at once: the
	// sandbox only reserved it, and the replicas and proxies started
	// below take ports of their own.
	ln, err := net.Listen("tcp", h.sb.AppAddr)
	if err != nil {
		t.Fatalf("listen on billsync's webhook address: %v", err)
	}
	// Three replicas behind the address billing delivers webhooks to.
	var replicas []*replica
	rr := &roundRobin{}
	for i := range 3 {
		addr := freeAddr(t)
		target, _ := url.Parse("http://" + addr)
		p := httputil.NewSingleHostReverseProxy(target)
		p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
		rr.backends = append(rr.backends, p)
		replicas = append(replicas, h.startReplica(fmt.Sprintf("r%d", i), addr, dsn))
	}
	lb := &http.Server{Handler: rr, ReadHeaderTimeout: 10 * time.Second}
	go lb.Serve(ln)
	t.Cleanup(func() { lb.Close() })

	// Accounts, each synced before the run: stepwise ones are updated one
	// version at a time (each waits for the previous in Salesforce, so no
	// two versions can be folded into one write); burst ones get all their
	// versions back to back; sales ones are edited in Salesforce.
	const stepwise, burst, sales, versions, edits = 12, 12, 4, 4, 3
	type account struct {
		kind string
		ent  billsync.Entity
		sfID string
	}
	var accounts []*account
	for i := range stepwise + burst + sales {
		kind := "step"
		switch {
		case i >= stepwise+burst:
			kind = "sales"
		case i >= stepwise:
			kind = "burst"
		}
		e := h.create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("R%02d", i), "name": fmt.Sprintf("%s %d v0", kind, i), "currency": "USD"})
		accounts = append(accounts, &account{kind: kind, ent: e})
	}
	for _, a := range accounts {
		a.sfID = h.sfRecord("BillingAccount__c", a.ent.ID(), nil).ID()
	}

	// The replica holding the subscription's lease is the one to kill.
	db, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var victim *replica
	h.eventually("a replica holding the event subscription", func() (bool, string) {
		victim = leaseHolder(t, dsn, replicas)
		return victim != nil && len(victim.sf.snapshot()) > 0, fmt.Sprintf("holder %v", victim)
	})

	// The run: every account's changes at once, and the victim killed once
	// a third of the stepwise versions are in Salesforce.
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		errs     []error
		stepped  atomic.Int64
		killedAt time.Time
	)
	fail := func(err error) {
		errMu.Lock()
		errs = append(errs, err)
		errMu.Unlock()
	}
	update := func(a *account, name string) error {
		cur, err := h.billing.Get(ctx, billsync.ObjectAccount, a.ent.ID())
		if err != nil {
			return err
		}
		cur["name"] = name
		_, err = h.billing.Update(ctx, billsync.ObjectAccount, cur)
		return err
	}
	sfName := func(a *account) func() (bool, string) {
		return func() (bool, string) {
			r, _ := h.sb.SF.Record("BillingAccount__c", a.sfID)
			return false, r.Str("Name")
		}
	}
	for i, a := range accounts {
		wg.Go(func() {
			switch a.kind {
			case "step":
				for v := 1; v <= versions; v++ {
					want := fmt.Sprintf("step %d v%d", i, v)
					if err := update(a, want); err != nil {
						fail(fmt.Errorf("account %d: update to v%d: %w", i, v, err))
						return
					}
					err := waitUntil(afterKill, fmt.Sprintf("account %d v%d in Salesforce", i, v), func() (bool, string) {
						_, got := sfName(a)()
						return got == want, got
					})
					if err != nil {
						fail(err)
						return
					}
					stepped.Add(1)
				}
			case "burst":
				for v := 1; v <= versions; v++ {
					if err := update(a, fmt.Sprintf("burst %d v%d", i, v)); err != nil {
						fail(fmt.Errorf("account %d: update to v%d: %w", i, v, err))
						return
					}
				}
			case "sales":
				for e := 1; e <= edits; e++ {
					want := fmt.Sprintf("sales %d e%d", i, e)
					res, err := h.sales.Update(ctx, "BillingAccount__c", []billsync.SObject{{"Id": a.sfID, "Name": want}})
					if err != nil || len(res) != 1 || !res[0].Success {
						fail(fmt.Errorf("account %d: sales edit %d: %v %+v", i, e, err, res))
						return
					}
					err = waitUntil(afterKill, fmt.Sprintf("account %d edit %d in billing", i, e), func() (bool, string) {
						cur, ok := h.sb.Billing.Get(billsync.ObjectAccount, a.ent.ID())
						return ok && cur.Str("name") == want, cur.Str("name")
					})
					if err != nil {
						fail(err)
						return
					}
				}
			}
		})
	}
	if err := waitUntil(afterKill, "a third of the stepwise versions", func() (bool, string) {
		return stepped.Load() >= stepwise*versions/3, strconv.FormatInt(stepped.Load(), 10)
	}); err != nil {
		t.Fatal(err)
	}
	killedAt = time.Now()
	victim.kill()
	t.Logf("killed %s (pid %d), the stream's holder, after %d stepwise versions", victim.name, victim.cmd.Process.Pid, stepped.Load())
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	for i, a := range accounts {
		if a.kind != "burst" {
			continue
		}
		want := fmt.Sprintf("burst %d v%d", i, versions)
		if err := waitUntil(afterKill, want, func() (bool, string) { _, got := sfName(a)(); return got == want, got }); err != nil {
			t.Error(err)
		}
	}
	// Let stragglers (echoes of billsync's own writes) drain, then check.
	if err := waitUntil(afterKill, "quiet", func() (bool, string) {
		st, err := db.Stats(ctx)
		if err != nil {
			return false, err.Error()
		}
		return h.sb.Billing.Pending() == 0 && st.Pending == 0 && st.Running == 0,
			fmt.Sprintf("webhooks pending %d, queue %+v", h.sb.Billing.Pending(), st)
	}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)

	logs := func(id string) []billsync.LogEntry {
		var all []billsync.LogEntry
		cursor := ""
		for {
			page, next, err := db.Logs(ctx, billsync.LogFilter{Record: id, Limit: 1000, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, page...)
			if next == "" {
				break
			}
			cursor = next
		}
		slices.Reverse(all) // oldest first
		return all
	}

	for i, a := range accounts {
		id := a.ent.ID()
		entries := logs(id)
		var successes []billsync.LogEntry
		for _, e := range entries {
			if e.Outcome == billsync.OutcomeSuccess && e.BillingID == id && e.Object == billsync.ObjectAccount {
				successes = append(successes, e)
			}
		}
		// Per-account order: successive successes come from later changes.
		for j := 1; j < len(successes); j++ {
			if successes[j].ChangeID <= successes[j-1].ChangeID && successes[j].ChangeID != 0 {
				t.Errorf("account %d: success of change %d logged after change %d", i, successes[j].ChangeID, successes[j-1].ChangeID)
			}
		}
		// No change applied twice.
		seen := map[int64]bool{}
		for _, e := range successes {
			if e.ChangeID != 0 && seen[e.ChangeID] {
				t.Errorf("account %d: change %d (event %s) succeeded twice", i, e.ChangeID, e.EventID)
			}
			seen[e.ChangeID] = true
		}
		sfWrites, billWrites := h.sb.SF.Writes(a.sfID), h.sb.Billing.Writes(id)
		rec, _ := h.sb.SF.Record("BillingAccount__c", a.sfID)
		cur, _ := h.sb.Billing.Get(billsync.ObjectAccount, id)
		switch a.kind {
		case "step":
			// Exactly once: the create and each version, one write each.
			if sfWrites != 1+versions {
				t.Errorf("stepwise account %d: %d Salesforce writes, want %d (create + %d versions)\n%s", i, sfWrites, 1+versions, versions, describe(entries))
			}
		case "burst":
			// Versions queued together may be folded into one write, never
			// written twice: at most one write per version.
			want := fmt.Sprintf("burst %d v%d", i, versions)
			if rec.Str("Name") != want {
				t.Errorf("burst account %d: Salesforce name %q, want %q", i, rec.Str("Name"), want)
			}
			if sfWrites < 2 || sfWrites > 1+versions {
				t.Errorf("burst account %d: %d Salesforce writes, want 2..%d\n%s", i, sfWrites, 1+versions, describe(entries))
			}
		case "sales":
			// Exactly once the other way: the create and each edit.
			if billWrites != 1+edits {
				t.Errorf("sales account %d: %d billing writes, want %d (create + %d edits)\n%s", i, billWrites, 1+edits, edits, describe(entries))
			}
			if want := fmt.Sprintf("sales %d e%d", i, edits); cur.Str("name") != want {
				t.Errorf("sales account %d: billing name %q, want %q", i, cur.Str("name"), want)
			}
			if sfWrites != 1+edits {
				t.Errorf("sales account %d: %d Salesforce writes, want %d (billsync's create + the user's edits)", i, sfWrites, 1+edits)
			}
		}
		if a.kind != "sales" && billWrites != 1+versions {
			t.Errorf("account %d: %d billing writes, want %d (the test's create and updates; billsync must write nothing back)", i, billWrites, 1+versions)
		}
	}

	// Only one replica consumed the event stream at any time: no two
	// replicas' CometD requests overlap (a dead replica consumes nothing
	// after its death), and the stream moved to a survivor.
	type owned struct {
		r *replica
		s span
	}
	var all []owned
	for _, r := range replicas {
		for _, s := range r.sf.snapshot() {
			if r == victim && s.end.After(killedAt) {
				s.end = killedAt
			}
			all = append(all, owned{r, s})
		}
	}
	for x := range all {
		for y := x + 1; y < len(all); y++ {
			a, b := all[x], all[y]
			if a.r != b.r && a.s.start.Before(b.s.end) && b.s.start.Before(a.s.end) {
				t.Errorf("replicas %s and %s consumed the stream at once: %s–%s and %s–%s", a.r.name, b.r.name,
					a.s.start.Format(time.StampMilli), a.s.end.Format(time.StampMilli), b.s.start.Format(time.StampMilli), b.s.end.Format(time.StampMilli))
			}
		}
	}
	var after []string
	survivors := func() (bool, string) {
		after = after[:0]
		for _, r := range replicas {
			if r == victim {
				continue
			}
			for _, s := range r.sf.snapshot() {
				if s.start.After(killedAt) {
					after = append(after, r.name)
					break
				}
			}
		}
		return len(after) > 0, fmt.Sprint(after)
	}
	// The dead holder's subscription lease lapses (3 s here), then a
	// survivor takes the stream over.
	if err := waitUntil(afterKill, "a survivor on the stream", survivors); err != nil {
		t.Error(err)
	}
	if len(after) != 1 {
		t.Errorf("after %s died, the stream was consumed by %v, want exactly one survivor", victim.name, after)
	}
	if holder := leaseHolder(t, dsn, replicas); holder == nil || holder == victim || (len(after) == 1 && holder.name != after[0]) {
		t.Errorf("the subscription's lease is held by %v, want the survivor that consumed the stream (%v)", holder, after)
	}
	if n := len(victim.sf.snapshot()); n == 0 {
		t.Errorf("the victim %s never consumed the stream", victim.name)
	}
	for _, r := range replicas {
		if r.killed.Load() {
			continue
		}
		if err := r.cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("replica %s died: %v", r.name, err)
		}
	}
}

// leaseHolder returns the replica holding the event subscription's lease,
// whose owner is "host/pid/random" (replicaName), or nil.
func leaseHolder(t *testing.T, dsn string, replicas []*replica) *replica {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var owner string
	err = conn.QueryRow(ctx, `SELECT owner FROM leases WHERE name LIKE 'subscription:%' AND expires_at > $1`, time.Now().UnixNano()).Scan(&owner)
	if err != nil {
		return nil
	}
	for _, r := range replicas {
		if strings.Contains(owner, "/"+strconv.Itoa(r.cmd.Process.Pid)+"/") {
			return r
		}
	}
	return nil
}

func (r *replica) String() string { return r.name }

// describe renders a record's sync log for a failure message.
func describe(entries []billsync.LogEntry) string {
	var b strings.Builder
	for _, e := range entries {
		fmt.Fprintf(&b, "  #%d change %d %s %s %s %s %s\n", e.ID, e.ChangeID, e.Direction, e.Operation, e.Outcome, e.Reason, e.Message)
	}
	return b.String()
}
