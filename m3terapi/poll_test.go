package m3terapi

import (
	"testing"
	"time"

	"github.com/billsync/billsync"
)

func TestPollReadsUntilTheCheckpoint(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})

	changes, cp, err := c.Poll(ctx(t), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 || cp == "" {
		t.Fatalf("first poll = %d changes, checkpoint %q: want none and the newest event", len(changes), cp)
	}

	// While billsync was away: a balance with a transaction (seen only as
	// its balance's update), many account edits (more than a page), and
	// billsync's own edit, which is its echo.
	bid := seedBalance(fk, acct.str("id")).str("id")
	fk.addTxn(bid, "42.00", "missed")
	for i := range 150 {
		fk.edit("account", acct.str("id"), func(x record) { x["name"] = "Acme " + itoa(i) })
	}
	e, _ := c.Get(ctx(t), billsync.ObjectAccount, acct.str("id"))
	e["name"] = "Acme by billsync"
	if _, err := c.Update(ctx(t), billsync.ObjectAccount, e); err != nil {
		t.Fatal(err)
	}

	changes, next, err := c.Poll(ctx(t), cp)
	if err != nil {
		t.Fatal(err)
	}
	if next == cp || next == "" {
		t.Fatalf("checkpoint did not move: %q", next)
	}
	var bals, accts int
	for i, ch := range changes {
		switch ch.Object {
		case billsync.ObjectBalance:
			bals++
			if ch.RecordID != bid || ch.Partition != billsync.AccountPartition(acct.str("id")) {
				t.Errorf("balance change %+v", ch)
			}
		case billsync.ObjectAccount:
			accts++
		}
		if i > 0 && ch.OccurredAt.Before(changes[i-1].OccurredAt) {
			t.Errorf("changes not oldest first at %d", i)
		}
	}
	// created + updated by the transaction; 150 edits; the echo dropped.
	if bals != 2 || accts != 150 {
		t.Errorf("balance changes %d, account changes %d; want 2 and 150", bals, accts)
	}
	if first := changes[0]; first.Object != billsync.ObjectBalance || first.Op != billsync.OpCreated {
		t.Errorf("first change = %+v, want the balance's creation", first)
	}

	// Nothing new: nothing queued, the checkpoint stays.
	changes, again, err := c.Poll(ctx(t), next)
	if err != nil || len(changes) != 0 || again != next {
		t.Errorf("idle poll = %d changes, %q, %v", len(changes), again, err)
	}
}

func TestPollEventIDsMatchTheWebhooks(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	_, cp, _ := c.Poll(ctx(t), "")
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	changes, _, err := c.Poll(ctx(t), cp)
	if err != nil || len(changes) != 1 {
		t.Fatalf("poll = %v, %v", changes, err)
	}
	fk.mu.Lock()
	ev := clone(fk.events[len(fk.events)-1])
	fk.mu.Unlock()
	raw, _ := jsonOf(ev)
	cs, err := NewWebhooks(c).Decode(ev.str("id"), []byte(raw), time.Now())
	if err != nil || len(cs) != 1 {
		t.Fatalf("decode = %v, %v", cs, err)
	}
	if cs[0].EventID != changes[0].EventID || cs[0].RecordID != acct.str("id") {
		t.Errorf("webhook %q / poll %q: the same event must be queued once", cs[0].EventID, changes[0].EventID)
	}
}

func TestPollWithAnExpiredCheckpointReadsAllHeld(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	fk.seedAccount(record{"code": "A", "name": "A", "emailAddress": "a@example.com"})
	fk.seedAccount(record{"code": "B", "name": "B", "emailAddress": "b@example.com"})
	changes, next, err := c.Poll(ctx(t), "evt-expired")
	if err != nil || len(changes) != 2 || next == "" {
		t.Errorf("poll = %d changes, %q, %v; want every held event", len(changes), next, err)
	}
}
