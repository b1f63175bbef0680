package rest

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
)

// Raw follows Do's rules: a new login after a 401, and Salesforce's error
// array read into a *RemoteError.
func TestRawLogsInAgainAndReadsErrors(t *testing.T) {
	e, base := startEmulator(t, sfemu.Options{})
	c := emulatorClient(t, base)
	ctx := context.Background()
	if _, err := c.Raw(ctx, http.MethodGet, "/limits", "", "application/json", nil); err != nil {
		t.Fatal(err)
	}
	e.ExpireSessions()
	res, err := c.Raw(ctx, http.MethodPost, "/jobs/query", "application/json", "application/json",
		[]byte(`{"operation":"query","query":"SELECT Id FROM BillingAccount__c"}`))
	if err != nil || res.StatusCode != 200 || len(res.Body) == 0 {
		t.Fatalf("after the session expired: %+v, %v", res, err)
	}
	_, err = c.Raw(ctx, http.MethodGet, "/jobs/query/750000000000000AAA", "", "application/json", nil)
	var re *billsync.RemoteError
	if !errors.As(err, &re) || re.StatusCode != 404 || re.Code != "NOT_FOUND" {
		t.Fatalf("unknown job: %v", err)
	}
}
