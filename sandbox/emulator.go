package sandbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	billingemu "github.com/billsync/billsync/emulate/billing"
	"github.com/billsync/billsync/emulate/faults"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
)

// SalesforceOptions are the knobs of one Salesforce emulator run alone.
type SalesforceOptions struct {
	Addr          string
	Data          string // "" keeps the org in memory
	BaseURL       string // "" = http://<Addr>
	Faults        string // a faults.Parse spec
	Demo          bool   // seed the demo sales reps, accounts and products
	MultiCurrency bool
}

// ServeSalesforce runs the Salesforce emulator alone, as `billsync
// emulate salesforce` does, until ctx ends.
func ServeSalesforce(ctx context.Context, o SalesforceOptions, log *slog.Logger) error {
	emu, err := sfemu.New(sfemu.Options{DataDir: o.Data, Logger: log, MultiCurrency: o.MultiCurrency})
	if err != nil {
		return err
	}
	defer emu.Close()
	if o.Demo {
		if _, err := emu.SeedDemo(); err != nil {
			return err
		}
	}
	h, _, err := WithFaults(emu.Handler(), o.Faults, faults.SalesforceFormat, SalesforceHooks(emu), log)
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, log, "salesforce emulator", o.Addr, o.BaseURL, emu.SetBaseURL, h)
}

// BillingOptions are the knobs of one billing emulator run alone.
type BillingOptions struct {
	Addr          string
	Data          string // "" keeps the platform in memory
	WebhookURL    string // "" holds webhooks
	WebhookSecret string
	Token         string
	Tenant        string
	Faults        string // a faults.Parse spec
}

// ServeBilling runs the billing emulator alone, as `billsync emulate
// billing` does, until ctx ends.
func ServeBilling(ctx context.Context, o BillingOptions, log *slog.Logger) error {
	emu, err := billingemu.New(billingemu.Options{Token: o.Token, TenantID: o.Tenant, WebhookURL: o.WebhookURL,
		WebhookSecret: o.WebhookSecret, DataDir: o.Data, Logger: log})
	if err != nil {
		return err
	}
	defer emu.Close()
	emu.Start(ctx)
	h, _, err := WithFaults(emu.Handler(), o.Faults, faults.BillingFormat, nil, log)
	if err != nil {
		return err
	}
	return serveUntilDone(ctx, log, "billing emulator", o.Addr, "", nil, h)
}

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
