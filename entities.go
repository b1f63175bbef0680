package billsync

import "time"

// The typed billing entities of SPEC §2, as the billing contract's JSON
// carries them. The engine works on Entity (the same JSON, untyped) so that
// mappings can name any field; these types serve the billing emulator, the
// sandbox seed and tests.

// Account is a billing customer account.
type Account struct {
	ID           string         `json:"id"`
	Code         string         `json:"code"`
	Name         string         `json:"name"`
	EmailAddress string         `json:"emailAddress,omitempty"`
	Currency     string         `json:"currency,omitempty"`
	CRMAccountID string         `json:"crmAccountId,omitempty"`
	CustomFields map[string]any `json:"customFields,omitempty"`
	Version      int64          `json:"version"`
	CreatedAt    time.Time      `json:"createdAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
}

// Balance is a prepaid or credit balance of an account.
type Balance struct {
	ID           string         `json:"id"`
	AccountID    string         `json:"accountId"`
	Code         string         `json:"code"`
	Name         string         `json:"name"`
	Description  string         `json:"description,omitempty"`
	Amount       Money          `json:"amount"`
	Currency     string         `json:"currency,omitempty"`
	StartDate    Date           `json:"startDate"`
	EndDate      Date           `json:"endDate"`
	CustomFields map[string]any `json:"customFields,omitempty"`
	Version      int64          `json:"version"`
	CreatedAt    time.Time      `json:"createdAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
}

// BalanceTransaction is one movement on a balance. AccountID is carried so
// that the partition key is known without a lookup (B2).
type BalanceTransaction struct {
	ID           string         `json:"id"`
	BalanceID    string         `json:"balanceId"`
	AccountID    string         `json:"accountId"`
	Amount       Money          `json:"amount"`
	Description  string         `json:"description,omitempty"`
	AppliedDate  Date           `json:"appliedDate"`
	CustomFields map[string]any `json:"customFields,omitempty"`
	Version      int64          `json:"version"`
	CreatedAt    time.Time      `json:"createdAt"`
	UpdatedAt    time.Time      `json:"updatedAt"`
}

// Quote types.
const (
	QuoteNew       = "NEW"
	QuoteAmendment = "AMENDMENT"
	QuoteRenewal   = "RENEWAL"
)

// Quote is a billing quote with its offerings and items.
type Quote struct {
	ID               string          `json:"id"`
	AccountID        string          `json:"accountId"`
	Description      string          `json:"description,omitempty"`
	Status           string          `json:"status"`
	Type             string          `json:"type"`
	OriginalQuoteID  string          `json:"originalQuoteId,omitempty"`
	CRMOpportunityID string          `json:"crmOpportunityId,omitempty"`
	Currency         string          `json:"currency,omitempty"`
	ManualRenewal    bool            `json:"manualRenewal"`
	StartDate        Date            `json:"startDate"`
	EndDate          Date            `json:"endDate"`
	ExpiresAt        *time.Time      `json:"expiresAt,omitempty"`
	CustomFields     map[string]any  `json:"customFields,omitempty"`
	Offerings        []QuoteOffering `json:"offerings"`
	Version          int64           `json:"version"`
	CreatedAt        time.Time       `json:"createdAt"`
	UpdatedAt        time.Time       `json:"updatedAt"`
}

// QuoteOffering groups quote items.
type QuoteOffering struct {
	ID    string      `json:"id"`
	Name  string      `json:"name"`
	Items []QuoteItem `json:"items"`
}

// QuoteItem is one priced line of a quote.
type QuoteItem struct {
	ID              string         `json:"id"`
	ProductCode     string         `json:"productCode"`
	ProductName     string         `json:"productName,omitempty"`
	ProductType     string         `json:"productType"`
	Quantity        Money          `json:"quantity"`
	UnitPrice       Money          `json:"unitPrice"`
	AmendmentStatus string         `json:"amendmentStatus,omitempty"`
	CustomFields    map[string]any `json:"customFields,omitempty"`
}
