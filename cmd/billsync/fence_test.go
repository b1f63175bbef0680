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
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/pgstore"
	"github.com/billsync/billsync/pgstore/pgtest"
	"github.com/billsync/billsync/sandbox"
)

// writeGate stands between the replicas and the Salesforce emulator, one
// proxy per replica, and can catch a write: armed, the first Salesforce
// write through any of its proxies is held there, unanswered and not
// passed on, so the replica that sent it holds its claim for as long as
// the test likes. Released, the write is passed on or, if the catch was
// armed to fail it, answered 503 (a passing outage, as a call timing out
// would end) without reaching the emulator; later writes pass. So the
// emulator counts exactly the writes that reached it.
type writeGate struct {
	armed  atomic.Int32    // 0: off; armPass or armFail: catch the next write
	caught chan *gateProxy // the proxy that caught the armed write
}

const (
	armPass = 1
	armFail = 2
)

// gateProxy is one replica's way into Salesforce through the gate.
type gateProxy struct {
	name string
	url  string
	held chan struct{} // closed to answer the held write
	// forwarded counts the writes passed on to the emulator.
	forwarded atomic.Int64
}

func newWriteGate() *writeGate { return &writeGate{caught: make(chan *gateProxy, 2)} }

// arm makes the gate catch the next write; fail fails it once released.
func (g *writeGate) arm(fail bool) {
	if fail {
		g.armed.Store(armFail)
	} else {
		g.armed.Store(armPass)
	}
}

// next waits for the proxy that caught the armed write.
func (g *writeGate) next(t *testing.T, what string) *gateProxy {
	t.Helper()
	select {
	case p := <-g.caught:
		return p
	case <-time.After(afterKill):
		t.Fatalf("no write caught: %s", what)
		return nil
	}
}

// isWrite reports whether r writes records (sObject rows or collections).
func isWrite(r *http.Request) bool {
	return r.Method != http.MethodGet && strings.Contains(r.URL.Path, "/sobjects")
}

// proxy serves a reverse proxy to the emulator at sfURL for one replica.
func (g *writeGate) proxy(t *testing.T, name, sfURL string) *gateProxy {
	t.Helper()
	target, err := url.Parse(sfURL)
	if err != nil {
		t.Fatal(err)
	}
	p := &gateProxy{name: name, held: make(chan struct{})}
	rp := httputil.NewSingleHostReverseProxy(target) // keeps the Host header, as streamWatch does
	rp.FlushInterval = -1
	rp.ErrorLog = log.New(io.Discard, "", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isWrite(r) {
			if mode := g.armed.Swap(0); mode != 0 {
				g.caught <- p
				select {
				case <-p.held:
				case <-r.Context().Done():
					return
				}
				if mode == armFail {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = io.WriteString(w, `[{"message":"held by the test past the replica's lease","errorCode":"SERVER_UNAVAILABLE"}]`)
					return
				}
			}
			p.forwarded.Add(1)
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		p.release()
		srv.Close()
	})
	p.url = "http://" + ln.Addr().String()
	return p
}

var releaseMu sync.Mutex

// release answers the held write.
func (p *gateProxy) release() {
	releaseMu.Lock()
	defer releaseMu.Unlock()
	select {
	case <-p.held:
	default:
		close(p.held)
	}
}

func (r *replica) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v to replica %s: %v", sig, r.name, err)
	}
}

// TestFencedClaims: two replicas on one PostgreSQL database. One claims a
// change and, while its Salesforce write is held, is stopped (SIGSTOP)
// past its claim lease; the other claims the change again and applies
// it. Woken (SIGCONT), the first finds its lease lost: it applies and
// records nothing more for the change (Salesforce and billing see one
// write each, the sync log one success) and says so in its log. Both
// replicas then go on syncing.
func TestFencedClaims(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-replica stall test: skipped in -short mode")
	}
	dsn := pgtest.DSN(t) // skips without BILLSYNC_TEST_POSTGRES_DSN, fails under BILLSYNC_CI=1
	t.Parallel()
	h := startHarness(t, sandbox.Options{NoApp: true})
	ctx := context.Background()
	h.sb.SF.SetBaseURL("") // logins answer with the Host asked: each replica stays behind its proxy

	// The address billing delivers webhooks to is taken at once: the
	// sandbox only reserved it, and the replicas and proxies started
	// below take ports of their own.
	ln, err := net.Listen("tcp", h.sb.AppAddr)
	if err != nil {
		t.Fatalf("listen on billsync's webhook address: %v", err)
	}
	// Each replica reaches Salesforce through the gate (startReplica puts
	// its streamWatch in front of the URL it finds in the sandbox).
	gate := newWriteGate()
	sfURL := h.sb.SFURL
	var replicas []*replica
	proxies := map[*replica]*gateProxy{}
	rr := &roundRobin{}
	for _, name := range []string{"r0", "r1"} {
		p := gate.proxy(t, name, sfURL)
		addr := freeAddr(t)
		target, _ := url.Parse("http://" + addr)
		lb := httputil.NewSingleHostReverseProxy(target)
		lb.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
		rr.backends = append(rr.backends, lb)
		h.sb.SFURL = p.url
		r := h.startReplica(name, addr, dsn)
		h.sb.SFURL = sfURL
		replicas = append(replicas, r)
		proxies[r] = p
	}
	lbSrv := &http.Server{Handler: rr, ReadHeaderTimeout: 10 * time.Second}
	go lbSrv.Serve(ln)
	t.Cleanup(func() { lbSrv.Close() })

	db, err := pgstore.Open(ctx, dsn, pgstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	quiet := func(what string) {
		t.Helper()
		h.eventually(what, func() (bool, string) {
			st, err := db.Stats(ctx)
			if err != nil {
				return false, err.Error()
			}
			return h.sb.Billing.Pending() == 0 && st.Pending == 0 && st.Running == 0,
				fmt.Sprintf("webhooks pending %d, queue %+v", h.sb.Billing.Pending(), st)
		})
	}

	// An account synced before the stall.
	acc := h.create(billsync.ObjectAccount, billsync.Entity{"code": "F01", "name": "Fenced v0", "currency": "USD"})
	sfID := h.sfRecord("BillingAccount__c", acc.ID(), nil).ID()
	quiet("the account's creation settled")
	update := func(name string) {
		t.Helper()
		cur, err := h.billing.Get(ctx, billsync.ObjectAccount, acc.ID())
		if err != nil {
			t.Fatal(err)
		}
		cur["name"] = name
		if _, err := h.billing.Update(ctx, billsync.ObjectAccount, cur); err != nil {
			t.Fatal(err)
		}
	}
	sfName := func(want string) func() (bool, string) {
		return func() (bool, string) {
			r, _ := h.sb.SF.Record("BillingAccount__c", sfID)
			return r.Str("Name") == want, r.Str("Name")
		}
	}

	// The update's Salesforce write is caught: its replica holds the claim.
	gate.arm(true)
	update("Fenced v1")
	caught := gate.next(t, "no replica wrote the update to Salesforce")
	var victim, other *replica
	for _, r := range replicas {
		if proxies[r] == caught {
			victim = r
		} else {
			other = r
		}
	}
	st, err := db.Stats(ctx)
	if err != nil || st.Running != 1 {
		t.Fatalf("while the write is held: queue %+v, %v; want the change running", st, err)
	}

	// The victim stalls past its lease (10 s); the other replica claims
	// the change again, and its write is caught too: now both think they
	// hold the change.
	gate.arm(false)
	victim.signal(t, syscall.SIGSTOP)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			_ = victim.cmd.Process.Signal(syscall.SIGCONT)
		}
	})
	t.Logf("stopped %s (pid %d) holding the claim; waiting for %s to take over", victim.name, victim.cmd.Process.Pid, other.name)
	if p := gate.next(t, other.name+" took the change over"); p != proxies[other] {
		t.Fatalf("the re-claimed write came through %s, want %s's proxy", p.name, other.name)
	}

	// The victim wakes: its held write fails (a passing outage, as a
	// timed-out call would), so it wants to mark the record failed in
	// Salesforce and retry the change. Its lease is over: it writes no
	// marker (its later writes would reach the emulator and count), and
	// the store refuses the retry, which without fences would log a
	// failure and hand the change back while the other replica applies it.
	victim.signal(t, syscall.SIGCONT)
	stopped = false
	caught.release()
	lostLine := ""
	h.eventually(victim.name+" logs its lost lease", func() (bool, string) {
		b, _ := os.ReadFile(victim.logf)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "lost the claim lease") {
				lostLine = line
				return true, ""
			}
		}
		return false, tail(string(b), 300)
	})
	t.Logf("%s: %s", victim.name, lostLine)
	if !strings.Contains(lostLine, "another replica took them over") || !strings.Contains(lostLine, "WARN") {
		t.Errorf("the lost-lease line does not say what happened: %s", lostLine)
	}
	if st, err := db.Stats(ctx); err != nil || st.Running != 1 || st.Pending != 0 {
		t.Errorf("after the victim woke: queue %+v, %v; want the change still running for %s", st, err, other.name)
	}

	// The other replica's write goes through and it finishes the change.
	proxies[other].release()
	h.eventually(other.name+" applied the update", sfName("Fenced v1"))
	quiet("the update settled by " + other.name)

	// Nothing applied twice: Salesforce saw the create and one update (the
	// victim's write never reached it), billing only the test's writes,
	// and the sync log one success per change, none of them the victim's
	// retry.
	if n := h.sb.SF.Writes(sfID); n != 2 {
		t.Errorf("Salesforce writes of the account: %d, want 2 (create + the update once)", n)
	}
	if n := caught.forwarded.Load(); n != 0 {
		t.Errorf("%s wrote to Salesforce %d times after its lease ran out", victim.name, n)
	}
	if n := h.sb.Billing.Writes(acc.ID()); n != 2 {
		t.Errorf("billing writes of the account: %d, want 2 (the test's create and update)", n)
	}
	entries := fenceLogs(t, db, acc.ID())
	successes := map[int64]int{}
	for _, e := range entries {
		if e.Object != billsync.ObjectAccount || e.BillingID != acc.ID() {
			continue
		}
		switch e.Outcome {
		case billsync.OutcomeSuccess:
			successes[e.ChangeID]++
		case billsync.OutcomeRetrying, billsync.OutcomeFailed, billsync.OutcomeDead:
			t.Errorf("the sync log has the stalled replica's outcome: %+v", e)
		}
	}
	if len(successes) != 2 {
		t.Errorf("successes per change %v, want the create's and the update's\n%s", successes, describe(entries))
	}
	for id, n := range successes {
		if n != 1 {
			t.Errorf("change %d succeeded %d times\n%s", id, n, describe(entries))
		}
	}
	if dead, err := db.DeadLetters(ctx, 10); err != nil || len(dead) != 0 {
		t.Errorf("dead letters %+v, %v", dead, err)
	}

	// Both replicas go on: a later update is applied once, by whichever
	// replica claims it.
	update("Fenced v2")
	h.eventually("the next update in Salesforce", sfName("Fenced v2"))
	quiet("the next update settled")
	if n := h.sb.SF.Writes(sfID); n != 3 {
		t.Errorf("Salesforce writes after the next update: %d, want 3", n)
	}
	for _, r := range replicas {
		if err := r.cmd.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("replica %s died: %v", r.name, err)
		}
	}
}

// fenceLogs is the whole sync log of a record, oldest first.
func fenceLogs(t *testing.T, db *pgstore.Store, id string) []billsync.LogEntry {
	t.Helper()
	var all []billsync.LogEntry
	cursor := ""
	for {
		page, next, err := db.Logs(context.Background(), billsync.LogFilter{Record: id, Limit: 1000, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page...)
		if next == "" {
			break
		}
		cursor = next
	}
	for i, j := 0, len(all)-1; i < j; i, j = i+1, j-1 {
		all[i], all[j] = all[j], all[i]
	}
	return all
}
