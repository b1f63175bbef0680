package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/sandbox"
)

// child runs `billsync serve` as a separate process (this test binary,
// re-executed), wired to the harness's emulators.
type child struct {
	cmd *exec.Cmd
	url string
}

func (h *harness) startChild(dataDir string) *child {
	h.t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"BILLSYNC_E2E_CHILD_ARGS=serve --log-level warn",
		"BILLSYNC_ADDR="+h.sb.AppAddr,
		"BILLSYNC_DATA="+dataDir,
		"BILLSYNC_SALESFORCE_LOGIN_URL="+h.sb.SFURL,
		"BILLSYNC_SALESFORCE_STREAM=cometd", // the sandbox's default transport
		"BILLSYNC_SALESFORCE_GRANT=password",
		"BILLSYNC_SALESFORCE_CLIENT_ID="+sfemu.DefaultClientID,
		"BILLSYNC_SALESFORCE_CLIENT_SECRET="+sfemu.DefaultClientSecret,
		"BILLSYNC_SALESFORCE_USERNAME="+sfemu.IntegrationUsername,
		"BILLSYNC_SALESFORCE_PASSWORD="+sfemu.IntegrationPassword,
		"BILLSYNC_BILLING_URL="+h.sb.BillingURL,
		"BILLSYNC_BILLING_TOKEN="+sandbox.BillingToken,
		"BILLSYNC_BILLING_WEBHOOK_SECRET="+sandbox.WebhookSecret,
		"BILLSYNC_ADMIN_TOKENS="+sandbox.AdminName+"="+sandbox.AdminToken,
	)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	c := &child{cmd: cmd, url: "http://" + h.sb.AppAddr}
	h.t.Cleanup(func() { c.kill() })
	h.eventually("child billsync ready", func() (bool, string) {
		resp, err := http.Get(c.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return c
}

func (c *child) kill() {
	if c.cmd.Process != nil && c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGKILL)
		c.cmd.Wait()
	}
}

// TestRestartLosesNothing kills billsync with SIGKILL while webhooks are
// being accepted, edits records in Salesforce while it is down, restarts
// it, and checks that everything accepted or published arrives exactly
// once (B1, C5, §4).
func TestRestartLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: skipped in -short mode")
	}
	t.Parallel()
	h := startHarness(t, sandbox.Options{NoApp: true})
	data := filepath.Join(t.TempDir(), "billsync")
	c := h.startChild(data)

	// Three accounts fully synced before the crash.
	var synced []billsync.Entity
	var sfIDs []string
	for i := range 3 {
		a := h.create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("PRE%d", i), "name": fmt.Sprintf("Before %d", i), "currency": "USD"})
		synced = append(synced, a)
		sfIDs = append(sfIDs, h.sfRecord("BillingAccount__c", a.ID(), nil).ID())
	}

	// A burst of creates; SIGKILL as soon as some are accepted.
	delivered := h.sb.Billing.Delivered()
	var burst []billsync.Entity
	for i := range 40 {
		burst = append(burst, h.create(billsync.ObjectAccount, billsync.Entity{"code": fmt.Sprintf("B%02d", i), "name": fmt.Sprintf("Burst %d", i), "currency": "USD"}))
	}
	h.eventually("some of the burst accepted", func() (bool, string) {
		return h.sb.Billing.Delivered() >= delivered+10, fmt.Sprint(h.sb.Billing.Delivered())
	})
	c.kill()

	// While billsync is down, a sales user edits the synced accounts: the
	// events wait in the org's retention.
	for i, id := range sfIDs {
		h.salesUpdate("BillingAccount__c", billsync.SObject{"Id": id, "Name": fmt.Sprintf("Edited while down %d", i)})
	}

	h.startChild(data)
	for _, a := range burst {
		h.sfRecord("BillingAccount__c", a.ID(), nil)
	}
	for i, a := range synced {
		want := fmt.Sprintf("Edited while down %d", i)
		h.billingRecord(billsync.ObjectAccount, a.ID(), func(e billsync.Entity) bool { return e.Str("name") == want })
	}
	// Exactly once: no Salesforce record is duplicated.
	seen := map[string]int{}
	for _, r := range h.sb.SF.Records("BillingAccount__c") {
		seen[r.Str("BillingId__c")]++
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%d Salesforce records for billing account %s", n, id)
		}
	}
	if len(seen) != len(burst)+len(synced) {
		t.Errorf("%d accounts in Salesforce, want %d", len(seen), len(burst)+len(synced))
	}
}
