package quotesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/billsync/billsync"
)

// Keys of a quote's SyncState.Agreed. Quote sync is one-way, so instead
// of field values the state keeps what the stale and echo checks (B6) and
// the Opportunity link need.
const (
	agreedHash        = "quote.hash"        // content hash of the last quote applied (or written back)
	agreedOpportunity = "quote.opportunity" // the Opportunity the Salesforce Quote belongs to
	agreedLinkKept    = "quote.linkKept"    // "1": billing cannot hold the link, billsync keeps it
	// agreedItems lists the quote's item ids billsync has synced or is
	// about to write (saved before the first write, see recordItems), so
	// the Opportunity products of a removed item are known as this
	// quote's even when an earlier attempt already deleted its quote line
	// or never wrote it.
	agreedItems = "quote.items"
)

// contentHash fingerprints what a quote says, leaving out what every
// write changes (version, timestamps), so billsync's own write-back of
// crmOpportunityId is recognised when it comes back as a webhook.
func contentHash(ent billsync.Entity) string {
	c := billsync.Entity{}
	for k, v := range ent {
		switch k {
		case "version", "updatedAt", "createdAt":
			continue
		}
		c[k] = v
	}
	b, _ := json.Marshal(c)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// saveState records the quote's state. complete is false while the quote
// is not fully applied: the previous version and no hash are kept, so
// nothing later is skipped as stale or echo because of it, but the
// Opportunity link is remembered. A quote that landed without some lines
// (partial) is complete: its next change syncs them once they can be.
func (s *Syncer) saveState(ctx context.Context, snap *snapshot, p *plan, res *applied, hash string, complete bool) error {
	ns := nextState(snap.ent, snap.st, snap.lines, p.items, res.sfID, res.oppID, hash, complete)
	if res.linkKept || (snap.st != nil && snap.st.Agreed[agreedLinkKept] != "" && snap.ent.Str("crmOpportunityId") == "") {
		ns.Agreed[agreedLinkKept] = "1"
	}
	ns.UpdatedAt = s.now()
	err := s.cfg.State.PutSyncState(ctx, ns)
	if err != nil {
		s.log.Warn("could not save quote sync state", "quote", snap.ent.ID(), "err", err)
	}
	return err
}

// nextState is the state after an attempt.
func nextState(ent billsync.Entity, st *billsync.SyncState, lines []current, items []string, sfID, oppID, hash string, complete bool) *billsync.SyncState {
	ns := &billsync.SyncState{Object: billsync.ObjectQuote, BillingID: ent.ID(), SalesforceID: sfID, Agreed: map[string]string{}}
	if st != nil {
		ns.BillingVersion = st.BillingVersion
		if ns.SalesforceID == "" {
			ns.SalesforceID = st.SalesforceID
		}
	}
	if oppID != "" {
		ns.Agreed[agreedOpportunity] = oppID
	}
	// The items this quote's products may belong to: after a complete
	// sync the current ones; while incomplete, also every item synced
	// before, whose products may still await deletion.
	set := map[string]bool{}
	for _, id := range items {
		set[id] = true
	}
	if !complete {
		for _, x := range lines {
			set[x.ItemID] = true
		}
		if st != nil {
			for _, id := range strings.Split(st.Agreed[agreedItems], ",") {
				set[id] = true
			}
		}
	}
	delete(set, "")
	ns.Agreed[agreedItems] = strings.Join(slices.Sorted(maps.Keys(set)), ",")
	if complete {
		ns.BillingVersion = ent.Version()
		ns.Agreed[agreedHash] = hash
	}
	return ns
}
