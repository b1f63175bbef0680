package rest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
)

// startEmulator runs the Salesforce emulator on 127.0.0.1 and returns it
// with its base URL.
func startEmulator(t *testing.T, opts sfemu.Options) (*sfemu.Emulator, string) {
	t.Helper()
	e, err := sfemu.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); e.Close() })
	e.SetBaseURL(srv.URL)
	return e, srv.URL
}

func emulatorClient(t *testing.T, base string, mod ...func(*Config)) *Client {
	t.Helper()
	cfg := Config{
		LoginURL: base, Grant: GrantPassword,
		ClientID: sfemu.DefaultClientID, ClientSecret: sfemu.DefaultClientSecret,
		Username: sfemu.IntegrationUsername, Password: sfemu.IntegrationPassword,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAgainstEmulator(t *testing.T) {
	e, base := startEmulator(t, sfemu.Options{})
	c := emulatorClient(t, base)
	ctx := context.Background()

	user, org, err := c.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if org != e.OrgID() || user != e.UserID(sfemu.IntegrationUsername) {
		t.Errorf("Identity = %q, %q; emulator says %q, %q", user, org, e.UserID(sfemu.IntegrationUsername), e.OrgID())
	}

	t.Run("upsert collections", func(t *testing.T) {
		recs := []billsync.SObject{
			{"BillingId__c": "emu-1", "Name": "Emu One"},
			{"BillingId__c": "emu-2", "Name": "Emu Two"},
		}
		first, err := c.Upsert(ctx, "BillingAccount__c", "BillingId__c", recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range first {
			if !r.Success || !r.Created || r.ID == "" {
				t.Errorf("first upsert %d = %+v", i, r)
			}
		}
		recs[0]["Name"] = "Emu One b"
		second, err := c.Upsert(ctx, "BillingAccount__c", "BillingId__c", recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range second {
			if !r.Success || r.Created || r.ID != first[i].ID {
				t.Errorf("second upsert %d = %+v (first %+v)", i, r, first[i])
			}
		}
		got, err := c.Retrieve(ctx, "BillingAccount__c", first[0].ID, []string{"Name", "BillingId__c"})
		if err != nil || got.Str("Name") != "Emu One b" {
			t.Errorf("Retrieve = %v, %v", got, err)
		}
	})

	t.Run("create update delete and money", func(t *testing.T) {
		res, err := c.Create(ctx, "Opportunity", []billsync.SObject{
			{"Name": "Good", "StageName": "Prospecting", "CloseDate": "2030-01-31", "Amount": billsync.MustMoney("1234.50")},
			{"Name": "Bad", "StageName": "Prospecting"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !res[0].Success || res[1].Success || billsync.RemoteCode(res[1].Err()) != "REQUIRED_FIELD_MISSING" {
			t.Fatalf("results = %+v", res)
		}
		id := res[0].ID
		got, err := c.Retrieve(ctx, "Opportunity", id, []string{"Amount"})
		if err != nil {
			t.Fatal(err)
		}
		n, ok := got["Amount"].(json.Number)
		if !ok {
			t.Fatalf("Amount = %#v, want a json.Number", got["Amount"])
		}
		if m, err := billsync.ParseMoney(n.String()); err != nil || !m.Equal(billsync.MustMoney("1234.5")) {
			t.Errorf("Amount read back %s", n)
		}
		upd, err := c.Update(ctx, "Opportunity", []billsync.SObject{{"Id": id, "Name": "Better"}})
		if err != nil || !upd[0].Success {
			t.Fatalf("Update = %+v, %v", upd, err)
		}
		del, err := c.Delete(ctx, []string{id})
		if err != nil || !del[0].Success {
			t.Fatalf("Delete = %+v, %v", del, err)
		}
		if _, err := c.Retrieve(ctx, "Opportunity", id, nil); billsync.ErrorCode(err) != billsync.ENOTFOUND {
			t.Errorf("Retrieve after delete: %v", err)
		}
	})

	t.Run("query paging", func(t *testing.T) {
		recs := make([]billsync.SObject, 2200)
		for i := range recs {
			recs[i] = billsync.SObject{"Name": fmt.Sprintf("Page %d", i), "BillingId__c": fmt.Sprintf("pg-%d", i)}
		}
		res, err := c.Create(ctx, "BillingAccount__c", recs)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if !r.Success {
				t.Fatalf("create %d: %+v", i, r)
			}
		}
		rows, err := c.Query(ctx, "SELECT Id, Name FROM BillingAccount__c WHERE BillingId__c LIKE 'pg-%'")
		if err != nil || len(rows) != 2200 {
			t.Fatalf("Query = %d rows, %v", len(rows), err)
		}
		n, err := c.QueryCount(ctx, "SELECT COUNT() FROM BillingAccount__c WHERE BillingId__c LIKE 'pg-%'")
		if err != nil || n != 2200 {
			t.Errorf("QueryCount = %d, %v", n, err)
		}
	})

	t.Run("describe and limits", func(t *testing.T) {
		d, err := c.Describe(ctx, "BillingAccount__c")
		if err != nil {
			t.Fatal(err)
		}
		if f, ok := d.Field("BillingId__c"); !ok || !f.ExternalID || !f.Unique {
			t.Errorf("BillingId__c = %+v, %v", f, ok)
		}
		if used, max, ok := c.Limits(); !ok || max <= 0 || used <= 0 {
			t.Errorf("Limits = %d/%d %v", used, max, ok)
		}
	})

	t.Run("unknown type per record, unknown external id field for the call", func(t *testing.T) {
		res, err := c.Create(ctx, "Nope__c", []billsync.SObject{{"Name": "x"}})
		if err != nil || len(res) != 1 || billsync.RemoteCode(res[0].Err()) != "INVALID_TYPE" {
			t.Errorf("Create unknown type = %+v, %v", res, err)
		}
		res, err = c.Upsert(ctx, "BillingAccount__c", "Nope__c", []billsync.SObject{{"Nope__c": "x"}})
		if res != nil || billsync.RemoteCode(err) != "NOT_FOUND" || billsync.ErrorCode(err) != billsync.ENOTFOUND {
			t.Errorf("Upsert unknown field = %+v, %v", res, err)
		}
	})

	t.Run("bad password", func(t *testing.T) {
		bad := emulatorClient(t, base, func(cfg *Config) { cfg.Password = "wrong" })
		_, _, err := bad.Session(ctx)
		if billsync.RemoteCode(err) != "invalid_grant" {
			t.Errorf("err = %v", err)
		}
	})
}

func TestEmulatorJWTBearer(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	e, base := startEmulator(t, sfemu.Options{JWTPublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})})
	c := emulatorClient(t, base, func(cfg *Config) {
		cfg.Grant, cfg.Password, cfg.ClientSecret = GrantJWT, "", ""
		cfg.PrivateKeyPEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	})
	user, org, err := c.Identity(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if org != e.OrgID() || user != e.UserID(sfemu.IntegrationUsername) {
		t.Errorf("Identity = %q, %q", user, org)
	}
}

// TestEmulatorSessionLossRelogsIn swaps the emulator behind the same URL
// for a fresh one that never issued the client's token: the next call is
// answered 401 INVALID_SESSION_ID, and the client logs in again once and
// repeats it.
func TestEmulatorSessionLossRelogsIn(t *testing.T) {
	var current atomic.Pointer[sfemu.Emulator]
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		current.Load().Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	start := func() *sfemu.Emulator {
		e, err := sfemu.New(sfemu.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { e.Close() })
		e.SetBaseURL(srv.URL)
		current.Store(e)
		return e
	}
	start()
	c := emulatorClient(t, srv.URL)
	ctx := context.Background()
	_, oldToken, err := c.Session(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Query(ctx, "SELECT Id FROM Account"); err != nil {
		t.Fatal(err)
	}
	e2 := start()
	if _, err := c.Query(ctx, "SELECT Id FROM Account"); err != nil {
		t.Fatalf("query after session loss: %v", err)
	}
	_, newToken, _ := c.Session(ctx)
	if newToken == oldToken {
		t.Error("the client kept the dead token")
	}
	if _, org, _ := c.Identity(ctx); org != e2.OrgID() {
		t.Errorf("identity still names the old org")
	}
}

func TestEmulatorPublish(t *testing.T) {
	_, base := startEmulator(t, sfemu.Options{})
	c := emulatorClient(t, base)
	d, err := c.Describe(context.Background(), "BillingObjectChange__e")
	if err != nil {
		t.Skipf("emulator has no BillingObjectChange__e: %v", err)
	}
	fields := billsync.SObject{}
	for _, f := range d.Fields {
		if f.Createable && f.Type == "string" && len(fields) == 0 {
			fields[f.Name] = "x"
		}
	}
	if err := c.Publish(context.Background(), "BillingObjectChange__e", fields); err != nil {
		t.Errorf("Publish: %v", err)
	}
}
