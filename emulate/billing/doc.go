// Package billing is the billing emulator: an in-process implementation of
// the billing contract of SPEC §5 (REST under /api/v1 and Standard Webhooks
// delivery) that tests, `billsync sandbox` and `billsync emulate billing`
// run, and that operators use to try mappings without touching a real
// billing platform.
//
// What it does:
//   - REST for accounts, balances, balance-transactions and quotes: ids are
//     generated with a prefix (acc_, bal_, btx_, quo_, and qof_/qit_ for quote
//     offerings and items); version starts at 1 and increments on every
//     write; PUT must carry the current version (missing or stale → 409
//     version_conflict); bad input → 400 invalid naming the field; unknown
//     fields are refused; money (amount, quantity, unitPrice) must be a
//     decimal string, a JSON number is refused so money never passes
//     through float64.
//   - Lists are ordered by creation and paged with an opaque cursor that
//     stays valid while records are created or deleted.
//   - Every create, update and delete emits a signed webhook
//     ({"type":"<entity>.<op>","timestamp":…,"data":{…}}). Events of one
//     account (its balances, transactions and quotes included) are delivered
//     strictly in order; different accounts are delivered in parallel
//     (Options.Workers at once).
//     Failed deliveries are retried with backoff for up to 24 hours, signed
//     afresh on every attempt (same webhook-id, new timestamp). While no
//     webhook URL is set, events are held, not dropped.
//
// Decisions the contract leaves open:
//   - Deleting an account that still has balances or quotes is refused with
//     409 has_dependents: billing money records are never destroyed as a
//     side effect. Delete the children first.
//   - Deleting a balance deletes its transactions, emitting one
//     balance_transaction.deleted per transaction before balance.deleted.
//   - A balance cannot move to another account, nor a transaction to another
//     balance (400): the account is the ordering partition of every event.
//   - A client may not choose a record's id; offering and item ids may be
//     given (kept) or left blank (generated).
//
// With Options.DataDir set, every change (a record written, a webhook
// queued, a delivery's outcome) is appended to a journal as one JSON line
// before the request that made it is answered, so a restart, or a crash of
// the process, comes back with every acknowledged write, undelivered
// webhooks included. The journal is folded into a snapshot in the
// background once it outgrows the last one and on New; Close writes the
// snapshot.
//
// It must not import the engine or any billsync package but the root; it
// is a stand-in for a remote system and knows nothing of Salesforce.
package billing
