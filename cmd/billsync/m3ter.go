package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/m3terapi"
)

func newM3terCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "m3ter",
		Short: "Set up m3ter as the billing platform",
	}
	cmd.AddCommand(newM3terSetupCmd(g))
	return cmd
}

// m3terHookPrefix is the path m3ter's deliveries arrive under; the last
// segment is a token only billsync and m3ter know.
const m3terHookPrefix = "/webhooks/m3ter/"

// minHookToken is the shortest URL token setup accepts: m3ter's webhook
// signature is not confirmed, so the token is what keeps strangers from
// making billsync re-read records at will.
const minHookToken = 16

func newM3terSetupCmd(g *globals) *cobra.Command {
	var (
		configPath, endpoint string
		timeout              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Create (or check) the m3ter notifications that tell billsync about changes",
		Long: `Create in m3ter, through its API, what makes it tell billsync about changes:
a webhook destination for --url, an active notification rule for each account
and balance event billsync watches (configuration.account.created, updated,
deleted; billing.balance.created, updated, deleted), and an integration config
linking each rule to the destination. Whatever exists already is checked and
corrected; running setup again changes nothing.

m3ter's webhook signature is not publicly documented, so billsync does not
rely on it: a delivery only tells billsync which record to read again from
m3ter. The unguessable token at the end of --url keeps strangers out; keep
it secret. New balance transactions raise no event of their own: billsync
finds them when their balance changes, and its periodic poll of m3ter's
events catches what a delivery missed.

Uses billing.token ("<access key id>:<api secret>"), billing.url and
billing.options.orgId from the configuration, read as by serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath)
			if err != nil {
				return err
			}
			if cfg.Billing.Platform != billsync.PlatformM3ter {
				return fmt.Errorf("billing.platform is %q: set it to m3ter (env BILLSYNC_BILLING_PLATFORM=m3ter)", cfg.Billing.Platform)
			}
			if err := checkM3terHookURL(endpoint); err != nil {
				return err
			}
			c, err := m3terapi.NewClient(billsync.BillingOptions{URL: cfg.Billing.URL, Token: cfg.Billing.Token, Options: cfg.Billing.Options})
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			res, err := c.EnsureNotifications(ctx, endpoint)
			if err != nil {
				return err
			}
			// The URL carries the token deliveries are checked by: kept,
			// readable by billsync alone, for serve and doctor.
			if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(m3terEndpointPath(cfg.Data), []byte(endpoint+"\n"), 0o600); err != nil {
				return fmt.Errorf("storing the delivery URL: %w", err)
			}
			for _, line := range res.Changes {
				fmt.Fprintln(g.out, line)
			}
			if len(res.Changes) == 0 {
				fmt.Fprintf(g.out, "m3ter notifications are set up as billsync needs (webhook destination %s); nothing changed\n", res.DestinationID)
				return nil
			}
			fmt.Fprintf(g.out, "m3ter notifications are ready (webhook destination %s)\n", res.DestinationID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", envOr("BILLSYNC_CONFIG", ""), "YAML config file (env BILLSYNC_CONFIG)")
	f.StringVar(&endpoint, "url", "", "the public URL m3ter delivers to: <public base>/webhooks/m3ter/<token> (required)")
	f.DurationVar(&timeout, "timeout", time.Minute, "give up after this long")
	_ = cmd.MarkFlagRequired("url")
	return cmd
}

// m3terEndpointPath keeps the delivery URL setup registered (with its
// token), so that serve can check deliveries against its token and doctor
// can check that destination without being told it again.
func m3terEndpointPath(data string) string { return filepath.Join(data, "m3ter-webhook-url") }

// m3terHookToken is the token of the delivery URL setup stored in the
// data directory, "" when setup has not run.
func m3terHookToken(data string) string {
	u, err := url.Parse(readTrimmed(m3terEndpointPath(data)))
	if err != nil {
		return ""
	}
	i := strings.Index(u.Path, m3terHookPrefix)
	if i < 0 {
		return ""
	}
	return u.Path[i+len(m3terHookPrefix):]
}

// checkM3terHookURL refuses a --url m3ter could not reach or whose token
// is missing or short enough to guess.
func checkM3terHookURL(endpoint string) error {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("--url %q: want the public URL m3ter reaches billsync at, e.g. https://billsync.example.com%s<token>", endpoint, m3terHookPrefix)
	}
	i := strings.Index(u.Path, m3terHookPrefix)
	token := ""
	if i >= 0 {
		token = u.Path[i+len(m3terHookPrefix):]
	}
	if i < 0 || token == "" || strings.Contains(token, "/") {
		return fmt.Errorf("--url %q: want a path ending in %s<token>", endpoint, m3terHookPrefix)
	}
	if len(token) < minHookToken {
		return fmt.Errorf("--url: the token after %s is %d characters; use at least %d random ones, as it is what keeps strangers out", m3terHookPrefix, len(token), minHookToken)
	}
	return nil
}
