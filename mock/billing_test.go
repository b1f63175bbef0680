package mock_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

func TestBillingVersionsAndPaging(t *testing.T) {
	ctx := context.Background()
	b := mock.NewBilling()
	b.Put(billsync.ObjectBalance, billsync.Entity{"id": "bal_9", "accountId": "acc_1", "version": json.Number("4")})
	tx, err := b.Create(ctx, billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": "bal_9", "amount": "1.00"}, "key-1")
	if err != nil || tx.Version() != 1 || tx.Str("accountId") != "acc_1" || tx.ID() == "" {
		t.Fatalf("create %v %v", tx, err)
	}
	again, err := b.Create(ctx, billsync.ObjectBalanceTransaction, billsync.Entity{"balanceId": "bal_9"}, "key-1")
	if err != nil || again.ID() != tx.ID() {
		t.Fatalf("idempotent create %v %v", again, err)
	}
	tx["amount"] = "2.00"
	upd, err := b.Update(ctx, billsync.ObjectBalanceTransaction, tx)
	if err != nil || upd.Version() != 2 {
		t.Fatalf("update %v %v", upd, err)
	}
	if _, err := b.Update(ctx, billsync.ObjectBalanceTransaction, tx); billsync.ErrorCode(err) != billsync.ECONFLICT {
		t.Fatalf("stale update: %v", err)
	}
	for i := range 5 {
		b.Put(billsync.ObjectAccount, billsync.Entity{"id": "acc_" + string(rune('a'+i)), "version": json.Number("1")})
	}
	var ids []string
	for cursor := ""; ; {
		page, next, err := b.List(ctx, billsync.ObjectAccount, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range page {
			ids = append(ids, e.ID())
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(ids) != 5 || ids[0] != "acc_a" || ids[4] != "acc_e" {
		t.Fatalf("listed %v", ids)
	}
	if err := b.Delete(ctx, billsync.ObjectAccount, "acc_c"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, billsync.ObjectAccount, "acc_c"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := b.Get(ctx, billsync.ObjectQuote, "acc_a"); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Fatalf("record of another type: %v", err)
	}
	if b.Writes() != 6 || b.Capabilities().Versioning != billsync.VersionInteger {
		t.Fatalf("writes %d caps %+v", b.Writes(), b.Capabilities())
	}
	// Ids it makes never take the id of a record put there.
	b.Put(billsync.ObjectQuote, billsync.Entity{"id": "q_1", "version": json.Number("1")})
	if q, _ := b.Create(ctx, billsync.ObjectQuote, billsync.Entity{}, ""); q.ID() == "q_1" {
		t.Fatalf("created over a stored record: %v", q)
	}
	down := errors.New("down")
	b.Hook = func(ctx context.Context, c mock.BillingCall) error { return down }
	if _, err := b.Get(ctx, billsync.ObjectAccount, "acc_a"); !errors.Is(err, down) {
		t.Fatalf("hook: %v", err)
	}
}
