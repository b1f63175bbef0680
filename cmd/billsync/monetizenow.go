package main

import (
	"context"
	"strings"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/doctor"
	"github.com/billsync/billsync/monetizenowapi"
)

// monetizeNowChecks are the doctor's checks of billing.platform
// monetizenow: the API key reaches MonetizeNow's quotes, and the webhook
// URL has its token.
func monetizeNowChecks(cfg Config) func(ctx context.Context) []doctor.Check {
	return mnChecks("billing", "MonetizeNow", billsync.BillingOptions{URL: cfg.Billing.URL, Token: cfg.Billing.Token, Options: cfg.Billing.Options},
		cfg.Billing.WebhookToken())
}

// quoteSourceChecks are the doctor's checks of billing.quotes (MonetizeNow
// as the quote source beside billing.platform), named for that section;
// nil without a quote source.
func quoteSourceChecks(cfg Config) func(ctx context.Context) []doctor.Check {
	q := cfg.Billing.Quotes
	if q.Platform != billsync.PlatformMonetizeNow {
		return nil
	}
	return mnChecks("billing.quotes", "MonetizeNow (quote source)", billsync.BillingOptions{URL: q.URL, Token: q.Token, Options: q.Options},
		q.WebhookToken())
}

// mnChecks checks that the API key of the MonetizeNow section reaches its
// quotes and that the section's webhook URL token is set.
func mnChecks(section, name string, o billsync.BillingOptions, hookToken string) func(ctx context.Context) []doctor.Check {
	return func(ctx context.Context) []doctor.Check {
		key := doctor.Check{Name: name + " API key", OK: true}
		c, err := monetizenowapi.NewClient(o)
		if err == nil {
			var api string
			if api, err = c.Tenant(ctx); err == nil {
				key.Detail = "reads quotes at " + api
			}
		}
		if err != nil {
			key = doctor.Check{Name: key.Name, Detail: inSection(section, billsync.ErrorMessage(err))}
		}
		tok := doctor.Check{Name: name + " webhook URL token", OK: true}
		if hookToken == "" {
			tok = doctor.Check{Name: tok.Name, Detail: section + ".webhookSecret is empty; set it to a random token (openssl rand -hex 16) and add https://<billsync>/webhooks/monetizenow/<token> in MonetizeNow's Settings → Webhooks"}
		}
		return []doctor.Check{key, tok}
	}
}

// inSection names the settings of section in an adapter's message, which
// names them under billing (billing.token is billing.quotes.token for the
// quote source).
func inSection(section, msg string) string {
	if section == "billing" {
		return msg
	}
	return strings.ReplaceAll(msg, "billing.", section+".")
}
