package billsync

import "time"

// Outcome of one sync attempt (G1).
type Outcome string

const (
	OutcomeSuccess  Outcome = "success"
	OutcomeFailed   Outcome = "failed"
	OutcomeSkipped  Outcome = "skipped"
	OutcomeConflict Outcome = "conflict"
	OutcomeRetrying Outcome = "retrying"
	OutcomeDead     Outcome = "dead"
	// OutcomeRejected is a correctly signed webhook refused as invalid
	// (a missing field, a bad reference): nothing was queued, and the
	// billing platform sent something it should not have.
	OutcomeRejected Outcome = "rejected"
)

// ParseOutcome validates an outcome filter.
func ParseOutcome(s string) (Outcome, error) {
	switch o := Outcome(s); o {
	case OutcomeSuccess, OutcomeFailed, OutcomeSkipped, OutcomeConflict, OutcomeRetrying, OutcomeDead, OutcomeRejected:
		return o, nil
	}
	return "", Errorf(EINVALID, "unknown outcome %q (want success, failed, skipped, conflict, retrying, dead or rejected)", s)
}

// Stable reason codes for the sync log (G1). Operators filter on them and
// documentation cites them, so they never change meaning.
const (
	ReasonSwitchOff        = "switch_off"         // A5: master or object switch off
	ReasonEcho             = "echo"               // B6: equal to the agreed values
	ReasonStale            = "stale"              // B6: not newer than the applied version
	ReasonCoalesced        = "coalesced"          // folded into a later change of the same record
	ReasonStatusNotAllowed = "status_not_allowed" // F5
	ReasonUnsupported      = "unsupported"        // §5.3: the billing platform cannot take it
	ReasonDryRun           = "dry_run"            // H4
	ReasonOwnWrite         = "own_write"          // a Salesforce event caused by billsync's own write
	ReasonNoChange         = "no_change"          // nothing mapped differs
	ReasonDeleteIgnored    = "delete_ignored"     // H1 policy ignore
	ReasonNotFound         = "not_found"          // the record is gone on the source side
	ReasonValidation       = "validation"         // E5: refused before any write
	ReasonRemoteError      = "remote_error"       // the other side refused the write
	ReasonWaitingParent    = "waiting_parent"     // B4: parent not in Salesforce yet
	ReasonRetryLimit       = "retry_limit"        // H3: attempts exhausted
	ReasonInvalidWebhook   = "invalid_webhook"    // a signed webhook refused as invalid (outcome rejected)
	ReasonDiscarded        = "discarded"          // an operator discarded the dead letter
	ReasonHeld             = "held"               // the mass-change guard held it for an admin's approval
	ReasonReplayGap        = "replay_gap"         // the stored replay id fell out of the event bus's retention
	ReasonRequeued         = "requeued"           // queued again in the partition of the record's account
)

// Reasons are the reason codes above, for a filter's choices.
var Reasons = []string{ReasonSwitchOff, ReasonEcho, ReasonStale, ReasonCoalesced, ReasonStatusNotAllowed, ReasonUnsupported,
	ReasonDryRun, ReasonOwnWrite, ReasonNoChange, ReasonDeleteIgnored, ReasonNotFound, ReasonValidation, ReasonRemoteError,
	ReasonWaitingParent, ReasonRetryLimit, ReasonInvalidWebhook, ReasonDiscarded, ReasonHeld, ReasonReplayGap}

// LogEntry is one sync attempt (G1).
type LogEntry struct {
	ID           int64         `json:"id"`
	Time         time.Time     `json:"time"`
	Direction    Direction     `json:"direction"`
	Object       ObjectType    `json:"object"`
	BillingID    string        `json:"billingId,omitempty"`
	SalesforceID string        `json:"salesforceId,omitempty"`
	Operation    string        `json:"operation"` // create, update, upsert, delete, read, …
	Outcome      Outcome       `json:"outcome"`
	Reason       string        `json:"reason,omitempty"`
	ErrorCode    string        `json:"errorCode,omitempty"` // Salesforce's or billing's own code
	Message      string        `json:"message,omitempty"`
	Attempt      int           `json:"attempt"`
	Latency      time.Duration `json:"latencyNs"`
	EventID      string        `json:"eventId,omitempty"`
	ChangeID     int64         `json:"changeId,omitempty"`
}

// LogFilter selects sync-log entries (G2). Zero fields match everything.
type LogFilter struct {
	Since   time.Time
	Object  ObjectType
	Record  string // a billing id or a Salesforce id
	Outcome Outcome
	// Direction and Reason narrow to one direction and one reason
	// (a Reason… constant, such as "echo" or "remote_error").
	Direction Direction
	Reason    string
	Limit     int    // default 100, at most 1000
	Cursor    string // from a previous page's NextCursor
}
