package runner

import (
	"fmt"
	"time"

	"github.com/billsync/billsync"
)

// A partition's run is applied in rounds, each round in levels, each level
// a set of steps applied together; plan decides that shape from the run
// alone, before anything is applied.
//
// What may be applied together, and what must wait:
//   - A run is cut where its source changes (billing, Salesforce): a
//     billing change and a Salesforce event may name one record under two
//     ids (the billing id, the Salesforce id), so changes from the two
//     sides are never applied together, and keep their order.
//   - Within one source, a record's changes coalesce: created and updated
//     states fold into the newest (deleted too: a record deleted before it
//     was ever applied needs only the delete). The folded changes are
//     settled as coalesced. A change after a delete or an undelete of the
//     same record waits for the next round.
//   - The records of a round are applied by dependency level: accounts,
//     then balances, then transactions (parents before children, so a
//     child's parent reference finds it), then quotes one at a time;
//     deletes after that, children first. A billing update of a record
//     whose creation is not in the run was written to Salesforce by an
//     earlier run: it needs no parent written first, so it goes with the
//     first level whatever its object (should the record be missing after
//     all, its write waits for its parent and is retried, as any).
//   - Operator resolutions and resync jobs, and changes of objects the
//     plan does not know, are applied alone, in queue order.

// step is one record's coalesced changes: apply applies the newest, and
// folded are settled as coalesced into it.
type step struct {
	apply  billsync.Change
	folded []billsync.Change
}

// level is steps applied at once; serial levels apply one step at a time.
type level struct {
	steps  []step
	serial bool
}

// round is levels applied in order.
type round []level

// Level order of a round: upserts parents first, deletes children first.
const (
	levelAccount = iota
	levelBalance
	levelTransaction
	levelQuote
	levelDeleteQuote
	levelDeleteTransaction
	levelDeleteBalance
	levelDeleteAccount
	levels
)

func levelOf(c billsync.Change) int {
	del := c.Op == billsync.OpDeleted
	switch c.Object {
	case billsync.ObjectAccount:
		return pick(del, levelDeleteAccount, levelAccount)
	case billsync.ObjectBalance:
		return pick(del, levelDeleteBalance, levelBalance)
	case billsync.ObjectBalanceTransaction:
		return pick(del, levelDeleteTransaction, levelTransaction)
	case billsync.ObjectQuote:
		return pick(del, levelDeleteQuote, levelQuote)
	}
	return -1
}

func pick(cond bool, a, b int) int {
	if cond {
		return a
	}
	return b
}

// plannable reports whether c may share a round with other changes: a
// record change of a known object with a record id.
func plannable(c billsync.Change) bool {
	switch c.Op {
	case billsync.OpCreated, billsync.OpUpdated, billsync.OpDeleted, billsync.OpUndeleted:
	default:
		return false
	}
	return c.RecordID != "" && levelOf(c) >= 0
}

// folds reports whether a change with op next supersedes one with op prev
// of the same record: each carries (or, for Salesforce, makes billsync
// read) the record's whole state, so only the newest needs applying.
func folds(prev, next billsync.Op) bool {
	return (prev == billsync.OpCreated || prev == billsync.OpUpdated) && next != billsync.OpUndeleted
}

// plan cuts a run (in queue order) into rounds.
// keepSF: a Salesforce change is never folded (Config.KeepSalesforceChanges).
func plan(run []billsync.Change, keepSF bool) []round {
	var out []round
	for i := 0; i < len(run); {
		j := i + 1
		if !plannable(run[i]) {
			out = append(out, round{{steps: []step{{apply: run[i]}}}})
			i = j
			continue
		}
		for j < len(run) && plannable(run[j]) && run[j].Source == run[i].Source {
			j++
		}
		out = append(out, planSegment(run[i:j], keepSF)...)
		i = j
	}
	return out
}

type recordKey struct {
	object billsync.ObjectType
	id     string
}

// planSegment plans changes of one source: each record's changes become
// steps, its k-th step going to the segment's k-th round.
func planSegment(seg []billsync.Change, keepSF bool) []round {
	steps := map[recordKey][]step{}
	var order []recordKey // records by their first change, so rounds keep queue order within a level
	for _, c := range seg {
		k := recordKey{c.Object, c.RecordID}
		ss, seen := steps[k]
		if !seen {
			order = append(order, k)
		}
		if n := len(ss); n > 0 && folds(ss[n-1].apply.Op, c.Op) && !(keepSF && c.Source == billsync.SideSalesforce) {
			ss[n-1].folded = append(ss[n-1].folded, ss[n-1].apply)
			ss[n-1].apply = c
			continue
		}
		steps[k] = append(ss, step{apply: c})
	}
	var out []round
	for r := 0; ; r++ {
		var byLevel [levels][]step
		any := false
		for _, k := range order {
			if ss := steps[k]; r < len(ss) {
				l := levelOf(ss[r].apply)
				if updateOnly(ss[r]) && l < levelQuote {
					l = levelAccount
				}
				byLevel[l] = append(byLevel[l], ss[r])
				any = true
			}
		}
		if !any {
			return out
		}
		var rd round
		for l, ss := range byLevel {
			if len(ss) > 0 {
				// Quotes of one account may share an Opportunity and its
				// products: they are applied one at a time.
				rd = append(rd, level{steps: ss, serial: l == levelQuote || l == levelDeleteQuote})
			}
		}
		out = append(out, rd)
	}
}

// updateOnly reports whether st is a billing update of a record created
// before its run: no change of the step is a create.
func updateOnly(st step) bool {
	if st.apply.Source != billsync.SideBilling || st.apply.Op != billsync.OpUpdated {
		return false
	}
	for _, c := range st.folded {
		if c.Op == billsync.OpCreated {
			return false
		}
	}
	return true
}

// coalescedEntry is the sync-log entry of change c, folded into the later
// change into of the same record.
func coalescedEntry(c billsync.Change, into int64, now time.Time) billsync.LogEntry {
	le := billsync.LogEntry{
		Time: now, Direction: billsync.ToSalesforce, Object: c.Object, Outcome: billsync.OutcomeSkipped,
		Reason:  billsync.ReasonCoalesced,
		Message: fmt.Sprintf("folded into change %d, a later state of the same record", into),
		Attempt: c.Attempt, Latency: now.Sub(c.EnqueuedAt), EventID: c.EventID, ChangeID: c.ID,
	}
	if c.Source == billsync.SideSalesforce {
		le.Direction, le.SalesforceID = billsync.ToBilling, c.RecordID
	} else {
		le.BillingID = c.RecordID
	}
	return le
}
