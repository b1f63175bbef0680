// Package sfemutest starts a Salesforce emulator for a test and logs REST
// clients into it, so tests across packages do not each repeat the server,
// the cleanup and the login.
package sfemutest

import (
	"log/slog"
	"net/http/httptest"
	"testing"

	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/rest"
)

// Org is an emulator serving over HTTP for one test.
type Org struct {
	Emu *sfemu.Emulator
	URL string // the emulator's base and login URL
}

// Start serves a new emulator made with opts until the test ends.
func Start(t testing.TB, opts sfemu.Options) *Org {
	t.Helper()
	e, err := sfemu.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); _ = e.Close() })
	e.SetBaseURL(srv.URL)
	return &Org{Emu: e, URL: srv.URL}
}

// Client logs in as user by the password grant of the emulator's default
// connected app; mod may change the configuration first (an HTTP client, a
// logger). Its log is discarded unless mod sets one.
func (o *Org) Client(t testing.TB, user, pass string, mod ...func(*rest.Config)) *rest.Client {
	t.Helper()
	cfg := rest.Config{LoginURL: o.URL, Grant: rest.GrantPassword,
		ClientID: sfemu.DefaultClientID, ClientSecret: sfemu.DefaultClientSecret,
		Username: user, Password: pass, Logger: slog.New(slog.DiscardHandler)}
	for _, m := range mod {
		m(&cfg)
	}
	rc, err := rest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// Integration is a client of billsync's integration user.
func (o *Org) Integration(t testing.TB, mod ...func(*rest.Config)) *rest.Client {
	t.Helper()
	return o.Client(t, sfemu.IntegrationUsername, sfemu.IntegrationPassword, mod...)
}

// Sales is a client of a sales user, whose edits the trigger reports.
func (o *Org) Sales(t testing.TB) *rest.Client {
	t.Helper()
	return o.Client(t, sfemu.SalesUsername, sfemu.SalesPassword)
}
