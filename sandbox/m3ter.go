package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/billsync/billsync"
	m3teremu "github.com/billsync/billsync/emulate/m3ter"
	"github.com/billsync/billsync/m3terapi"
)

// The sandbox m3ter emulator's service user (billsync's credentials) and a
// second one standing for a person in m3ter's console, whose writes are
// not billsync's and so sync to Salesforce.
const (
	M3terToken        = m3teremu.DefaultAccessKeyID + ":" + m3teremu.DefaultAPISecret
	M3terConsoleToken = "sandbox-console-key:sandbox-console-secret"
	m3terConsoleUser  = "00000000-0000-4000-8000-00000c0450e1"
)

// startM3ter runs the m3ter emulator on ln and sets up its notifications
// to billsync's webhook URL, whose last segment is a random token kept in
// the data directory, as `billsync m3ter setup` does with m3ter.
func (s *Sandbox) startM3ter(ctx context.Context, ln net.Listener, appAddr string) error {
	var err error
	if s.M3ter, err = m3teremu.New(m3teremu.Options{
		OrgID: m3teremu.DefaultOrgID, AccessKeyID: m3teremu.DefaultAccessKeyID, APISecret: m3teremu.DefaultAPISecret,
		ServiceUserID: m3teremu.DefaultServiceUserID, DataDir: filepath.Join(s.opts.Data, "m3ter"),
		RetryBackoff: s.opts.WebhookRetry, Logger: s.log.With("party", "m3ter"),
	}); err != nil {
		ln.Close()
		return err
	}
	s.M3ter.AddCredentials("sandbox-console-key", "sandbox-console-secret", m3terConsoleUser)
	h, inj, err := WithFaults(s.M3ter.Handler(), s.opts.BillingFaults, m3teremu.FaultFormat, map[string]func(){"expire_tokens": s.M3ter.ExpireTokens}, s.log.With("party", "m3ter"))
	if err != nil {
		ln.Close()
		return err
	}
	s.BillingFaults = inj
	s.serve(ln, h)
	s.M3ter.Start(ctx)
	tokenFile := filepath.Join(s.opts.Data, "m3ter-webhook-token")
	token := readSecret(tokenFile)
	if token == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		token = hex.EncodeToString(b[:])
		if err := os.MkdirAll(s.opts.Data, 0o700); err != nil {
			return err
		}
		if err := writeSecret(tokenFile, token); err != nil {
			return err
		}
	}
	c, err := s.m3terClient(M3terToken)
	if err != nil {
		return err
	}
	if _, err := c.EnsureNotifications(ctx, "http://"+appAddr+"/webhooks/m3ter/"+token); err != nil {
		return fmt.Errorf("setting up the m3ter emulator's notifications to billsync: %w", err)
	}
	s.webhookSecret = token
	return nil
}

// M3terOptions are billing.options for the sandbox's m3ter emulator.
func M3terOptions() map[string]string {
	return map[string]string{"orgId": m3teremu.DefaultOrgID, "serviceUserId": m3teremu.DefaultServiceUserID}
}

// m3terClient is the m3ter adapter pointed at the emulator, past the
// faults, with the given credentials.
func (s *Sandbox) m3terClient(token string) (*m3terapi.Client, error) {
	return m3terapi.NewClient(billsync.BillingOptions{URL: s.BillingURL, Token: token, Options: M3terOptions()})
}

// M3terConsole is a client writing to the m3ter emulator as a person in
// m3ter's console does: its writes are news to billsync.
func (s *Sandbox) M3terConsole() (*m3terapi.Client, error) {
	return m3terapi.NewClient(billsync.BillingOptions{URL: s.BillingURL, Token: M3terConsoleToken,
		Options: map[string]string{"orgId": m3teremu.DefaultOrgID, "serviceUserId": m3terConsoleUser}})
}

// seedM3ter creates three accounts, each with a prepaid balance and two
// transactions, once, as a person in m3ter would.
func (s *Sandbox) seedM3ter(ctx context.Context) error {
	c, err := s.M3terConsole()
	if err != nil {
		return err
	}
	existing, _, err := c.List(ctx, billsync.ObjectAccount, "", 1)
	if err != nil || len(existing) > 0 {
		return err
	}
	accounts := []struct{ code, name, email string }{
		{"ACME", "Acme Corporation", "billing@acme.example"},
		{"GLOBEX", "Globex", "ap@globex.example"},
		{"INITECH", "Initech", "finance@initech.example"},
	}
	for i, a := range accounts {
		e := billsync.Entity{"code": a.code, "name": a.name, "emailAddress": a.email, "currency": "USD"}
		if crm := s.crmAccountFor(a.code); crm != "" {
			e["crmAccountId"] = crm
		}
		acc, err := c.Create(ctx, billsync.ObjectAccount, e, "")
		if err != nil {
			return err
		}
		bal, err := c.Create(ctx, billsync.ObjectBalance, billsync.Entity{
			"accountId": acc.ID(), "code": a.code + "-PREPAID", "name": a.name + " prepaid credit", "description": "Prepaid usage credit",
			"currency": "USD", "startDate": "2026-01-01", "endDate": "2026-12-31"}, "")
		if err != nil {
			return err
		}
		for j, amt := range []string{fmt.Sprintf("%d.00", 1000*(i+1)), "-42.50"} {
			if _, err := c.Create(ctx, billsync.ObjectBalanceTransaction, billsync.Entity{
				"balanceId": bal.ID(), "amount": amt, "description": fmt.Sprintf("Seed transaction %d", j+1),
				"appliedDate": "2026-11-01"}, ""); err != nil {
				return err
			}
		}
	}
	return nil
}
