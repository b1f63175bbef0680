package engine

import (
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// The names quote_test.go still uses, now backed by package mock. They
// go when quote sync and its tests leave this package (quotesync).
type (
	memStore     = mock.Store
	memConflicts = mock.Store
)

func newMemStore() *memStore { return mock.NewStore() }

type fakeBilling struct{ *mock.Billing }

func newFakeBilling() *fakeBilling { return &fakeBilling{mock.NewBilling()} }

// put stores a record under the type its id names.
func (b *fakeBilling) put(e billsync.Entity) {
	t := billsync.ObjectQuote
	switch id := e.ID(); {
	case strings.HasPrefix(id, "acc_"):
		t = billsync.ObjectAccount
	case strings.HasPrefix(id, "bal_"):
		t = billsync.ObjectBalance
	case strings.HasPrefix(id, "btx_"):
		t = billsync.ObjectBalanceTransaction
	}
	b.Put(t, e)
}
