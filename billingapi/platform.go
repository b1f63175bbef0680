package billingapi

import (
	"fmt"

	"github.com/billsync/billsync"
)

// The contract is billing.platform "contract", the default.
func init() {
	billsync.RegisterBillingPlatform(billsync.BillingPlatform{Name: billsync.PlatformContract, Open: Open})
}

// Open builds the contract's adapter from the config's billing section.
func Open(o billsync.BillingOptions) (*billsync.BillingAdapter, error) {
	webhooks, err := NewWebhooks(o.WebhookSecret, o.Clock)
	if err != nil {
		return nil, fmt.Errorf("billing.webhookSecret: %w", err)
	}
	return &billsync.BillingAdapter{Billing: New(o.URL, o.Token, o.HTTPClient), Webhooks: webhooks}, nil
}
