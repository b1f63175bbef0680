package quotesync

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// crashStore is a state store that loses every write once crashed is
// set: billsync was killed, and nothing the attempt would still have
// saved reached the store.
type crashStore struct {
	*mock.Store
	crashed atomic.Bool
	puts    atomic.Int32
}

func (s *crashStore) PutSyncState(ctx context.Context, st *billsync.SyncState) error {
	if s.crashed.Load() {
		return errors.New("killed")
	}
	s.puts.Add(1)
	return s.Store.PutSyncState(ctx, st)
}

// An attempt that adds an item writes its Opportunity product but not its
// quote line (the line's write is refused for a moment), and billsync is
// killed before the attempt saves its state. The next change removes the
// item again: its product must go too, though no line and no saved state
// names the item — the items are recorded before they are written.
func TestQuoteItemWrittenBeforeACrashIsRemovedLater(t *testing.T) {
	t.Parallel()
	f := newQFix(t, false)
	store := &crashStore{Store: f.state}
	s, err := New(Config{State: store, CRM: f.org, Billing: f.billing, Clock: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.syncer = s
	q := qBase("qk")
	qMustSucceed(t, f.send(q))
	opp := f.sfQuote("qk").Str("OpportunityId")

	q.Version = 2
	q.Offerings[0].Items = append(q.Offerings[0].Items, qItem("qk_it4", "ONBOARD", "ONE_TIME", "2", "75"))
	f.org.FailRecord = func(object string, r billsync.SObject) *billsync.FieldError {
		switch {
		case object == "QuoteLineItem" && r.Str(fieldLineExtID) == "qk_it4":
			return &billsync.FieldError{StatusCode: "UNABLE_TO_LOCK_ROW", Message: "locked"}
		case object == "OpportunityLineItem" && r.Str(fieldLineExtID) == "qk_it4":
			store.crashed.Store(true) // killed once the product is written
		}
		return nil
	}
	f.send(q)
	if _, ok := f.oppProducts(opp)["qk_it4"]; !ok {
		t.Fatal("the attempt did not write the new item's product; the test no longer reaches its case")
	}
	if f.org.Find("QuoteLineItem", fieldLineExtID, "qk_it4") != nil {
		t.Fatal("the new item's line was written; the test no longer reaches its case")
	}

	// Restarted: the next change removes the item.
	store.crashed.Store(false)
	f.org.FailRecord = nil
	q.Version = 3
	q.Offerings[0].Items = q.Offerings[0].Items[:2]
	qMustSucceed(t, f.send(q))
	if got := qKeys(f.oppProducts(opp)); got != "qk_it1,qk_it2,qk_it3" {
		t.Errorf("Opportunity products %s, want those of qk_it1,qk_it2,qk_it3 only", got)
	}
	if f.org.Find("QuoteLineItem", fieldLineExtID, "qk_it4") != nil {
		t.Error("the removed item's line is there")
	}

	// A change that brings no new item saves the state once, at the end.
	q.Version, q.Description = 4, "Acme expansion v4"
	before := store.puts.Load()
	qMustSucceed(t, f.send(q))
	if n := store.puts.Load() - before; n != 1 {
		t.Errorf("%d state saves for a change without new items, want 1", n)
	}
}
