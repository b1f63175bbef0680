package binding

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/billsync/billsync"
)

// CRM is what Bind needs of the Salesforce client.
type CRM interface {
	Identity(ctx context.Context) (userID, orgID string, err error)
}

// Billing is what Bind needs of the billing client.
type Billing interface {
	Tenant(ctx context.Context) (string, error)
}

// Bind ties the store to the first Salesforce org and billing tenant it
// syncs with, and refuses any other unless rebind (the --rebind flag):
// a refreshed sandbox org carries production's billing ids and must never
// write to production's billing. A login that fails transiently (an
// outage at start-up) is retried for up to two minutes.
func Bind(ctx context.Context, store billsync.MetaStore, sf CRM, bill Billing, rebind bool, log *slog.Logger) error {
	var org, tenant string
	err := retryTransient(ctx, log, "salesforce login", func() (err error) { _, org, err = sf.Identity(ctx); return err })
	if err != nil {
		return fmt.Errorf("salesforce login: %w", err)
	}
	err = retryTransient(ctx, log, "billing tenant", func() (err error) { tenant, err = bill.Tenant(ctx); return err })
	if err != nil {
		return fmt.Errorf("billing: %w", err)
	}
	for _, b := range []struct{ key, value, what string }{
		{billsync.MetaSalesforceOrg, org, "Salesforce org"},
		{billsync.MetaBillingTenant, tenant, "billing tenant"},
	} {
		old, ok, err := store.Meta(ctx, b.key)
		if err != nil {
			return err
		}
		if ok && old != b.value && !rebind {
			return billsync.Errorf(billsync.EFORBIDDEN,
				"this store is bound to %s %s, but the credentials reach %s; refusing to sync (start with --rebind if this is intended)",
				b.what, old, b.value)
		}
		if !ok || old != b.value {
			if ok {
				log.Warn("rebinding the store", "what", b.what, "from", old, "to", b.value)
			}
			if err := store.SetMeta(ctx, b.key, b.value); err != nil {
				return err
			}
		}
	}
	return nil
}

// retryTransient retries f while it fails transiently (an outage at
// start-up), with backoff, for up to two minutes; other failures (bad
// credentials) return at once.
func retryTransient(ctx context.Context, log *slog.Logger, what string, f func() error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for wait := 250 * time.Millisecond; ; wait = min(wait*2, 10*time.Second) {
		err := f()
		if err == nil || !billsync.IsTransient(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		log.Warn(what+" failed; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}
