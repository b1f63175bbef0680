package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	billingemu "github.com/billsync/billsync/emulate/billing"
	"github.com/billsync/billsync/emulate/faults"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/sandbox"
)

func newEmulateCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "emulate",
		Short: "Run an emulator of the outside world (Salesforce org or billing platform)",
	}
	cmd.AddCommand(newEmulateSalesforceCmd(g), newEmulateBillingCmd(g))
	return cmd
}

func newEmulateSalesforceCmd(g *globals) *cobra.Command {
	var addr, data, baseURL, faultSpec string
	var demo, multiCurrency bool
	cmd := &cobra.Command{
		Use:   "salesforce",
		Short: "Run the Salesforce emulator (REST API, OAuth, SOQL, CometD streaming)",
		Long: `Run the Salesforce emulator: the REST API (OAuth password, client-credentials
and JWT grants; sObjects, upsert, sObject Collections, SOQL, describe) and the
CometD streaming API with replay, on the schema shipped in salesforce/.

Users: ` + sfemu.IntegrationUsername + ` / ` + sfemu.IntegrationPassword + ` (integration user)
       ` + sfemu.SalesUsername + ` / ` + sfemu.SalesPassword + ` (a sales user)
Connected app: client id ` + sfemu.DefaultClientID + `, secret ` + sfemu.DefaultClientSecret,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger()
			emu, err := sfemu.New(sfemu.Options{DataDir: data, Logger: log, MultiCurrency: multiCurrency})
			if err != nil {
				return err
			}
			defer emu.Close()
			if demo {
				if _, err := emu.SeedDemo(); err != nil {
					return err
				}
			}
			h, _, err := sandbox.WithFaults(emu.Handler(), faultSpec, faults.SalesforceFormat, sandbox.SalesforceHooks(emu))
			if err != nil {
				return err
			}
			return serveUntilDone(cmd.Context(), log, "salesforce emulator", addr, baseURL, emu.SetBaseURL, h)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8081", "listen address")
	cmd.Flags().StringVar(&data, "data", "", "directory to keep the org's state in (default: memory only)")
	cmd.Flags().StringVar(&baseURL, "base-url", "", "URL clients reach the emulator at (default http://<addr>)")
	cmd.Flags().BoolVar(&demo, "demo", false, "seed demo data: sales reps, accounts, products, the standard and an Enterprise price book")
	cmd.Flags().BoolVar(&multiCurrency, "multi-currency", false, "emulate a multi-currency org (CurrencyIsoCode on every object; USD, EUR, GBP)")
	cmd.Flags().StringVar(&faultSpec, "faults", "", faultsHelp)
	return cmd
}

func newEmulateBillingCmd(g *globals) *cobra.Command {
	var addr, data, webhookURL, secret, token, tenant, faultSpec string
	cmd := &cobra.Command{
		Use:   "billing",
		Short: "Run the billing platform emulator (REST API and signed webhooks)",
		Long: `Run the billing emulator: the billing contract's REST API (accounts, balances,
balance transactions, quotes; optimistic locking by version) and Standard
Webhooks delivery to --webhook-url, retried with backoff.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := g.logger()
			emu, err := billingemu.New(billingemu.Options{Token: token, TenantID: tenant, WebhookURL: webhookURL,
				WebhookSecret: secret, DataDir: data, Logger: log})
			if err != nil {
				return err
			}
			defer emu.Close()
			emu.Start(cmd.Context())
			h, _, err := sandbox.WithFaults(emu.Handler(), faultSpec, faults.BillingFormat, nil)
			if err != nil {
				return err
			}
			return serveUntilDone(cmd.Context(), log, "billing emulator", addr, "", nil, h)
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8082", "listen address")
	cmd.Flags().StringVar(&data, "data", "", "directory to keep the platform's state in (default: memory only)")
	cmd.Flags().StringVar(&webhookURL, "webhook-url", "", "where to deliver webhooks, e.g. http://127.0.0.1:8080/webhooks/billing (default: none)")
	cmd.Flags().StringVar(&secret, "webhook-secret", sandbox.WebhookSecret, "Standard Webhooks signing secret (whsec_…)")
	cmd.Flags().StringVar(&token, "token", sandbox.BillingToken, "bearer token the REST API accepts")
	cmd.Flags().StringVar(&tenant, "tenant", "sandbox-tenant", "tenant id the API reports")
	cmd.Flags().StringVar(&faultSpec, "faults", "", faultsHelp)
	return cmd
}

const faultsHelp = `a fault spec such as "lock:rate=0.02,status=400,code=UNABLE_TO_LOCK_ROW;slow:latency=50ms,jitter=20ms;drop:rate=0.01,drop";
change at run time with GET/PUT /_emulator/faults (see README, "Fault injection")`

// serveUntilDone serves h on addr until ctx ends.
func serveUntilDone(ctx context.Context, log *slog.Logger, name, addr, baseURL string, setBase func(string), h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", addr, err)
	}
	url := "http://" + ln.Addr().String()
	if baseURL != "" {
		url = baseURL
	}
	if setBase != nil {
		setBase(url)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info(name+" listening", "url", url)
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}
