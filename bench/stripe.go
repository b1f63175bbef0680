package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	stripego "github.com/stripe/stripe-go/v85"

	"github.com/billsync/billsync"
	stripeemu "github.com/billsync/billsync/emulate/stripe"
	"github.com/billsync/billsync/money"
)

// stripeSide is Stripe (its emulator) written as Stripe's users write it:
// with Stripe's own Go client, customers created and renamed, and
// customer balance transactions, which move the customer's balance.
//
// Stripe has no balance object to write and keeps a transaction's amount
// immutable, so the realistic shape maps onto what a Stripe user does:
// each of an account's balances is an opening-credit transaction on the
// customer's one (USD) balance, and an update round renames the customer,
// moves the balance once per balance of the shape with a new transaction
// (a top-up), and edits the description of each of the shape's
// transactions. That is as many writes per account as the contract's
// shape (Shape.Changes).
//
// The observer compares what Salesforce holds with the records billsync
// shows for Stripe's objects: the customer as an account (id cus_…), its
// balance as "<cus>.usd" with the credit held (Stripe's balance negated),
// each transaction as "<cus>.<cbtxn>" with the credit it adds. They are
// built here from Stripe's answers, not through billsync's adapter, so
// the bench checks the adapter's mapping as well.
type stripeSide struct {
	emu *stripeemu.Emulator
	sc  *stripego.Client

	own   atomic.Int64 // requests the workload made
	total atomic.Int64 // requests the emulator saw
}

func newStripeSide(emu *stripeemu.Emulator, url, key string) *stripeSide {
	sc := stripego.NewClient(key, stripego.WithBackends(stripego.NewBackendsWithConfig(&stripego.BackendConfig{
		URL: stripego.String(url), MaxNetworkRetries: stripego.Int64(0), LeveledLogger: &stripego.LeveledLogger{Level: stripego.LevelNull}})))
	return &stripeSide{emu: emu, sc: sc}
}

// install counts every request the emulator answers, so the bench can
// tell billsync's Stripe calls (all less the workload's own); the
// returned func removes the hooks.
func (s *stripeSide) install() func() {
	s.emu.SetBeforeWrite(func(stripeemu.Write) { s.total.Add(1) })
	s.emu.SetBeforeRead(func(stripeemu.Read) { s.total.Add(1) })
	return func() {
		s.emu.SetBeforeWrite(nil)
		s.emu.SetBeforeRead(nil)
	}
}

// billsyncCalls is how many Stripe requests billsync has made so far.
func (s *stripeSide) billsyncCalls() int { return int(s.total.Load() - s.own.Load()) }

func (s *stripeSide) pending() int { return s.emu.Pending() }

func (s *stripeSide) createAccount(ctx context.Context, code, name, email string) (string, error) {
	p := &stripego.CustomerCreateParams{Name: stripego.String(name), Metadata: map[string]string{"billsync_code": code}}
	if email != "" {
		p.Email = stripego.String(email)
	}
	s.own.Add(1)
	cu, err := s.sc.V1Customers.Create(ctx, p)
	if err != nil {
		return "", fmt.Errorf("creating customer %s in Stripe: %w", code, err)
	}
	return cu.ID, nil
}

func (s *stripeSide) renameAccount(ctx context.Context, id, suffix string) error {
	// As a person in Stripe's dashboard: read the customer, edit its name.
	s.own.Add(1)
	cu, err := s.sc.V1Customers.Retrieve(ctx, id, nil)
	if err != nil {
		return fmt.Errorf("reading customer %s from Stripe: %w", id, err)
	}
	s.own.Add(1)
	if _, err := s.sc.V1Customers.Update(ctx, id, &stripego.CustomerUpdateParams{Name: stripego.String(cu.Name + suffix)}); err != nil {
		return fmt.Errorf("updating customer %s in Stripe: %w", id, err)
	}
	return nil
}

// account writes one account of the realistic shape, one request at a
// time, each waiting for Stripe's answer as a client does.
func (s *stripeSide) account(ctx context.Context, obs *sfObserver, shape Shape, code string) (int, error) {
	n := 0
	s.own.Add(1)
	cu, err := s.sc.V1Customers.Create(ctx, &stripego.CustomerCreateParams{
		Name: stripego.String("Realistic " + code), Email: stripego.String(code + "@realistic.example"),
		Metadata: map[string]string{"billsync_code": code}})
	if err != nil {
		return n, fmt.Errorf("creating customer %s in Stripe: %w", code, err)
	}
	if err := obs.recordAt(billsync.ObjectAccount, stripeAccount(cu), time.Now(), false); err != nil {
		return n, err
	}
	n++
	var txs []*stripego.CustomerBalanceTransaction
	move := func(amount int64, desc string) error {
		tx, err := s.transaction(ctx, obs, cu, amount, desc, len(txs) == 0 && cu.Currency == "")
		if err != nil {
			return err
		}
		n++
		txs = append(txs, tx)
		return nil
	}
	// Opening credit (Stripe's sign: negative is credit), one per balance
	// of the shape, then the shape's transactions: charges of t+1.25.
	for range shape.Balances {
		if err := move(-10000, "opening credit"); err != nil {
			return n, err
		}
	}
	for b := range shape.Balances {
		for t := range shape.Transactions {
			if err := move(int64(t+1)*100+25, fmt.Sprintf("transaction %d of balance %d", t, b)); err != nil {
				return n, err
			}
		}
	}
	// The shape's transactions, which the rounds edit: not the opening
	// credits and top-ups, which stand for the contract's balances.
	edited := txs[shape.Balances:]
	for r := 1; r <= shape.Rounds; r++ {
		suffix := fmt.Sprintf(" (round %d)", r)
		s.own.Add(1)
		if cu, err = s.sc.V1Customers.Update(ctx, cu.ID, &stripego.CustomerUpdateParams{Name: stripego.String("Realistic " + code + suffix)}); err != nil {
			return n, fmt.Errorf("updating customer %s in Stripe: %w", cu.ID, err)
		}
		if err := obs.recordAt(billsync.ObjectAccount, stripeAccount(cu), time.Now(), false); err != nil {
			return n, err
		}
		n++
		for j := range shape.Balances {
			if err := move(-int64(100*r+j), "top-up"+suffix); err != nil {
				return n, err
			}
		}
		for j := range edited {
			s.own.Add(1)
			tx, err := s.sc.V1CustomerBalanceTransactions.Update(ctx, edited[j].ID, &stripego.CustomerBalanceTransactionUpdateParams{
				Customer: stripego.String(cu.ID), Description: stripego.String(fmt.Sprintf("transaction %d%s", j, suffix))})
			if err != nil {
				return n, fmt.Errorf("updating balance transaction %s in Stripe: %w", edited[j].ID, err)
			}
			ent, err := stripeTransaction(cu.ID, tx)
			if err != nil {
				return n, err
			}
			if err := obs.recordAt(billsync.ObjectBalanceTransaction, ent, time.Now(), false); err != nil {
				return n, err
			}
			edited[j] = tx
			n++
		}
	}
	return n, nil
}

// transaction creates a balance transaction of amount (Stripe's minor
// units and sign) and registers it, with what it did to the customer:
// the balance it moved and, on the customer's first transaction, the
// currency Stripe gave the customer.
func (s *stripeSide) transaction(ctx context.Context, obs *sfObserver, cu *stripego.Customer, amount int64, desc string, first bool) (*stripego.CustomerBalanceTransaction, error) {
	s.own.Add(1)
	tx, err := s.sc.V1CustomerBalanceTransactions.Create(ctx, &stripego.CustomerBalanceTransactionCreateParams{
		Customer: stripego.String(cu.ID), Amount: stripego.Int64(amount), Currency: stripego.String("usd"), Description: stripego.String(desc)})
	if err != nil {
		return nil, fmt.Errorf("creating a balance transaction of customer %s in Stripe: %w", cu.ID, err)
	}
	at := time.Now()
	ent, err := stripeTransaction(cu.ID, tx)
	if err != nil {
		return nil, err
	}
	if err := obs.recordAt(billsync.ObjectBalanceTransaction, ent, at, false); err != nil {
		return nil, err
	}
	bal, err := stripeBalance(cu.ID, string(tx.Currency), tx.EndingBalance)
	if err != nil {
		return nil, err
	}
	if err := obs.recordAt(billsync.ObjectBalance, bal, at, true); err != nil {
		return nil, err
	}
	if first {
		cu.Currency = tx.Currency
		if err := obs.recordAt(billsync.ObjectAccount, stripeAccount(cu), at, true); err != nil {
			return nil, err
		}
	}
	return tx, nil
}

// stripeAccount is a customer as billsync shows it: an account.
func stripeAccount(cu *stripego.Customer) billsync.Entity {
	return billsync.Entity{
		"id": cu.ID, "name": cu.Name, "emailAddress": cu.Email, "currency": strings.ToUpper(string(cu.Currency)),
		"code": cu.Metadata["billsync_code"], "crmAccountId": cu.Metadata["billsync_crm_account_id"],
	}
}

// stripeBalance is a customer's balance in cur after a transaction that
// left Stripe's balance at ending: the credit held, Stripe's sign flipped.
func stripeBalance(cus, cur string, ending int64) (billsync.Entity, error) {
	amt, err := money.Stripe.FromMinor(-ending, cur)
	if err != nil {
		return nil, err
	}
	up := strings.ToUpper(cur)
	return billsync.Entity{"id": cus + "." + strings.ToLower(cur), "accountId": cus, "currency": up, "code": up,
		"name": up + " balance", "amount": amt.String()}, nil
}

// stripeTransaction is a balance transaction as billsync shows it: the
// credit it adds (Stripe's sign flipped), applied on the day Stripe
// created it.
func stripeTransaction(cus string, tx *stripego.CustomerBalanceTransaction) (billsync.Entity, error) {
	amt, err := money.Stripe.FromMinor(-tx.Amount, string(tx.Currency))
	if err != nil {
		return nil, err
	}
	return billsync.Entity{
		"id": cus + "." + tx.ID, "balanceId": cus + "." + strings.ToLower(string(tx.Currency)), "accountId": cus,
		"amount": amt.String(), "currency": strings.ToUpper(string(tx.Currency)), "description": tx.Description,
		"appliedDate": time.Unix(tx.Created, 0).UTC().Format(time.DateOnly),
	}, nil
}
