package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/faults"
	mnemu "github.com/billsync/billsync/emulate/monetizenow"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/rest"
)

// MonetizeNowKey is the API key of the sandbox's MonetizeNow emulator.
const MonetizeNowKey = mnemu.DefaultAPIKey

// MonetizeNowSettings seed billsync's settings with MonetizeNow: it is a
// source of quotes only, so accounts and balances are not synced.
func MonetizeNowSettings() map[string]any {
	return map[string]any{billsync.KeySyncAccounts: false, billsync.KeySyncBalances: false}
}

// startMonetizeNow runs the MonetizeNow emulator on ln, delivering its
// webhooks to billsync's URL, whose last segment is a random token kept
// in the data directory (what a user enters in MonetizeNow's Settings →
// Webhooks).
func (s *Sandbox) startMonetizeNow(ctx context.Context, ln net.Listener, appAddr string) error {
	token, inj, err := s.runMonetizeNow(ctx, ln, appAddr, s.opts.BillingFaults)
	if err != nil {
		return err
	}
	s.BillingFaults, s.webhookSecret = inj, token
	return nil
}

// runMonetizeNow starts the MonetizeNow emulator on ln behind faults and
// returns its webhook URL token.
func (s *Sandbox) runMonetizeNow(ctx context.Context, ln net.Listener, appAddr, faultSpec string) (string, *faults.Injector, error) {
	tokenFile := filepath.Join(s.opts.Data, "monetizenow-webhook-token")
	token := readSecret(tokenFile)
	if token == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			ln.Close()
			return "", nil, err
		}
		token = hex.EncodeToString(b[:])
		if err := os.MkdirAll(s.opts.Data, 0o700); err != nil {
			ln.Close()
			return "", nil, err
		}
		if err := writeSecret(tokenFile, token); err != nil {
			ln.Close()
			return "", nil, err
		}
	}
	var err error
	if s.MonetizeNow, err = mnemu.New(mnemu.Options{APIKey: MonetizeNowKey, DataDir: filepath.Join(s.opts.Data, "monetizenow"),
		WebhookURL: "http://" + appAddr + "/webhooks/monetizenow/" + token, RetryBackoff: s.opts.WebhookRetry,
		Logger: s.log.With("party", "monetizenow")}); err != nil {
		ln.Close()
		return "", nil, err
	}
	h, inj, err := WithFaults(s.MonetizeNow.Handler(), faultSpec, mnemu.FaultFormat, nil, s.log.With("party", "monetizenow"))
	if err != nil {
		ln.Close()
		return "", nil, err
	}
	s.serve(ln, h)
	s.MonetizeNow.Start(ctx)
	return token, inj, nil
}

// seedMonetizeNow creates, once, a MonetizeNow account for each demo
// Salesforce Account (its customId the Account's id) and the demo quotes
// SeedQuotes makes for the contract, as MonetizeNow holds them: a new
// quote on an Opportunity a sales rep opened, with two offerings; a new
// quote without one, in review; an amendment of the first with the
// contract's REFERENCE snapshot and items added, updated and unchanged;
// and a manual renewal of the second.
func (s *Sandbox) seedMonetizeNow(ctx context.Context) error {
	m, demo := s.MonetizeNow, s.Demo
	if len(m.Accounts()) > 0 {
		return nil
	}
	accounts := map[string]string{}
	for _, name := range []string{"Acme Corporation", "Globex", "Initech"} {
		a, err := m.CreateAccount(mnemu.Account{AccountName: name, CustomID: s.monetizeNowCustomID(name), DefaultCurrency: "USD"})
		if err != nil {
			return fmt.Errorf("seeding MonetizeNow account %s: %w", name, err)
		}
		accounts[name] = a.ID
	}
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
	expires := time.Now().UTC().AddDate(0, 1, 0).Format(time.DateOnly)
	type line struct{ id, sku, name, typ, qty, price, amend string }
	offering := func(name, role string, lines ...line) mnemu.QuoteOffering {
		o := mnemu.QuoteOffering{OfferingName: name, Role: role, BillingFrequency: "MONTHLY", SubscriptionTiming: "ADVANCE"}
		for _, l := range lines {
			o.Items = append(o.Items, mnemu.QuoteItem{ID: l.id, SKU: l.sku, ProductName: l.name, ProductType: l.typ,
				Quantity: jsonNum(l.qty), UnitPrice: jsonNum(l.price), AmendmentStatus: l.amend})
		}
		return o
	}
	create := func(q mnemu.Quote) (*mnemu.Quote, error) {
		got, err := m.CreateQuote(q)
		if err != nil {
			return nil, fmt.Errorf("seeding MonetizeNow quote %q: %w", q.Description, err)
		}
		return got, nil
	}
	q1, err := create(mnemu.Quote{AccountID: accounts["Acme Corporation"], Description: "Acme platform expansion", Currency: "USD",
		ContractStartDate: "2027-01-01", ContractEndDate: "2027-12-31", ExpirationDate: expires,
		Opportunity: &mnemu.Opportunity{ID: "opp_seed0000000001", CustomID: res[0].ID},
		QuoteOfferings: []mnemu.QuoteOffering{
			offering("Platform", "", line{"seed-q1-plat", "PLAT-SUB", "Platform subscription", "ADVANCE", "10", "1000.00", ""},
				line{"seed-q1-support", "SUPPORT", "Premium support", "ADVANCE", "1", "250.00", ""}),
			offering("Usage", "", line{"seed-q1-api", "API-USAGE", "API usage", "USAGE", "0", "0.04", ""}),
		}})
	if err != nil {
		return err
	}
	q2, err := create(mnemu.Quote{AccountID: accounts["Globex"], Description: "Globex onboarding", Currency: "EUR",
		ContractStartDate: "2027-01-01", ContractEndDate: "2027-12-31", ExpirationDate: expires,
		QuoteOfferings: []mnemu.QuoteOffering{
			offering("Getting started", "", line{"seed-q2-onboard", "ONBOARD", "Onboarding", "ONETIME", "1", "1850.00", ""},
				line{"seed-q2-plat", "PLAT-SUB", "Platform subscription", "ADVANCE", "5", "920.00", ""}),
		}})
	if err != nil {
		return err
	}
	if _, err := m.SetStatus(q2.ID, "REVIEW"); err != nil {
		return err
	}
	if _, err := create(mnemu.Quote{AccountID: accounts["Acme Corporation"], Description: "Acme: more support seats", Type: "AMENDMENT",
		OriginalQuoteID: q1.ID, Currency: "USD", ContractStartDate: "2027-04-01", ContractEndDate: "2027-12-31",
		QuoteOfferings: []mnemu.QuoteOffering{
			offering("Platform", "", line{"seed-q3-plat", "PLAT-SUB", "Platform subscription", "ADVANCE", "10", "1000.00", "NO_CHANGE"},
				line{"seed-q3-support", "SUPPORT", "Premium support", "ADVANCE", "3", "250.00", "UPDATED"},
				line{"seed-q3-api", "API-USAGE", "API usage", "USAGE", "0", "0.04", "ADDED"}),
			offering("Platform (as contracted)", "REFERENCE", line{"seed-q3-ref-plat", "PLAT-SUB", "Platform subscription", "ADVANCE", "10", "1000.00", ""},
				line{"seed-q3-ref-support", "SUPPORT", "Premium support", "ADVANCE", "1", "250.00", ""}),
		}}); err != nil {
		return err
	}
	_, err = create(mnemu.Quote{AccountID: accounts["Globex"], Description: "Globex renewal 2028", Type: "RENEWAL",
		OriginalQuoteID: q2.ID, Currency: "EUR", ContractStartDate: "2028-01-01", ContractEndDate: "2028-12-31",
		ContractRenewalTerms: &mnemu.RenewalTerms{ContractEndAction: "MANUAL_RENEW"},
		QuoteOfferings: []mnemu.QuoteOffering{
			offering("Platform", "", line{"seed-q4-plat", "PLAT-SUB", "Platform subscription", "ADVANCE", "5", "920.00", ""}),
		}})
	return err
}

func jsonNum(s string) json.Number { return json.Number(s) }
