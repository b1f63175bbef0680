package binding

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/mock"
)

// org, tenant and failing are the one-method identities Bind reads.
type org string

func (o org) Identity(context.Context) (string, string, error) { return "005user", string(o), nil }

type tenant string

func (t tenant) Tenant(context.Context) (string, error) { return string(t), nil }

type failing struct{ err error }

func (f failing) Identity(context.Context) (string, string, error) { return "", "", f.err }

func TestBind(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	store := mock.NewStore()
	bound := func() (orgID, tenantID string) {
		orgID, _, _ = store.Meta(ctx, billsync.MetaSalesforceOrg)
		tenantID, _, _ = store.Meta(ctx, billsync.MetaBillingTenant)
		return orgID, tenantID
	}

	// The first start binds the store.
	if err := Bind(ctx, store, org("00DA"), tenant("ten-a"), false, log); err != nil {
		t.Fatal(err)
	}
	if o, tn := bound(); o != "00DA" || tn != "ten-a" {
		t.Fatalf("binding after the first start: %s %s", o, tn)
	}
	// The same org and tenant again: fine.
	if err := Bind(ctx, store, org("00DA"), tenant("ten-a"), false, log); err != nil {
		t.Fatal(err)
	}
	// Another org is refused, and the binding stays.
	err := Bind(ctx, store, org("00DB"), tenant("ten-a"), false, log)
	if o, _ := bound(); billsync.ErrorCode(err) != billsync.EFORBIDDEN || o != "00DA" {
		t.Fatalf("another org: %v, bound to %s", err, o)
	}
	// Another tenant too.
	if err := Bind(ctx, store, org("00DA"), tenant("ten-b"), false, log); billsync.ErrorCode(err) != billsync.EFORBIDDEN {
		t.Fatalf("another tenant: %v", err)
	}
	// --rebind moves the binding.
	if err := Bind(ctx, store, org("00DB"), tenant("ten-b"), true, log); err != nil {
		t.Fatal(err)
	}
	if o, tn := bound(); o != "00DB" || tn != "ten-b" {
		t.Fatalf("binding after --rebind: %s %s", o, tn)
	}
}

// A login refused for good (bad credentials) fails at once, wrapped.
func TestBindLoginRefused(t *testing.T) {
	refused := billsync.Errorf(billsync.EUNAUTHORIZED, "invalid_grant")
	err := Bind(context.Background(), mock.NewStore(), failing{refused}, tenant("ten-a"), false, slog.New(slog.DiscardHandler))
	if !errors.Is(err, refused) {
		t.Fatalf("Bind = %v, want the login's error wrapped", err)
	}
}
