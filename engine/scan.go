package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/engine/attempt"
)

// Transactions of a platform without transaction events (Stripe, m3ter):
// a new one shows only as a change of its balance, so every balance
// change from billing looks for transactions billsync has not seen and
// queues them as created, in the balance's partition, oldest first.

// scanLimit bounds one scan: a balance with more unseen transactions than
// this (a first sync of a long history) leaves the rest to a resync.
const scanLimit = 1000

// scanEventPrefix starts the event id of a change a scan queued.
const scanEventPrefix = "scan:"

// fromScan reports whether c was queued by a scan, its payload billing's
// own list answer rather than a webhook's copy.
func fromScan(c billsync.Change) bool {
	return c.Object == billsync.ObjectBalanceTransaction && c.Source == billsync.SideBilling && strings.HasPrefix(c.EventID, scanEventPrefix)
}

// scanPage is how many transactions one call asks for.
const scanPage = 100

// scanTransactions lists the transactions of balance balanceID newest
// first until one with sync state, and queues the ones before it. It
// reports false, with the failure recorded, when it could not finish;
// the balance change is then retried and the scan with it.
func (e *Engine) scanTransactions(ctx context.Context, a *attempt.Attempt, balanceID string) bool {
	sc, ok := e.cfg.Billing.(billsync.TransactionScanner)
	if !ok || e.caps.TransactionEvents {
		return true
	}
	unseen, truncated, err := e.unseenTransactions(ctx, sc, balanceID)
	if err != nil {
		a.FailOp(err, "scan", "", "")
		return false
	}
	if len(unseen) == 0 {
		return true
	}
	slices.Reverse(unseen) // oldest first: the order they were made in
	changes := make([]*billsync.Change, 0, len(unseen))
	now := e.now()
	for _, t := range unseen {
		payload, err := json.Marshal(t)
		if err != nil {
			a.Fail(err, "", "")
			return false
		}
		changes = append(changes, &billsync.Change{
			Partition: a.Change.Partition, Source: billsync.SideBilling,
			Object: billsync.ObjectBalanceTransaction, Op: billsync.OpCreated, RecordID: t.ID(),
			// The transaction's own id: found again by a later scan (or
			// after a crash before its state was saved) it is queued once.
			EventID: scanEventPrefix + t.ID(), Payload: payload, OccurredAt: now, EnqueuedAt: now,
		})
	}
	if _, err := e.cfg.Queue.Enqueue(ctx, changes...); err != nil {
		a.FailOp(err, "scan", "", "")
		return false
	}
	msg := fmt.Sprintf("found %d new transaction(s) of balance %s; queued to sync", len(changes), balanceID)
	if truncated {
		msg += fmt.Sprintf("; stopped after %d, a resync of balance_transaction brings the older ones", scanLimit)
	}
	a.Note(a.Entry(billsync.ObjectBalance, balanceID, "", "scan", billsync.OutcomeSuccess, "", "", msg))
	if e.cfg.OnEnqueue != nil {
		e.cfg.OnEnqueue()
	}
	return true
}

// unseenTransactions pages through a balance's transactions newest first
// and returns those before the first one with sync state that a scan
// found (billsync's own creations from Salesforce are passed over);
// truncated says it stopped at scanLimit instead.
func (e *Engine) unseenTransactions(ctx context.Context, sc billsync.TransactionScanner, balanceID string) (unseen []billsync.Entity, truncated bool, err error) {
	cursor := ""
	for {
		page, next, err := sc.RecentTransactions(ctx, balanceID, cursor, scanPage)
		if err != nil {
			return nil, false, err
		}
		for _, t := range page {
			_, err := e.cfg.State.SyncState(ctx, billsync.ObjectBalanceTransaction, t.ID())
			switch {
			case err == nil && t.PathStr(LinkField) != "":
				// billsync made this one from a Salesforce record: it was
				// known the moment it was made, not found by a scan, so
				// it says nothing of what is older. Look further.
				continue
			case err == nil:
				// Found by an earlier scan, which went past it down to a
				// known one: everything older has been seen.
				return unseen, false, nil
			case !notFound(err):
				return nil, false, err
			}
			if len(unseen) == scanLimit {
				return unseen, true, nil
			}
			unseen = append(unseen, t)
		}
		if next == "" {
			return unseen, false, nil
		}
		cursor = next
	}
}
