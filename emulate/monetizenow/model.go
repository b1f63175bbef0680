package monetizenow

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/govalues/decimal"
)

// Account is MonetizeNow's AccountDto, the part the emulator keeps.
type Account struct {
	ID              string         `json:"id"`
	CustomID        string         `json:"customId,omitempty"`
	AccountName     string         `json:"accountName"`
	DefaultCurrency string         `json:"defaultCurrency"`
	Status          string         `json:"status"`
	AccountType     string         `json:"accountType"`
	CustomFields    map[string]any `json:"customFields"`
	CreatedBy       string         `json:"createdBy,omitempty"`
	CreateDate      string         `json:"createDate,omitempty"`
	LastModifiedBy  string         `json:"lastModifiedBy,omitempty"`
	ModifyDate      string         `json:"modifyDate,omitempty"`
}

// Opportunity is a quote's opportunity link.
type Opportunity struct {
	ID             string `json:"id,omitempty"`
	CustomID       string `json:"customId,omitempty"`
	URL            string `json:"url,omitempty"`
	PrimaryQuoteID string `json:"primaryQuoteId,omitempty"`
	Status         string `json:"status,omitempty"`
}

// RenewalTerms are a quote's contractRenewalTerms.
type RenewalTerms struct {
	ContractEndAction string `json:"contractEndAction"`
}

// Quote is MonetizeNow's QuoteDetailDto, the part the emulator keeps.
type Quote struct {
	ID                   string          `json:"id"`
	Status               string          `json:"status"`
	Type                 string          `json:"type"`
	OriginalQuoteID      string          `json:"originalQuoteId,omitempty"`
	PreviousQuoteID      string          `json:"previousQuoteId,omitempty"`
	ContractID           string          `json:"contractId,omitempty"`
	AccountID            string          `json:"accountId"`
	AccountName          string          `json:"accountName,omitempty"`
	Description          string          `json:"description,omitempty"`
	CustomID             string          `json:"customId,omitempty"`
	Currency             string          `json:"currency"`
	ExpirationDate       string          `json:"expirationDate,omitempty"`
	ContractStartDate    string          `json:"contractStartDate,omitempty"`
	ContractEndDate      string          `json:"contractEndDate,omitempty"`
	ContractRenewalTerms *RenewalTerms   `json:"contractRenewalTerms,omitempty"`
	Opportunity          *Opportunity    `json:"opportunity,omitempty"`
	CustomFields         map[string]any  `json:"customFields,omitempty"`
	Amount               json.Number     `json:"amount"`
	Owner                string          `json:"owner,omitempty"`
	CancellationReason   string          `json:"cancellationReason,omitempty"`
	SentDate             string          `json:"sentDate,omitempty"`
	AcceptedAt           string          `json:"acceptedAt,omitempty"`
	ProcessedAt          string          `json:"processedAt,omitempty"`
	CreatedBy            string          `json:"createdBy,omitempty"`
	CreateDate           string          `json:"createDate,omitempty"`
	LastModifiedBy       string          `json:"lastModifiedBy,omitempty"`
	ModifyDate           string          `json:"modifyDate,omitempty"`
	QuoteOfferings       []QuoteOffering `json:"quoteOfferings"`
}

// QuoteOffering is a QuoteOfferingDetailDto.
type QuoteOffering struct {
	ID                    string      `json:"id"`
	OfferingID            string      `json:"offeringId,omitempty"`
	OfferingName          string      `json:"offeringName"`
	Description           string      `json:"description,omitempty"`
	RateID                string      `json:"rateId,omitempty"`
	RateName              string      `json:"rateName,omitempty"`
	BillingFrequency      string      `json:"billingFrequency,omitempty"`
	SubscriptionTiming    string      `json:"subscriptionTiming,omitempty"`
	StartDate             string      `json:"startDate,omitempty"`
	EndDate               string      `json:"endDate,omitempty"`
	ParentQuoteOfferingID string      `json:"parentQuoteOfferingId,omitempty"`
	Role                  string      `json:"role"`
	Added                 bool        `json:"added"`
	Removed               bool        `json:"removed"`
	Amount                json.Number `json:"amount"`
	Items                 []QuoteItem `json:"items"`
}

// QuoteItem is a QuoteItemDetailDto.
type QuoteItem struct {
	ID                     string      `json:"id"`
	ProductID              string      `json:"productId,omitempty"`
	SKU                    string      `json:"sku,omitempty"`
	ProductName            string      `json:"productName,omitempty"`
	ProductType            string      `json:"productType"`
	Quantity               json.Number `json:"quantity"`
	UnitPrice              json.Number `json:"unitPrice"`
	UnitPriceAfterDiscount json.Number `json:"unitPriceAfterDiscount,omitempty"`
	Amount                 json.Number `json:"amount"`
	AmendmentStatus        string      `json:"amendmentStatus,omitempty"`
	PreviousItemID         string      `json:"previousItemId,omitempty"`
	PreviousQuantity       json.Number `json:"previousQuantity,omitempty"`
	Position               int         `json:"position"`
}

// The enums of MonetizeNow's quote API.
var (
	quoteStatuses = []string{"DRAFT", "REVIEW", "APPROVED", "DENIED", "SENT", "ACCEPTED", "ACCEPTED_ADMIN_EDITABLE",
		"PROCESSED", "CANCELED", "EXPIRED", "ARCHIVED"}
	quoteTypes      = []string{"NEW", "AMENDMENT", "RENEWAL"}
	roles           = []string{"STANDARD", "REFERENCE"}
	productTypes    = []string{"ADVANCE", "ARREARS", "USAGE", "ONETIME", "ONETIME_PREPAID_CREDIT", "MIN_COMMIT"}
	amendmentStates = []string{"ADDED", "NO_CHANGE", "REMOVED", "UPDATED"}
	endActions      = []string{"MANUAL_RENEW", "RENEW", "CANCEL"}
	currencies      = []string{"AUD", "BYN", "CAD", "CNY", "DKK", "EUR", "GBP", "INR", "ISK", "MYR", "NOK", "SEK", "SGD", "TWD", "USD"}
	accountStatuses = []string{"ACTIVE", "CANCELED", "SUSPENDED", "INACTIVE"}
	accountTypes    = []string{"CUSTOMER", "PARTNER"}
)

// subError is one field's problem, as MonetizeNow's error body lists it.
type subError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

type checker struct{ errs []subError }

func (c *checker) add(field, format string, args ...any) {
	c.errs = append(c.errs, subError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) oneOf(field, v string, allowed []string, required bool) {
	switch {
	case v == "" && required:
		c.add(field, "must not be blank")
	case v != "" && !slices.Contains(allowed, v):
		c.add(field, "must be one of %s", strings.Join(allowed, ", "))
	}
}

// num reads a JSON number exactly; zero when absent.
func (c *checker) num(field string, n json.Number, required bool) decimal.Decimal {
	if n == "" {
		if required {
			c.add(field, "must not be null")
		}
		return decimal.Zero
	}
	d, err := decimal.Parse(string(n))
	if err != nil {
		c.add(field, "must be a number")
		return decimal.Zero
	}
	return d
}

// checkQuote validates q and fills the amounts; errs lists every problem.
func checkQuote(q *Quote) []subError {
	c := &checker{}
	c.oneOf("type", q.Type, quoteTypes, true)
	c.oneOf("currency", q.Currency, currencies, true)
	if q.AccountID == "" {
		c.add("accountId", "must not be blank")
	}
	if q.ContractRenewalTerms != nil {
		c.oneOf("contractRenewalTerms.contractEndAction", q.ContractRenewalTerms.ContractEndAction, endActions, true)
	}
	if (q.Type == "AMENDMENT" || q.Type == "RENEWAL") && q.OriginalQuoteID == "" && q.PreviousQuoteID == "" {
		c.add("originalQuoteId", "an %s quote follows another quote", strings.ToLower(q.Type))
	}
	total := decimal.Zero
	for i := range q.QuoteOfferings {
		o := &q.QuoteOfferings[i]
		f := fmt.Sprintf("quoteOfferings[%d]", i)
		if o.Role == "" {
			o.Role = "STANDARD"
		}
		c.oneOf(f+".role", o.Role, roles, true)
		if o.OfferingName == "" {
			c.add(f+".offeringName", "must not be blank")
		}
		sum := decimal.Zero
		for j := range o.Items {
			it := &o.Items[j]
			g := fmt.Sprintf("%s.items[%d]", f, j)
			c.oneOf(g+".productType", it.ProductType, productTypes, true)
			c.oneOf(g+".amendmentStatus", it.AmendmentStatus, amendmentStates, false)
			if it.ProductID == "" && it.SKU == "" {
				c.add(g+".productId", "must not be blank")
			}
			qty := c.num(g+".quantity", it.Quantity, true)
			price := c.num(g+".unitPrice", it.UnitPrice, true)
			if it.UnitPriceAfterDiscount != "" {
				price = c.num(g+".unitPriceAfterDiscount", it.UnitPriceAfterDiscount, false)
			}
			amt, err := qty.Mul(price)
			if err != nil {
				c.add(g+".amount", "out of range")
			}
			it.Amount = json.Number(amt.Trim(2).String())
			if it.Position == 0 {
				it.Position = j + 1
			}
			if it.AmendmentStatus != "REMOVED" {
				if sum, err = sum.Add(amt); err != nil {
					c.add(f+".amount", "out of range")
				}
			}
		}
		if o.Removed {
			sum = decimal.Zero
		}
		o.Amount = json.Number(sum.Trim(2).String())
		if o.Role == "STANDARD" {
			var err error
			if total, err = total.Add(sum); err != nil {
				c.add("amount", "out of range")
			}
		}
	}
	q.Amount = json.Number(total.Trim(2).String())
	return c.errs
}

func checkAccount(a *Account) []subError {
	c := &checker{}
	if strings.TrimSpace(a.AccountName) == "" {
		c.add("accountName", "must not be blank")
	}
	if a.DefaultCurrency == "" {
		a.DefaultCurrency = "USD"
	}
	if a.Status == "" {
		a.Status = "ACTIVE"
	}
	if a.AccountType == "" {
		a.AccountType = "CUSTOMER"
	}
	if a.CustomFields == nil {
		a.CustomFields = map[string]any{}
	}
	c.oneOf("defaultCurrency", a.DefaultCurrency, currencies, true)
	c.oneOf("status", a.Status, accountStatuses, true)
	c.oneOf("accountType", a.AccountType, accountTypes, true)
	return c.errs
}
