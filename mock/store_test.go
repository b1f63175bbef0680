package mock_test

import (
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
	"github.com/billsync/billsync/storetest"
)

// The in-memory store keeps the contract the SQL stores keep, so tests
// that run on it mean what they would mean on a real store.
func TestStoreConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) billsync.Store { return mock.NewStore() })
}
