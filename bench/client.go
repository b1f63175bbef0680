package bench

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	billingemu "github.com/billsync/billsync/emulate/billing"
)

// Shape is the realistic workload's size: accounts, each written by a
// client as a billing run writes it.
type Shape struct {
	Accounts     int // accounts written
	Balances     int // balances per account
	Transactions int // transactions per balance
	Rounds       int // update rounds: each updates the account, every balance and every transaction
	Clients      int // accounts in flight at once
}

// Changes is how many records the shape writes: every create and update.
func (s Shape) Changes() int {
	perRound := 1 + s.Balances + s.Balances*s.Transactions
	return s.Accounts * perRound * (1 + s.Rounds)
}

// billingSide is one billing platform as the workloads write to it: as
// its users do, through its own API, each write registered with the
// observer as the platform answered it. The contract and Stripe each
// implement it; the workloads and their figures are the same.
type billingSide interface {
	// account writes the realistic workload's account code of shape and
	// returns how many writes the platform accepted.
	account(ctx context.Context, obs *sfObserver, shape Shape, code string) (int, error)
	// createAccount creates an account for the bursts and the latency
	// workload (email may be empty) and returns its billing id.
	createAccount(ctx context.Context, code, name, email string) (string, error)
	// renameAccount appends suffix to an account's name, as the update
	// burst does.
	renameAccount(ctx context.Context, id, suffix string) error
	// pending is how many webhooks the platform has yet to deliver.
	pending() int
}

// runShape writes shape.Accounts accounts, shape.Clients at a time, and
// returns how many writes billing accepted. Codes start with prefix,
// which keeps separate runs apart.
func runShape(ctx context.Context, side billingSide, obs *sfObserver, shape Shape, prefix string) (int, error) {
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		writes int
		next   = make(chan int)
	)
	for range shape.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				n, err := side.account(ctx, obs, shape, fmt.Sprintf("%s%05d", prefix, i))
				mu.Lock()
				writes += n
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range shape.Accounts {
		if ctx.Err() != nil {
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return writes, errors.Join(errs[:min(len(errs), 3)]...)
	}
	return writes, ctx.Err()
}

// contractSide is the billing contract: the emulator in this process for
// the bursts' and the latency workload's creates (so generating them
// costs nothing measurable), its REST API for everything a client writes.
type contractSide struct {
	emu *billingemu.Emulator
	api *billingapi.Client
}

func (c *contractSide) pending() int { return c.emu.Pending() }

func (c *contractSide) createAccount(_ context.Context, code, name, email string) (string, error) {
	e := billsync.Entity{"code": code, "name": name, "currency": "USD"}
	if email != "" {
		e["emailAddress"] = email
	}
	a, err := c.emu.Create(billsync.ObjectAccount, e)
	if err != nil {
		return "", fmt.Errorf("creating account %s in billing: %w", code, err)
	}
	return a.ID(), nil
}

func (c *contractSide) renameAccount(ctx context.Context, id, suffix string) error {
	cur, ok := c.emu.Get(billsync.ObjectAccount, id)
	if !ok {
		return fmt.Errorf("account %s vanished from billing", id)
	}
	upd := cur.Clone()
	upd["name"] = cur.Str("name") + suffix
	if _, err := c.api.Update(ctx, billsync.ObjectAccount, upd); err != nil {
		return fmt.Errorf("updating account %s in billing: %w", id, err)
	}
	return nil
}

// account writes one account: the account, its balances, their
// transactions, then the update rounds, one request at a time, each
// waiting for billing's answer as a client does.
func (c *contractSide) account(ctx context.Context, obs *sfObserver, shape Shape, code string) (int, error) {
	n := 0
	acc, err := c.create(ctx, obs, billsync.ObjectAccount, billsync.Entity{
		"code": code, "name": "Realistic " + code, "emailAddress": code + "@realistic.example", "currency": "USD"})
	if err != nil {
		return n, err
	}
	n++
	var bals, txs []billsync.Entity
	for b := range shape.Balances {
		bal, err := c.create(ctx, obs, billsync.ObjectBalance, billsync.Entity{
			"accountId": acc.ID(), "code": fmt.Sprintf("%s-B%d", code, b), "name": fmt.Sprintf("Balance %d of %s", b, code),
			"amount": "100.00", "currency": "USD", "startDate": "2026-01-01"})
		if err != nil {
			return n, err
		}
		n++
		bals = append(bals, bal)
	}
	for _, bal := range bals {
		for t := range shape.Transactions {
			tx, err := c.create(ctx, obs, billsync.ObjectBalanceTransaction, billsync.Entity{
				"balanceId": bal.ID(), "amount": fmt.Sprintf("%d.25", t+1), "description": fmt.Sprintf("transaction %d", t),
				"appliedDate": "2026-01-15"})
			if err != nil {
				return n, err
			}
			n++
			txs = append(txs, tx)
		}
	}
	for r := 1; r <= shape.Rounds; r++ {
		suffix := fmt.Sprintf(" (round %d)", r)
		if acc, err = c.update(ctx, obs, billsync.ObjectAccount, acc, func(e billsync.Entity) { e["name"] = "Realistic " + code + suffix }); err != nil {
			return n, err
		}
		n++
		for j := range bals {
			amount := fmt.Sprintf("%d.%02d", 100+r, j)
			if bals[j], err = c.update(ctx, obs, billsync.ObjectBalance, bals[j], func(e billsync.Entity) { e["amount"] = amount }); err != nil {
				return n, err
			}
			n++
		}
		for j := range txs {
			desc := fmt.Sprintf("transaction %d%s", j, suffix)
			if txs[j], err = c.update(ctx, obs, billsync.ObjectBalanceTransaction, txs[j], func(e billsync.Entity) { e["description"] = desc }); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

func (c *contractSide) create(ctx context.Context, obs *sfObserver, t billsync.ObjectType, e billsync.Entity) (billsync.Entity, error) {
	got, err := c.api.Create(ctx, t, e, "")
	if err != nil {
		return nil, fmt.Errorf("creating %s %s in billing: %w", t, e.Str("code"), err)
	}
	return got, obs.record(t, got)
}

// update applies edit to the client's last copy of a record and writes it
// with that copy's version. Should billing hold a newer version (someone
// else wrote it), the client reads it and edits that, as a client does.
func (c *contractSide) update(ctx context.Context, obs *sfObserver, t billsync.ObjectType, cur billsync.Entity, edit func(billsync.Entity)) (billsync.Entity, error) {
	for range 5 {
		upd := cur.Clone()
		edit(upd)
		got, err := c.api.Update(ctx, t, upd)
		if err == nil {
			return got, obs.record(t, got)
		}
		if billsync.ErrorCode(err) != billsync.ECONFLICT {
			return nil, fmt.Errorf("updating %s %s in billing: %w", t, cur.ID(), err)
		}
		if cur, err = c.api.Get(ctx, t, cur.ID()); err != nil {
			return nil, fmt.Errorf("re-reading %s %s from billing: %w", t, cur.ID(), err)
		}
	}
	return nil, fmt.Errorf("updating %s %s in billing: its version kept changing", t, cur.ID())
}
