package runner

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
)

// ch builds change n of a run: "b" or "s" source, object, op and record.
func ch(n int64, src string, obj billsync.ObjectType, op billsync.Op, rec string) billsync.Change {
	side := billsync.SideBilling
	if src == "s" {
		side = billsync.SideSalesforce
	}
	return billsync.Change{ID: n, Partition: "account:a", Source: side, Object: obj, Op: op, RecordID: rec}
}

// shape renders a plan: rounds separated by " | ", levels by " / ",
// a step as its change id with the folded ids in brackets, serial levels
// marked with "=".
func shape(rounds []round) string {
	var rs []string
	for _, rd := range rounds {
		var ls []string
		for _, lv := range rd {
			var ss []string
			for _, st := range lv.steps {
				s := fmt.Sprint(st.apply.ID)
				if len(st.folded) > 0 {
					var f []string
					for _, c := range st.folded {
						f = append(f, fmt.Sprint(c.ID))
					}
					s += "[" + strings.Join(f, ",") + "]"
				}
				ss = append(ss, s)
			}
			l := strings.Join(ss, " ")
			if lv.serial {
				l = "=" + l
			}
			ls = append(ls, l)
		}
		rs = append(rs, strings.Join(ls, " / "))
	}
	return strings.Join(rs, " | ")
}

func TestPlan(t *testing.T) {
	const (
		acc = billsync.ObjectAccount
		bal = billsync.ObjectBalance
		txn = billsync.ObjectBalanceTransaction
		quo = billsync.ObjectQuote
		cr  = billsync.OpCreated
		up  = billsync.OpUpdated
		del = billsync.OpDeleted
		und = billsync.OpUndeleted
	)
	for _, tc := range []struct {
		name string
		run  []billsync.Change
		want string
	}{
		{"one change", []billsync.Change{ch(1, "b", acc, up, "a")}, "1"},
		{
			"an account's creation: parents first, whatever the queue order",
			[]billsync.Change{ch(1, "b", txn, cr, "t1"), ch(2, "b", bal, cr, "b1"), ch(3, "b", acc, cr, "a"),
				ch(4, "b", txn, cr, "t2"), ch(5, "b", bal, cr, "b2")},
			"3 / 2 5 / 1 4",
		},
		{
			"billing updates of records created before the run need no order: one level",
			[]billsync.Change{ch(1, "b", txn, up, "t1"), ch(2, "b", bal, up, "b1"), ch(3, "b", acc, up, "a")},
			"1 2 3",
		},
		{
			"a create in the run keeps its level; updates beside it go first",
			[]billsync.Change{ch(1, "b", txn, up, "t1"), ch(2, "b", bal, cr, "b2"), ch(3, "b", txn, cr, "t2"), ch(4, "s", bal, up, "a0B"), ch(5, "s", acc, up, "001")},
			"1 / 2 / 3 | 5 / 4",
		},
		{
			"a record's states fold into the newest",
			[]billsync.Change{ch(1, "b", acc, cr, "a"), ch(2, "b", bal, cr, "b1"), ch(3, "b", acc, up, "a"),
				ch(4, "b", bal, up, "b1"), ch(5, "b", acc, up, "a")},
			"5[1,3] / 4[2]",
		},
		{
			"a delete folds what came before it; what follows waits a round",
			[]billsync.Change{ch(1, "b", acc, up, "a"), ch(2, "b", bal, up, "b1"), ch(3, "b", bal, del, "b1"),
				ch(4, "b", txn, del, "t1")},
			"1 / 4 / 3[2]",
		},
		{
			"after a delete and an undelete, each comes in its own round",
			[]billsync.Change{ch(1, "s", acc, del, "001"), ch(2, "s", acc, und, "001"), ch(3, "s", acc, up, "001"), ch(4, "s", bal, up, "002")},
			"4 / 1 | 2 | 3",
		},
		{
			"the sources never mix, and keep their order",
			[]billsync.Change{ch(1, "b", acc, up, "a"), ch(2, "b", acc, up, "a"), ch(3, "s", acc, up, "001"),
				ch(4, "b", acc, up, "a"), ch(5, "s", bal, up, "002")},
			"2[1] | 3 | 4 | 5",
		},
		{
			"quotes one at a time, after the records",
			[]billsync.Change{ch(1, "b", quo, up, "q1"), ch(2, "b", quo, up, "q2"), ch(3, "b", acc, up, "a"), ch(4, "b", quo, up, "q1")},
			"3 / =4[1] 2",
		},
		{
			"resolutions and resyncs stand alone",
			[]billsync.Change{ch(1, "b", acc, up, "a"), {ID: 2, Source: billsync.SideBilling, Object: acc, Op: billsync.OpResolve, RecordID: "a"},
				ch(3, "b", acc, up, "a"), ch(4, "b", acc, up, "a")},
			"1 | 2 | 4[3]",
		},
		{
			"no record id: alone",
			[]billsync.Change{ch(1, "b", acc, up, ""), ch(2, "b", acc, up, "")},
			"1 | 2",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, shape(plan(tc.run, false))); d != "" {
				t.Errorf("plan (-want +got):\n%s", d)
			}
			// Every change of the run is in the plan once.
			seen := map[int64]int{}
			for _, rd := range plan(tc.run, false) {
				for _, lv := range rd {
					for _, st := range lv.steps {
						seen[st.apply.ID]++
						for _, c := range st.folded {
							seen[c.ID]++
						}
					}
				}
			}
			for _, c := range tc.run {
				if seen[c.ID] != 1 {
					t.Errorf("change %d is in the plan %d times", c.ID, seen[c.ID])
				}
			}
		})
	}
}

// With the trigger absent (KeepSalesforceChanges), a record's Salesforce
// changes are each applied, in order, while billing's still fold: the
// engine reads an overwritten edit from each change event's own values.
func TestPlanKeepsSalesforceChanges(t *testing.T) {
	acc := billsync.ObjectAccount
	up := billsync.OpUpdated
	run := []billsync.Change{ch(1, "s", acc, up, "001"), ch(2, "s", acc, up, "001"), ch(3, "s", acc, up, "001")}
	if got := shape(plan(run, false)); got != "3[1,2]" {
		t.Errorf("folded plan %q, want 3[1,2]", got)
	}
	if got := shape(plan(run, true)); got != "1 | 2 | 3" {
		t.Errorf("plan keeping Salesforce changes %q, want 1 | 2 | 3", got)
	}
	billing := []billsync.Change{ch(1, "b", acc, up, "a"), ch(2, "b", acc, up, "a")}
	if got := shape(plan(billing, true)); got != "2[1]" {
		t.Errorf("billing changes %q, want 2[1] (still folded)", got)
	}
}

func TestCoalescedEntry(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	c := ch(7, "s", billsync.ObjectBalance, billsync.OpUpdated, "a0B000000000001")
	c.EventID, c.Attempt, c.EnqueuedAt = "evt-7", 1, now.Add(-time.Second)
	le := coalescedEntry(c, 9, now)
	want := billsync.LogEntry{Time: now, Direction: billsync.ToBilling, Object: billsync.ObjectBalance, SalesforceID: "a0B000000000001",
		Outcome: billsync.OutcomeSkipped, Reason: billsync.ReasonCoalesced, Message: "folded into change 9, a later state of the same record",
		Attempt: 1, Latency: time.Second, EventID: "evt-7", ChangeID: 7}
	if d := cmp.Diff(want, le); d != "" {
		t.Errorf("entry (-want +got):\n%s", d)
	}
}
