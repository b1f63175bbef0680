package main

import (
	"context"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/doctor"
	"github.com/billsync/billsync/monetizenowapi"
)

// monetizeNowChecks are the doctor's checks of billing.platform
// monetizenow: the API key reaches MonetizeNow's quotes, and the webhook
// URL has its token.
func monetizeNowChecks(cfg Config) func(ctx context.Context) []doctor.Check {
	return func(ctx context.Context) []doctor.Check {
		key := doctor.Check{Name: "MonetizeNow API key", OK: true}
		c, err := monetizenowapi.NewClient(billsync.BillingOptions{URL: cfg.Billing.URL, Token: cfg.Billing.Token, Options: cfg.Billing.Options})
		if err == nil {
			var api string
			if api, err = c.Tenant(ctx); err == nil {
				key.Detail = "reads quotes at " + api
			}
		}
		if err != nil {
			key = doctor.Check{Name: key.Name, Detail: billsync.ErrorMessage(err)}
		}
		tok := doctor.Check{Name: "MonetizeNow webhook URL token", OK: true}
		if cfg.Billing.WebhookToken() == "" {
			tok = doctor.Check{Name: tok.Name, Detail: "billing.webhookSecret is empty; set it to a random token (openssl rand -hex 16) and add https://<billsync>/webhooks/monetizenow/<token> in MonetizeNow's Settings → Webhooks"}
		}
		return []doctor.Check{key, tok}
	}
}
