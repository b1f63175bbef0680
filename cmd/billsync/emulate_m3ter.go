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

	"github.com/billsync/billsync/emulate/faults"
	m3emu "github.com/billsync/billsync/emulate/m3ter"
	"github.com/billsync/billsync/sandbox"
)

// m3terEmulateOptions are the flags of `billsync emulate m3ter`.
type m3terEmulateOptions struct {
	addr, data, faults                    string
	orgID, accessKey, secret, serviceUser string
}

func newEmulateM3terCmd(g *globals) *cobra.Command {
	var o m3terEmulateOptions
	cmd := &cobra.Command{
		Use:   "m3ter",
		Short: "Run the m3ter emulator (accounts, balances, balance transactions, events, notifications, webhooks)",
		Long: `Run the m3ter emulator: m3ter's Config API for what billsync syncs, at m3ter's
paths under /organizations/{orgId}: OAuth client credentials at /oauth/token
(HTTP Basic with the access key id and API secret; tokens last 5 hours),
accounts, balances and their transactions (a balance's amount is the sum of
its transactions), events, notification configurations, webhook destinations,
integration configs and users/me; nextToken paging, newest first; integer
versions on every entity. Events whose notification is linked to a webhook
destination by an integration config are POSTed to it, retried with backoff.
Checked in its tests against m3ter's published OpenAPI description.

Behaviours no public source confirms are provisional: a stale version is
answered 409, the webhook body is the event record, deliveries are unsigned.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return serveM3ter(cmd.Context(), o, g.logger())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.addr, "addr", "127.0.0.1:8084", "listen address")
	f.StringVar(&o.data, "data", "", "directory to keep the emulator's state in (default: memory only)")
	f.StringVar(&o.orgID, "org-id", m3emu.DefaultOrgID, "organization id the API serves")
	f.StringVar(&o.accessKey, "access-key-id", m3emu.DefaultAccessKeyID, "service user access key id /oauth/token accepts")
	f.StringVar(&o.secret, "api-secret", m3emu.DefaultAPISecret, "the access key's API secret")
	f.StringVar(&o.serviceUser, "service-user-id", m3emu.DefaultServiceUserID, "service user id the access key writes as (createdBy, lastModifiedBy)")
	f.StringVar(&o.faults, "faults", "", faultsHelp)
	return cmd
}

// serveM3ter runs the emulator until ctx ends.
func serveM3ter(ctx context.Context, o m3terEmulateOptions, log *slog.Logger) error {
	emu, err := m3emu.New(m3emu.Options{OrgID: o.orgID, AccessKeyID: o.accessKey, APISecret: o.secret,
		ServiceUserID: o.serviceUser, DataDir: o.data, Logger: log})
	if err != nil {
		return err
	}
	defer emu.Close()
	emu.Start(ctx)
	h, _, err := sandbox.WithFaults(emu.Handler(), o.faults, m3emu.FaultFormat,
		map[string]func(){faults.HookExpireTokens: emu.ExpireTokens}, log)
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
	log.Info("m3ter emulator listening", "url", "http://"+ln.Addr().String(), "org_id", o.orgID,
		"access_key_id", o.accessKey, "service_user_id", emu.ServiceUserID())
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
