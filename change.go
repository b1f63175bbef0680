package billsync

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Change is one queued unit of work: an event from one side about one
// record, waiting to be applied to the other side.
type Change struct {
	ID int64 `json:"id"` // assigned by the queue; ascending in arrival order

	// Partition keeps order (B2, E1): changes of one partition are applied
	// one at a time, in ID order. Accounts, balances and transactions use
	// "account:<billing account id>"; quotes use "quote:<quote id>".
	Partition string `json:"partition"`

	Source   Side       `json:"source"`
	Object   ObjectType `json:"object"`
	Op       Op         `json:"op"`
	RecordID string     `json:"recordId"` // billing id (Source billing) or Salesforce id (Source salesforce)

	// EventID is the idempotency key: the webhook-id, or the platform
	// event's EventUuid. Enqueuing an EventID twice stores it once.
	EventID string `json:"eventId"`

	// Payload is the webhook's whole object (Source billing), or the
	// platform event's payload (Source salesforce).
	Payload json.RawMessage `json:"payload,omitempty"`

	OccurredAt time.Time `json:"occurredAt"` // when the source says it happened
	EnqueuedAt time.Time `json:"enqueuedAt"`
	Attempt    int       `json:"attempt"` // 1 on the first claim
	LastError  string    `json:"lastError,omitempty"`

	// Fence is the claim's fencing token, set by Claim and ClaimRuns: a
	// generation of the change's lease that every later claim bumps. A
	// write made under Fenced(ctx, c) is refused with ErrLeaseLost once
	// another claim took the change over.
	Fence int64 `json:"fence,omitempty"`
}

// AccountPartition is the partition of records belonging to an account.
func AccountPartition(accountID string) string { return "account:" + accountID }

// QuotePartition is the partition of one quote (E1).
func QuotePartition(quoteID string) string { return "quote:" + quoteID }

// RecordPartition is the partition for a Salesforce-side change whose
// billing account is not known yet (a record created in Salesforce).
func RecordPartition(sfID string) string { return "sfrecord:" + sfID }

// PartitionOf returns the queue partition of a billing record (B2, E1):
// accounts, balances and transactions share their account's partition;
// quotes are partitioned per quote.
func PartitionOf(t ObjectType, data Entity) (string, error) {
	switch t {
	case ObjectAccount:
		return AccountPartition(data.ID()), nil
	case ObjectBalance, ObjectBalanceTransaction:
		acc := data.Str("accountId")
		if acc == "" {
			return "", Errorf(EINVALID, "data.accountId is missing (a %s belongs to an account)", t)
		}
		return AccountPartition(acc), nil
	case ObjectQuote:
		return QuotePartition(data.ID()), nil
	}
	return "", Errorf(EINVALID, "unknown object type %q", t)
}

// DeadLetter is a change that exhausted its retries or failed permanently
// (H3). It can be replayed.
type DeadLetter struct {
	Change
	DeadAt    time.Time `json:"deadAt"`
	ErrorCode string    `json:"errorCode"`
	Error     string    `json:"error"`
}

// NoDeadLetters is the ENOTFOUND of dead letter ids that do not exist
// (any more), naming each of them.
func NoDeadLetters(ids []int64) error {
	if len(ids) == 1 {
		return Errorf(ENOTFOUND, "no dead letter %d", ids[0])
	}
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = strconv.FormatInt(id, 10)
	}
	return Errorf(ENOTFOUND, "no dead letters %s", strings.Join(s, ", "))
}

// DiscardEntry is the sync-log entry of a dead letter an operator (actor,
// the admin token's name) discarded at the given time.
func DiscardEntry(d DeadLetter, actor string, at time.Time) LogEntry {
	e := LogEntry{Time: at.UTC(), Direction: ToSalesforce, Object: d.Object, Operation: "discard",
		Outcome: OutcomeSkipped, Reason: ReasonDiscarded, ErrorCode: d.ErrorCode,
		Message: "dead letter discarded by " + actor + "; its change will not be applied",
		Attempt: d.Attempt, EventID: d.EventID, ChangeID: d.ID}
	if d.Source == SideSalesforce {
		e.Direction, e.SalesforceID = ToBilling, d.RecordID
	} else {
		e.BillingID = d.RecordID
	}
	return e
}

// SyncState is what billsync remembers per synced record: the id map, the
// last billing version it applied or wrote, and the field values both
// sides last agreed on (B6, D1), keyed by billing field path, in canonical
// form (see mapping).
type SyncState struct {
	Object         ObjectType        `json:"object"`
	BillingID      string            `json:"billingId"`
	SalesforceID   string            `json:"salesforceId"`
	AccountID      string            `json:"accountId"` // partition of the record
	BillingVersion int64             `json:"billingVersion"`
	Agreed         map[string]string `json:"agreed"`
	UpdatedAt      time.Time         `json:"updatedAt"`
}
