package billsync

import (
	"context"
	"time"
)

// Status is billsync's health and recent activity, as the console's
// overview shows it (GET /api/v1/status).
type Status struct {
	At     time.Time    `json:"at"`
	Stream StreamStatus `json:"stream"`
	// Billing is the billing platform's connection: nil error text when
	// its last check answered.
	Billing ConnectionStatus `json:"billing"`
	// Quotes is the quote source's connection (billing.quotes), when
	// quotes come from a platform of their own.
	Quotes *ConnectionStatus `json:"quotes,omitempty"`
	// APIUsed and APIMax are the org's daily API requests used and
	// allowed, from the latest Salesforce answer (0, 0: not known yet).
	APIUsed int        `json:"apiUsed"`
	APIMax  int        `json:"apiMax"`
	Queue   QueueStats `json:"queue"`
	// SalesforceURL is the org's instance URL, for links to records;
	// BillingRecordURL the configured link to a billing record, with
	// {object} and {id} to fill in ("" when none is configured).
	SalesforceURL    string `json:"salesforceUrl,omitempty"`
	BillingRecordURL string `json:"billingRecordUrl,omitempty"`
	// SyncedLastHour counts sync outcomes that wrote a change (success)
	// in the last hour of samples.
	SyncedLastHour int64 `json:"syncedLastHour"`
	// Trend is one sample a minute over the last hour, oldest first.
	Trend []StatusSample `json:"trend"`
}

// StreamStatus is the Salesforce event subscription's state.
type StreamStatus struct {
	Connected  bool    `json:"connected"`
	Standby    bool    `json:"standby"` // another replica holds it
	Error      string  `json:"error,omitempty"`
	LagSeconds float64 `json:"lagSeconds"`
}

// ConnectionStatus is the outcome of the latest check of a connection.
type ConnectionStatus struct {
	// Platform names what is checked: contract, stripe, m3ter or
	// monetizenow.
	Platform  string    `json:"platform,omitempty"`
	OK        bool      `json:"ok"`
	Error     string    `json:"error,omitempty"`
	CheckedAt time.Time `json:"checkedAt"` // zero: not checked yet
}

// StatusSample is one point of the overview's trend.
type StatusSample struct {
	At      time.Time `json:"at"`
	Pending int64     `json:"pending"`
	APIUsed int       `json:"apiUsed"`
	Synced  int64     `json:"synced"` // successes since the previous sample
}

// StatusReader reports the Status (package status implements it).
type StatusReader interface {
	Status(ctx context.Context) (Status, error)
}

// MappingView is the mapping in force, as GET /api/v1/mapping shows it:
// where it came from (the mapping file's path, or "built-in") and the
// whole mapping in the mapping file's format.
type MappingView struct {
	Source string `json:"source"`
	YAML   string `json:"yaml"`
}
