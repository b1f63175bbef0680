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

	mnemu "github.com/billsync/billsync/emulate/monetizenow"
	"github.com/billsync/billsync/sandbox"
)

// monetizeNowEmulateOptions are the flags of `billsync emulate monetizenow`.
type monetizeNowEmulateOptions struct {
	addr, data, faults, key, webhookURL string
}

func newEmulateMonetizeNowCmd(g *globals) *cobra.Command {
	var o monetizeNowEmulateOptions
	cmd := &cobra.Command{
		Use:   "monetizenow",
		Short: "Run the MonetizeNow emulator (quotes with offerings and items, accounts, webhooks)",
		Long: `Run the MonetizeNow emulator: the part of MonetizeNow's API billsync reads, at
its paths under /api with the x-api-key header: quotes with their offerings
and items inline (GET/POST /api/quotes, GET/PUT/DELETE /api/quotes/{id},
PUT /api/quotes/{id}/quoteOfferings/{offeringId}, POST /api/quotes/{id}/review,
send, accept and retract), accounts (GET/POST /api/accounts, GET
/api/accounts/{id}, GET /api/accounts/customId/{customId}, GET
/api/accounts/{id}/quotes). Lists page with currentPage (from 0) and pageSize
(at most 100) and answer {content, totalPages, totalElements}. Amounts are exact
decimals. Every change is POSTed to --webhook-url, retried with backoff.

Behaviours no public source confirms are provisional: the webhook body
({eventId, userId, sentTime, eventType, data}), unsigned deliveries, and the
retry schedule. The emulator has no approval rules, and takes a quote's type
(NEW, AMENDMENT, RENEWAL) from the create body.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveMonetizeNow(cmd.Context(), o, g.logger())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8085", "listen address")
	f.StringVar(&o.data, "data", "", "directory to keep the emulator's state in (default: memory only)")
	f.StringVar(&o.key, "api-key", mnemu.DefaultAPIKey, "the API key requests must carry in x-api-key")
	f.StringVar(&o.webhookURL, "webhook-url", "", "where to POST webhooks, e.g. http://127.0.0.1:8080/webhooks/monetizenow/<token> (default: none)")
	f.StringVar(&o.faults, "faults", "", faultsHelp)
	return cmd
}

// serveMonetizeNow runs the emulator until ctx ends.
func serveMonetizeNow(ctx context.Context, o monetizeNowEmulateOptions, log *slog.Logger) error {
	emu, err := mnemu.New(mnemu.Options{APIKey: o.key, DataDir: o.data, WebhookURL: o.webhookURL, Logger: log})
	if err != nil {
		return err
	}
	defer emu.Close()
	emu.Start(ctx)
	h, _, err := sandbox.WithFaults(emu.Handler(), o.faults, mnemu.FaultFormat, nil, log)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("--addr %s: %w", o.addr, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("MonetizeNow emulator listening", "url", "http://"+ln.Addr().String(), "webhook_url", o.webhookURL)
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
