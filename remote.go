package billsync

import (
	"context"
	"errors"
	"time"
)

// CRM is the Salesforce side as the engine needs it. The real
// implementation speaks REST (salesforce/rest); tests use in-memory fakes.
// Methods that take several records send them in as few calls as the API
// allows (sObject Collections, 200 records a call) and return one result
// per record, in order; err is non-nil only when no per-record result
// could be had.
type CRM interface {
	// Identity is the integration user's id and the org's id.
	Identity(ctx context.Context) (userID, orgID string, err error)
	// Upsert by external id field; a record may name its parent by the
	// parent's external id ({"BillingAccount__r": {"BillingId__c": "…"}}).
	Upsert(ctx context.Context, object, extIDField string, records []SObject) ([]SaveResult, error)
	// Create inserts records of one object.
	Create(ctx context.Context, object string, records []SObject) ([]SaveResult, error)
	// Update patches records of one object; each carries its "Id".
	Update(ctx context.Context, object string, records []SObject) ([]SaveResult, error)
	// Delete removes records by id.
	Delete(ctx context.Context, ids []string) ([]SaveResult, error)
	// Retrieve reads one record; ENOTFOUND (a *RemoteError with status
	// 404) when it does not exist or was deleted.
	Retrieve(ctx context.Context, object, id string, fields []string) (SObject, error)
	// Query runs SOQL and follows nextRecordsUrl to the end.
	Query(ctx context.Context, soql string) ([]SObject, error)
	// RetrieveRecords reads records of one object by id, with fields that
	// may follow relationships ("BillingAccount__r.BillingId__c"), in as
	// few queries as the API allows. Records that do not exist are absent
	// from the result; order is not kept.
	RetrieveRecords(ctx context.Context, object string, fields []string, ids []string) ([]SObject, error)
	// Describe reports an object's fields.
	Describe(ctx context.Context, object string) (*SObjectDescribe, error)
}

// SaveResult is one record's outcome in a write.
type SaveResult struct {
	ID      string       `json:"id,omitempty"`
	Success bool         `json:"success"`
	Created bool         `json:"created,omitempty"`
	Errors  []FieldError `json:"errors"`
}

// Err returns the record's failure as a *RemoteError, or nil on success.
// Whether it is worth retrying is the client's word (FieldError.Transient,
// FieldError.RateLimited), not this package's: error codes belong to the
// remote system.
func (r SaveResult) Err() error {
	if r.Success {
		return nil
	}
	e := &RemoteError{System: SystemSalesforce, StatusCode: 400}
	if len(r.Errors) > 0 {
		f := r.Errors[0]
		e.Code, e.Message, e.Fields = f.StatusCode, f.Message, f.Fields
		e.Transient, e.RateLimited = f.Transient, f.RateLimited
	}
	return e
}

// FieldError is one entry of a Salesforce error array in a collections
// result (the key there is "statusCode", not "errorCode").
type FieldError struct {
	StatusCode string   `json:"statusCode"`
	Message    string   `json:"message"`
	Fields     []string `json:"fields"`
	// Transient and RateLimited are the client's reading of StatusCode
	// (a locked row is worth retrying; a spent API allowance pauses every
	// call), set when it decodes a result: the codes are Salesforce's, so
	// knowing them is the Salesforce client's job. They are not on the wire.
	Transient   bool `json:"-"`
	RateLimited bool `json:"-"`
}

// SObjectDescribe is the part of a describe result billsync uses.
type SObjectDescribe struct {
	Name      string          `json:"name"`
	Label     string          `json:"label"`
	Custom    bool            `json:"custom"`
	KeyPrefix string          `json:"keyPrefix"`
	Fields    []FieldDescribe `json:"fields"`
}

// Field returns the named field (case-insensitive, as Salesforce is).
func (d *SObjectDescribe) Field(name string) (FieldDescribe, bool) {
	for _, f := range d.Fields {
		if equalFold(f.Name, name) {
			return f, true
		}
	}
	return FieldDescribe{}, false
}

// FieldDescribe is one field of a describe result.
type FieldDescribe struct {
	Name             string   `json:"name"`
	Type             string   `json:"type"` // id, string, double, currency, date, datetime, boolean, reference, picklist, …
	Length           int      `json:"length"`
	Precision        int      `json:"precision"`
	Scale            int      `json:"scale"`
	ExternalID       bool     `json:"externalId"`
	Unique           bool     `json:"unique"`
	Nillable         bool     `json:"nillable"`
	Createable       bool     `json:"createable"`
	Updateable       bool     `json:"updateable"`
	ReferenceTo      []string `json:"referenceTo"`
	RelationshipName string   `json:"relationshipName"`
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Versioning is the kind of optimistic locking a billing platform offers.
type Versioning string

const (
	VersionInteger Versioning = "integer" // m3ter, the billsync contract
	VersionNone    Versioning = "none"    // Stripe, MonetizeNow: billsync compares a content hash
)

// BillingCapabilities is what a billing adapter declares; the engine, not
// the adapter, acts on it (SPEC §5.3). A change the platform cannot take
// is never sent: the engine logs it unsupported and flags or restores the
// Salesforce record (KeyUnsupportedAction).
type BillingCapabilities struct {
	Platform string `json:"platform"`
	// Versioning VersionNone: the platform offers no compare-and-set, so
	// the engine compares a content hash of the record's synced values
	// just before it writes, and re-reads the record a webhook names
	// instead of trusting the webhook's (possibly out-of-order) copy.
	Versioning Versioning `json:"versioning"`
	// BalanceAmountWritable false: the platform derives a balance's
	// amount (BalanceAmountField) from its transactions.
	BalanceAmountWritable bool `json:"balanceAmountWritable"`
	// TransactionsUpdatable false: a transaction cannot change once
	// created, except for the billing paths in TransactionMutableFields
	// (Stripe: description and metadata). An entry ending in "." covers
	// every path under it ("customFields.").
	TransactionsUpdatable    bool     `json:"transactionsUpdatable"`
	TransactionMutableFields []string `json:"transactionMutableFields,omitempty"`
	TransactionsDeletable    bool     `json:"transactionsDeletable"`
	// QuotesCarryOfferings false: a quote carries its items at the top
	// level (QuoteItemsField) and the engine groups them into one
	// offering, the quote's own, before the quote rules see it.
	QuotesCarryOfferings bool `json:"quotesCarryOfferings"`
	// SignedWebhooks false: a webhook is only a hint that a record
	// changed; the engine reads the record from billing before acting on
	// it, and acts on a delete only when billing no longer has the record.
	SignedWebhooks bool `json:"signedWebhooks"`
	// TransactionEvents false: a new balance transaction raises no event
	// of its own, only a change of its balance; the Billing then also
	// implements TransactionScanner and the engine looks for new
	// transactions on every balance change.
	TransactionEvents bool `json:"transactionEvents"`
	// ReadOnlyFields are billing paths, per object, the platform sets
	// itself and takes from no one (Stripe: a customer's currency, a
	// balance's code and name): a Salesforce edit of one is unsupported,
	// like any other change the platform cannot take. An entry ending in
	// "." covers every path under it.
	ReadOnlyFields map[ObjectType][]string `json:"readOnlyFields,omitempty"`
}

// Billing paths the capabilities speak of, in the entity shape every
// adapter produces (the contract's, SPEC §2).
const (
	BalanceAmountField = "amount"
	QuoteItemsField    = "items"
)

// Billing is the billing platform as the engine needs it (SPEC §5).
type Billing interface {
	Capabilities() BillingCapabilities
	// Tenant identifies the billing tenant the credentials reach.
	Tenant(ctx context.Context) (string, error)
	// Get reads one record; ENOTFOUND when it does not exist.
	Get(ctx context.Context, t ObjectType, id string) (Entity, error)
	// List pages through records; next is "" on the last page.
	List(ctx context.Context, t ObjectType, cursor string, limit int) (page []Entity, next string, err error)
	// Create inserts a record and returns it as stored (with id, version).
	// A non-empty idempotencyKey makes a repeat of the same create (after
	// a crash or a lost response) return the record the first one made
	// instead of a second record (§4: no duplicates).
	Create(ctx context.Context, t ObjectType, e Entity, idempotencyKey string) (Entity, error)
	// Update writes a record whose "version" is the version it was read
	// at; a stale version fails with a *RemoteError of status 409.
	Update(ctx context.Context, t ObjectType, e Entity) (Entity, error)
	// Delete removes a record; ENOTFOUND when already gone.
	Delete(ctx context.Context, t ObjectType, id string) error
}

// StreamEvent is one event from the Salesforce event stream, whatever its
// transport (CometD or the Pub/Sub API).
type StreamEvent struct {
	Channel     string         `json:"channel"`
	ReplayID    ReplayID       `json:"replayId"`
	EventUUID   string         `json:"eventUuid"`
	CreatedDate time.Time      `json:"createdDate"`
	CreatedByID string         `json:"createdById"`
	Payload     map[string]any `json:"payload"` // field name → value; numbers are json.Number
}

// ChangeSource is the subscriber's mode seam (C1): platform-event mode
// now, Change Data Capture later. Subscribe delivers the events of channel
// after replayFrom (or ReplayNew, ReplayAll) to handle, one at a
// time, in replay order, until ctx ends or handle fails. It re-handshakes
// and resubscribes from the last handled event on its own after dropped
// connections. When the org no longer holds replayFrom it returns an error
// wrapping ErrReplayGap.
type ChangeSource interface {
	Subscribe(ctx context.Context, channel string, replayFrom ReplayID, handle func(context.Context, StreamEvent) error) error
}

// ErrReplayGap means the stored replay id fell out of the org's retention
// window: events may have been missed and a resync is due (C5).
var ErrReplayGap = errors.New("replay id no longer held by the org")
