package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/doctor"
	"github.com/billsync/billsync/m3terapi"
	"github.com/billsync/billsync/stripeapi"
)

func newDoctorCmd(g *globals) *cobra.Command {
	var (
		configPath string
		flags      Config
		asJSON     bool
		timeout    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check both sides (credentials, objects, fields, event, permissions, API budget) before a first sync",
		Long: `Check that billsync can run: the configuration, the Salesforce login, every
object and field billsync reads and writes (as the SFDX source in sfdx/
and the mapping file define them), that the integration user is assigned a
permission set carrying the BillsyncIntegration custom permission, the
BillingObjectChange__e platform event, the org's API
budget, the billing tenant and token, and the webhook secret. Prints one line
per check and exits non-zero when any failed, saying what is missing and how
to fix it. Configuration is read as by serve.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := LoadConfig(configPath)
			if err != nil {
				return err
			}
			overlayFlags(cmd, &cfg, flags)
			withStoredWebhookSecret(&cfg)
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			checks := doctor.Run(ctx, doctorTarget(cfg), g.logger())
			failed := doctor.Print(g.out, checks, asJSON)
			if failed > 0 {
				return fmt.Errorf("doctor: %d of %d checks failed", failed, len(checks))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&configPath, "config", envOr("BILLSYNC_CONFIG", ""), "YAML config file (env BILLSYNC_CONFIG)")
	f.StringVar(&flags.Addr, "addr", "", "listen address for webhooks, admin API, health and metrics (default 127.0.0.1:8080; env BILLSYNC_ADDR)")
	f.StringVar(&flags.Data, "data", "", "directory of the embedded store (default ./billsync-data; env BILLSYNC_DATA)")
	f.StringVar(&flags.Mapping, "mapping", "", "YAML mapping file (default: the built-in mapping; env BILLSYNC_MAPPING)")
	f.IntVar(&flags.Workers, "workers", 0, "partitions synced in parallel (default 1000; env BILLSYNC_WORKERS)")
	f.BoolVar(&flags.Rebind, "rebind", false, "accepted for symmetry with serve; doctor does not open the store")
	f.StringVar(&flags.Salesforce.LoginURL, "salesforce-login-url", "", "Salesforce login URL (default https://login.salesforce.com)")
	f.StringVar(&flags.Billing.URL, "billing-url", "", "billing platform base URL")
	f.BoolVar(&asJSON, "json", false, "print the checks as JSON")
	f.DurationVar(&timeout, "timeout", 2*time.Minute, "give up on the remote checks after this long")
	return cmd
}

// doctorTarget is what the doctor checks of cfg.
func doctorTarget(cfg Config) doctor.Target {
	return doctor.Target{
		ConfigErr: cfg.Validate(), Mapping: cfg.Mapping, APIBudgetShare: cfg.APIBudgetShare,
		Salesforce: doctor.Salesforce{LoginURL: cfg.Salesforce.LoginURL, Grant: cfg.Salesforce.Grant, ClientID: cfg.Salesforce.ClientID,
			ClientSecret: cfg.Salesforce.ClientSecret, Username: cfg.Salesforce.Username, Password: cfg.Salesforce.Password,
			PrivateKeyFile: cfg.Salesforce.PrivateKeyFile, APIVersion: cfg.Salesforce.APIVersion, ChangeSource: cfg.Salesforce.ChangeSource},
		Billing: doctor.Billing{URL: cfg.Billing.URL, Token: cfg.Billing.Token, WebhookSecret: cfg.Billing.WebhookSecret,
			Checks: platformChecks(cfg), QuoteChecks: quoteSourceChecks(cfg)},
	}
}

// platformChecks are the doctor's checks of a billing platform other than
// the contract: the platform's own, named for it; nil for the contract.
func platformChecks(cfg Config) func(ctx context.Context) []doctor.Check {
	switch cfg.Billing.Platform {
	case billsync.PlatformM3ter:
		return m3terChecks(cfg)
	case billsync.PlatformMonetizeNow:
		return monetizeNowChecks(cfg)
	case billsync.PlatformStripe:
	default:
		return nil
	}
	return func(ctx context.Context) []doctor.Check {
		c, err := stripeapi.NewClient(billsync.BillingOptions{URL: cfg.Billing.URL, Token: cfg.Billing.Token, Options: cfg.Billing.Options})
		if err != nil {
			return []doctor.Check{{Name: "stripe API key", Detail: billsync.ErrorMessage(err)}}
		}
		var out []doctor.Check
		// The endpoint billsync stripe setup registered, if it ran here.
		for _, r := range c.Check(ctx, readTrimmed(stripeEndpointPath(cfg.Data))) {
			out = append(out, doctor.Check{Name: "stripe " + r.Name, OK: r.OK, Detail: r.Detail})
		}
		secret := doctor.Check{Name: "stripe webhook secret", OK: true}
		if _, err := stripeapi.NewWebhooks(cfg.Billing.WebhookSecret, nil, ""); err != nil {
			secret = doctor.Check{Name: secret.Name, Detail: billsync.ErrorMessage(err) +
				"; billsync stripe setup registers the endpoint and stores its signing secret (or set billing.webhookSecret)"}
		}
		return append(out, secret)
	}
}

// m3terChecks are the doctor's checks of m3ter: credentials, the
// organization, a list of each object and the notifications in place; and
// that the webhook URL's token is set.
func m3terChecks(cfg Config) func(ctx context.Context) []doctor.Check {
	return func(ctx context.Context) []doctor.Check {
		c, err := m3terapi.NewClient(billsync.BillingOptions{URL: cfg.Billing.URL, Token: cfg.Billing.Token, Options: cfg.Billing.Options})
		if err != nil {
			return []doctor.Check{{Name: "m3ter credentials", Detail: billsync.ErrorMessage(err)}}
		}
		var out []doctor.Check
		for _, r := range c.Check(ctx) {
			out = append(out, doctor.Check{Name: "m3ter " + r.Name, OK: r.OK, Detail: r.Detail})
		}
		tok := doctor.Check{Name: "m3ter webhook URL token", OK: true}
		if cfg.Billing.WebhookToken() == "" {
			tok = doctor.Check{Name: tok.Name, Detail: "billing.webhookSecret is empty; billsync m3ter setup --url https://<billsync>/webhooks/m3ter/<token> sets up delivery and stores it"}
		}
		return append(out, tok)
	}
}
