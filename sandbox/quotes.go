package sandbox

import (
	"context"
	"fmt"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/rest"
)

// SeedQuotes creates demo quotes in billing for the sandbox (SPEC §3 E):
// a new quote on an Opportunity a sales rep opened, a new quote without
// one (billsync creates it, E6), an amendment of the first (owner from
// the original quote, a NO_CHANGE line kept off the Opportunity) and a
// manual renewal of the second (renewal placeholder, E9). The billing
// accounts are linked to the demo Salesforce Accounts first (crmAccountId),
// through the billing API so the links sync like any edit.
func (s *Sandbox) SeedQuotes(ctx context.Context, demo *sfemu.Demo) error {
	if demo == nil {
		return fmt.Errorf("seeding quotes: no Salesforce demo data")
	}
	bill := billingapi.New(s.BillingURL, BillingToken, nil)
	accounts, err := s.linkDemoAccounts(ctx, bill, demo)
	if err != nil {
		return err
	}
	acme, globex := accounts["Acme Corporation"], accounts["Globex"]
	if acme == "" || globex == "" {
		return fmt.Errorf("seeding quotes: billing accounts Acme Corporation and Globex are missing")
	}

	// Sam opens an Opportunity on Acme, which Rita owns: the quote takes
	// the Opportunity's owner (E3).
	sam, err := rest.New(rest.Config{LoginURL: s.SFURL, Grant: "password", ClientID: sfemu.DefaultClientID,
		ClientSecret: sfemu.DefaultClientSecret, Username: sfemu.SamUsername, Password: sfemu.SamPassword})
	if err != nil {
		return err
	}
	res, err := sam.Create(ctx, "Opportunity", []billsync.SObject{{
		"Name": "Acme platform expansion", "AccountId": demo.Accounts["Acme Corporation"], "StageName": "Prospecting",
		"CloseDate": time.Now().UTC().AddDate(0, 2, 0).Format(time.DateOnly), "CurrencyIsoCode": "USD",
	}})
	if err == nil && len(res) == 1 {
		err = res[0].Err()
	}
	if err != nil {
		return fmt.Errorf("seeding the demo Opportunity: %w", err)
	}
	oppID := res[0].ID
	expires := time.Now().UTC().AddDate(0, 1, 0).Format(time.RFC3339)

	type line struct{ id, code, name, typ, qty, price, amend string }
	offering := func(id, name string, lines ...line) map[string]any {
		items := make([]any, len(lines))
		for i, l := range lines {
			it := map[string]any{"id": l.id, "productCode": l.code, "productName": l.name, "productType": l.typ,
				"quantity": l.qty, "unitPrice": l.price}
			if l.amend != "" {
				it["amendmentStatus"] = l.amend
			}
			items[i] = it
		}
		return map[string]any{"id": id, "name": name, "items": items}
	}
	create := func(q billsync.Entity) (billsync.Entity, error) {
		got, err := s.Billing.Create(billsync.ObjectQuote, q)
		if err != nil {
			return nil, fmt.Errorf("seeding quote %q: %w", q.Str("description"), err)
		}
		return got, nil
	}

	q1, err := create(billsync.Entity{
		"accountId": acme, "description": "Acme platform expansion", "status": "DRAFT", "type": billsync.QuoteNew,
		"crmOpportunityId": oppID, "currency": "USD", "startDate": "2027-01-01", "endDate": "2027-12-31", "expiresAt": expires,
		"offerings": []any{
			offering("seed-off-platform", "Platform",
				line{"seed-q1-plat", "PLAT-SUB", "Platform subscription", "SUBSCRIPTION", "10", "1000.00", ""},
				line{"seed-q1-support", "SUPPORT", "Premium support", "SUBSCRIPTION", "1", "250.00", ""}),
			offering("seed-off-usage", "Usage",
				line{"seed-q1-api", "API-USAGE", "API usage", "USAGE", "0", "0.04", ""}),
		},
	})
	if err != nil {
		return err
	}
	q2, err := create(billsync.Entity{
		"accountId": globex, "description": "Globex onboarding", "status": "PENDING_APPROVAL", "type": billsync.QuoteNew,
		"currency": "EUR", "startDate": "2027-01-01", "endDate": "2027-12-31", "expiresAt": expires,
		"offerings": []any{
			offering("seed-off-start", "Getting started",
				line{"seed-q2-onboard", "ONBOARD", "Onboarding", "ONE_TIME", "1", "1850.00", ""},
				line{"seed-q2-plat", "PLAT-SUB", "Platform subscription", "SUBSCRIPTION", "5", "920.00", ""}),
		},
	})
	if err != nil {
		return err
	}
	if _, err := create(billsync.Entity{
		"accountId": acme, "description": "Acme: more support seats", "status": "DRAFT", "type": billsync.QuoteAmendment,
		"originalQuoteId": q1.ID(), "currency": "USD", "startDate": "2027-04-01", "endDate": "2027-12-31",
		"offerings": []any{
			offering("seed-off-platform-am", "Platform",
				line{"seed-q3-plat", "PLAT-SUB", "Platform subscription", "SUBSCRIPTION", "10", "1000.00", "NO_CHANGE"},
				line{"seed-q3-support", "SUPPORT", "Premium support", "SUBSCRIPTION", "3", "250.00", "UPDATED"}),
		},
	}); err != nil {
		return err
	}
	if _, err := create(billsync.Entity{
		"accountId": globex, "description": "Globex renewal 2028", "status": "DRAFT", "type": billsync.QuoteRenewal,
		"originalQuoteId": q2.ID(), "currency": "EUR", "manualRenewal": true, "startDate": "2028-01-01", "endDate": "2028-12-31",
		"offerings": []any{
			offering("seed-off-renew", "Platform",
				line{"seed-q4-plat", "PLAT-SUB", "Platform subscription", "SUBSCRIPTION", "5", "920.00", ""}),
		},
	}); err != nil {
		return err
	}
	return nil
}

// linkDemoAccounts sets crmAccountId on the billing accounts named like the
// demo Salesforce Accounts (creating any that are missing) and returns
// their billing ids by name.
func (s *Sandbox) linkDemoAccounts(ctx context.Context, bill *billingapi.Client, demo *sfemu.Demo) (map[string]string, error) {
	byName := map[string]billsync.Entity{}
	cursor := ""
	for {
		page, next, err := bill.List(ctx, billsync.ObjectAccount, cursor, 100)
		if err != nil {
			return nil, fmt.Errorf("listing billing accounts: %w", err)
		}
		for _, a := range page {
			if _, seen := byName[a.Str("name")]; !seen {
				byName[a.Str("name")] = a
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	out := map[string]string{}
	for name, sfID := range demo.Accounts {
		a, ok := byName[name]
		if !ok {
			created, err := s.Billing.Create(billsync.ObjectAccount, billsync.Entity{"name": name, "code": fmt.Sprintf("DEMO-%d", len(out)+1),
				"currency": "USD", "crmAccountId": sfID})
			if err != nil {
				return nil, fmt.Errorf("creating billing account %s: %w", name, err)
			}
			out[name] = created.ID()
			continue
		}
		if a.Str("crmAccountId") == "" {
			a["crmAccountId"] = sfID
			if _, err := bill.Update(ctx, billsync.ObjectAccount, a); err != nil {
				return nil, fmt.Errorf("linking billing account %s to Salesforce: %w", name, err)
			}
		}
		out[name] = a.ID()
	}
	return out, nil
}
