package binding

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/billsync/billsync"
)

type metaStore map[string]string

func (m metaStore) Meta(_ context.Context, key string) (string, bool, error) {
	v, ok := m[key]
	return v, ok, nil
}

func (m metaStore) SetMeta(_ context.Context, key, value string) error {
	m[key] = value
	return nil
}

type org string

func (o org) Identity(context.Context) (string, string, error) { return "005user", string(o), nil }

type tenant string

func (t tenant) Tenant(context.Context) (string, error) { return string(t), nil }

type failing struct{ err error }

func (f failing) Identity(context.Context) (string, string, error) { return "", "", f.err }

func TestBind(t *testing.T) {
	ctx, log := context.Background(), slog.New(slog.DiscardHandler)
	store := metaStore{}

	// The first start binds the store.
	if err := Bind(ctx, store, org("00DA"), tenant("ten-a"), false, log); err != nil {
		t.Fatal(err)
	}
	if store[billsync.MetaSalesforceOrg] != "00DA" || store[billsync.MetaBillingTenant] != "ten-a" {
		t.Fatalf("binding after the first start: %v", store)
	}
	// The same org and tenant again: fine.
	if err := Bind(ctx, store, org("00DA"), tenant("ten-a"), false, log); err != nil {
		t.Fatal(err)
	}
	// Another org is refused, and the binding stays.
	err := Bind(ctx, store, org("00DB"), tenant("ten-a"), false, log)
	if billsync.ErrorCode(err) != billsync.EFORBIDDEN || store[billsync.MetaSalesforceOrg] != "00DA" {
		t.Fatalf("another org: %v, binding %v", err, store)
	}
	// Another tenant too.
	if err := Bind(ctx, store, org("00DA"), tenant("ten-b"), false, log); billsync.ErrorCode(err) != billsync.EFORBIDDEN {
		t.Fatalf("another tenant: %v", err)
	}
	// --rebind moves the binding.
	if err := Bind(ctx, store, org("00DB"), tenant("ten-b"), true, log); err != nil {
		t.Fatal(err)
	}
	if store[billsync.MetaSalesforceOrg] != "00DB" || store[billsync.MetaBillingTenant] != "ten-b" {
		t.Fatalf("binding after --rebind: %v", store)
	}
}

// A login refused for good (bad credentials) fails at once, wrapped.
func TestBindLoginRefused(t *testing.T) {
	refused := billsync.Errorf(billsync.EUNAUTHORIZED, "invalid_grant")
	err := Bind(context.Background(), metaStore{}, failing{refused}, tenant("ten-a"), false, slog.New(slog.DiscardHandler))
	if !errors.Is(err, refused) {
		t.Fatalf("Bind = %v, want the login's error wrapped", err)
	}
}
