package salesforce

import (
	"maps"
	"strings"
	"sync/atomic"

	"github.com/billsync/billsync"
)

// Write is a write request as the emulator is about to apply it.
type Write struct {
	Username string
	// Integration is true when the user holds the BillsyncIntegration
	// custom permission: billsync's own writes.
	Integration bool
	Op          string // "create", "update", "upsert" or "delete"
	Object      string // "" for a delete, which names ids only
	// IDs are the record ids the request names (update, delete); for an
	// upsert, the external id values.
	IDs []string
	// Records are copies of the request's records (create, update, upsert).
	Records []billsync.SObject
}

// Names reports whether the request names id (a record id or, for an
// upsert, an external id value).
func (w Write) Names(id string) bool {
	for _, x := range w.IDs {
		if x == id || len(x) >= 15 && len(id) >= 15 && x[:15] == id[:15] {
			return true
		}
	}
	return false
}

// beforeWrite holds the hook SetBeforeWrite installs.
type beforeWrite struct{ f atomic.Pointer[func(Write)] }

// SetBeforeWrite installs f, which is called with every write request
// (sObject Collections and single records) after it is read and before it
// is applied, outside the emulator's lock: f may write to the emulator
// itself, as a sales user would, and may block to hold the request. A test
// makes an edit land between a client's decision and its write this way,
// without a sleep deciding the order. nil removes the hook.
func (e *Emulator) SetBeforeWrite(f func(Write)) {
	if f == nil {
		e.hooks.f.Store(nil)
		return
	}
	e.hooks.f.Store(&f)
}

// beforeWrite calls the installed hook, if any.
func (e *Emulator) beforeWrite(c *call, op, object string, recs []map[string]any, ids []string) {
	f := e.hooks.f.Load()
	if f == nil {
		return
	}
	w := Write{Username: c.user.Username, Integration: c.user.integration, Op: op, Object: object, IDs: ids}
	for _, r := range recs {
		w.Records = append(w.Records, billsync.SObject(maps.Clone(r)))
		if op == "update" {
			for k, v := range r {
				if s, ok := v.(string); ok && strings.EqualFold(k, "Id") {
					w.IDs = append(w.IDs, s)
				}
			}
		}
	}
	(*f)(w)
}
