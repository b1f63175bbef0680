package bench

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/billsync/billsync"
	m3teremu "github.com/billsync/billsync/emulate/m3ter"
	"github.com/billsync/billsync/m3terapi"
	"github.com/billsync/billsync/sandbox"
)

// m3terSide is m3ter (its emulator) written as a person in m3ter's
// console writes it: with credentials that are not billsync's service
// user, so every write is news to billsync.
//
// m3ter derives a balance's amount from its transactions and never
// changes a transaction, so the realistic shape maps onto what an m3ter
// user does: per account, an account, its balances (amount 0) and the
// shape's transactions on each; then per round a rename of the account,
// a rename of each balance and, in place of the contract's transaction
// edits (m3ter has none), one new transaction per transaction of the
// shape. That is as many writes per account as the contract's shape
// (Shape.Changes). A transaction moves its balance: the balance's new
// amount is m3ter's doing, registered as a derived write.
//
// The observer compares what Salesforce holds with the records billsync
// shows for m3ter's: accounts and balances by m3ter id, transactions as
// "<balance id>.<transaction id>", amounts exact. The workload keeps its
// own running sum of each balance and fails if m3ter's derived amount
// disagrees, so the arithmetic is checked apart from the adapter's
// mapping, which the console client shares with billsync.
type m3terSide struct {
	emu     *m3teremu.Emulator
	console *m3terapi.Client

	// proxy stands between billsync and the emulator and counts every
	// request billsync makes to m3ter (its token requests included); the
	// workload's own requests go to the emulator directly.
	proxy *httptest.Server
	calls atomic.Int64
}

// newM3terSide writes to the emulator at url as the sandbox's console
// user. The console client is not paced: a person's writes are the
// workload, and billsync's pacing (billing.options.rateLimit) is what
// the bench measures.
func newM3terSide(emu *m3teremu.Emulator, url string) (*m3terSide, error) {
	c, err := m3terapi.NewClient(billsync.BillingOptions{URL: url, Token: sandbox.M3terConsoleToken,
		Options: map[string]string{"orgId": emu.OrgID(), "rateLimit": "10000"}})
	if err != nil {
		return nil, err
	}
	return &m3terSide{emu: emu, console: c}, nil
}

// install starts the counting proxy in front of target (the emulator's
// URL as the sandbox serves it, faults and all); billsync is pointed at
// proxyURL. The returned func stops it.
func (s *m3terSide) install(target string) (func(), error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = nil
	s.proxy = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		rp.ServeHTTP(w, r)
	}))
	return s.proxy.Close, nil
}

// proxyURL is where billsync reaches m3ter.
func (s *m3terSide) proxyURL() string { return s.proxy.URL }

// billsyncCalls is how many m3ter requests billsync has made so far.
func (s *m3terSide) billsyncCalls() int { return int(s.calls.Load()) }

func (s *m3terSide) pending() int { return s.emu.Pending() }

func (s *m3terSide) createAccount(ctx context.Context, code, name, email string) (string, error) {
	if email == "" {
		// m3ter requires an account's email address.
		email = strings.ToLower(code) + "@bench.example"
	}
	e := billsync.Entity{"code": code, "name": name, "emailAddress": email, "currency": "USD"}
	acc, err := s.console.Create(ctx, billsync.ObjectAccount, e, "")
	if err != nil {
		return "", fmt.Errorf("creating account %s in m3ter: %w", code, err)
	}
	return acc.ID(), nil
}

func (s *m3terSide) renameAccount(ctx context.Context, id, suffix string) error {
	// As a person in m3ter's console: read the account, edit its name.
	cur, err := s.console.Get(ctx, billsync.ObjectAccount, id)
	if err != nil {
		return fmt.Errorf("reading account %s from m3ter: %w", id, err)
	}
	_, err = s.update(ctx, billsync.ObjectAccount, cur, func(e billsync.Entity) { e["name"] = cur.Str("name") + suffix })
	return err
}

// m3terBalance is one balance the workload writes and the sum of its
// transactions as the workload counts it.
type m3terBalance struct {
	ent billsync.Entity
	sum billsync.Money
}

// account writes one account of the realistic shape, one request at a
// time, each waiting for m3ter's answer as a client does.
func (s *m3terSide) account(ctx context.Context, obs *sfObserver, shape Shape, code string) (int, error) {
	n := 0
	acc, err := s.console.Create(ctx, billsync.ObjectAccount, billsync.Entity{
		"code": code, "name": "Realistic " + code, "emailAddress": code + "@realistic.example", "currency": "USD"}, "")
	if err != nil {
		return n, fmt.Errorf("creating account %s in m3ter: %w", code, err)
	}
	if err := obs.recordAt(billsync.ObjectAccount, acc, m3terStamp(acc), false); err != nil {
		return n, err
	}
	n++
	bals := make([]*m3terBalance, 0, shape.Balances)
	for b := range shape.Balances {
		bal, err := s.console.Create(ctx, billsync.ObjectBalance, billsync.Entity{
			"accountId": acc.ID(), "code": fmt.Sprintf("%s-B%d", code, b), "name": fmt.Sprintf("Balance %d of %s", b, code),
			"currency": "USD", "startDate": "2026-01-01", "endDate": "2026-12-31"}, "")
		if err != nil {
			return n, fmt.Errorf("creating balance %d of account %s in m3ter: %w", b, code, err)
		}
		if err := obs.recordAt(billsync.ObjectBalance, bal, m3terStamp(bal), false); err != nil {
			return n, err
		}
		n++
		bals = append(bals, &m3terBalance{ent: bal, sum: billsync.MustMoney("0")})
	}
	for _, bal := range bals {
		for t := range shape.Transactions {
			if err := s.transaction(ctx, obs, bal, fmt.Sprintf("%d.25", t+1), fmt.Sprintf("transaction %d", t)); err != nil {
				return n, err
			}
			n++
		}
	}
	for r := 1; r <= shape.Rounds; r++ {
		suffix := fmt.Sprintf(" (round %d)", r)
		if acc, err = s.update(ctx, billsync.ObjectAccount, acc, func(e billsync.Entity) { e["name"] = "Realistic " + code + suffix }); err != nil {
			return n, err
		}
		if err := obs.recordAt(billsync.ObjectAccount, acc, m3terStamp(acc), false); err != nil {
			return n, err
		}
		n++
		for j, bal := range bals {
			name := fmt.Sprintf("Balance %d of %s%s", j, code, suffix)
			got, err := s.update(ctx, billsync.ObjectBalance, bal.ent, func(e billsync.Entity) {
				e["name"] = name
				// The amount is m3ter's: naming it would ask the client
				// for a transaction to reach it.
				delete(e, "amount")
			})
			if err != nil {
				return n, err
			}
			bal.ent = got
			if err := obs.recordAt(billsync.ObjectBalance, got, m3terStamp(got), false); err != nil {
				return n, err
			}
			n++
		}
		// In place of the contract's edits of each transaction, which
		// m3ter does not allow: a new transaction of each.
		for j := range shape.Balances * shape.Transactions {
			bal := bals[j/max(1, shape.Transactions)]
			if err := s.transaction(ctx, obs, bal, fmt.Sprintf("-%d.%02d", r, j%100), fmt.Sprintf("usage %d%s", j, suffix)); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// transaction adds a transaction of amount to bal and registers it with
// the balance as m3ter then shows it (its amount moved: a derived write),
// after checking that amount against the workload's own sum.
func (s *m3terSide) transaction(ctx context.Context, obs *sfObserver, bal *m3terBalance, amount, desc string) error {
	tx, err := s.console.Create(ctx, billsync.ObjectBalanceTransaction, billsync.Entity{
		"balanceId": bal.ent.ID(), "amount": amount, "description": desc, "appliedDate": "2026-01-15"}, "")
	if err != nil {
		return fmt.Errorf("creating a transaction of balance %s in m3ter: %w", bal.ent.ID(), err)
	}
	at := m3terStamp(tx)
	if err := obs.recordAt(billsync.ObjectBalanceTransaction, tx, at, false); err != nil {
		return err
	}
	if bal.sum, err = bal.sum.Add(billsync.MustMoney(amount)); err != nil {
		return err
	}
	got, err := s.console.Get(ctx, billsync.ObjectBalance, bal.ent.ID())
	if err != nil {
		return fmt.Errorf("reading balance %s from m3ter: %w", bal.ent.ID(), err)
	}
	if have, err := billsync.ParseMoney(got.Str("amount")); err != nil || have.Cmp(bal.sum) != 0 {
		return fmt.Errorf("m3ter holds %q on balance %s, want %s, the sum of its transactions", got.Str("amount"), bal.ent.ID(), bal.sum)
	}
	bal.ent = got
	return obs.recordAt(billsync.ObjectBalance, got, at, true)
}

// update applies edit to the client's last copy of a record and writes
// it at that copy's version; should m3ter hold a newer one (billsync
// wrote it), the client reads it and edits that, as a person would.
func (s *m3terSide) update(ctx context.Context, t billsync.ObjectType, cur billsync.Entity, edit func(billsync.Entity)) (billsync.Entity, error) {
	for range 5 {
		upd := cur.Clone()
		edit(upd)
		got, err := s.console.Update(ctx, t, upd)
		if err == nil {
			return got, nil
		}
		if billsync.ErrorCode(err) != billsync.ECONFLICT {
			return nil, fmt.Errorf("updating %s %s in m3ter: %w", t, cur.ID(), err)
		}
		if cur, err = s.console.Get(ctx, t, cur.ID()); err != nil {
			return nil, fmt.Errorf("re-reading %s %s from m3ter: %w", t, cur.ID(), err)
		}
	}
	return nil, fmt.Errorf("updating %s %s in m3ter: its version kept changing", t, cur.ID())
}

// m3terStamp is when m3ter committed a record (its dtLastModified), or
// now when it did not say.
func m3terStamp(e billsync.Entity) time.Time {
	if at, err := time.Parse(time.RFC3339Nano, e.Str("updatedAt")); err == nil {
		return at
	}
	return time.Now()
}
