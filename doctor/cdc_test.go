package doctor

import (
	"context"
	"strings"
	"testing"

	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/sfemutest"
	"github.com/billsync/billsync/mapping"
)

// With salesforce.changeSource cdc the doctor reads the objects selected
// for Change Data Capture through the Tooling API: all synced objects
// selected passes; one deselected fails, naming it and how to select it.
func TestDoctorCDCSelection(t *testing.T) {
	org := sfemutest.Start(t, sfemu.Options{})
	e, sf := org.Emu, org.Integration(t)
	ctx := context.Background()
	check := func() Check {
		r := &doctorRun{}
		checkCDCSelection(ctx, r, sf, mapping.Default())
		if len(r.checks) != 1 {
			t.Fatalf("checks %+v, want one", r.checks)
		}
		return r.checks[0]
	}
	if c := check(); !c.OK || !strings.Contains(c.Detail, "BillingAccount__c") {
		t.Errorf("every synced object selected: %+v", c)
	}
	e.SelectCDC("BillingAccount__c", false)
	c := check()
	if c.OK || !strings.Contains(c.Detail, "BillingAccount__c is not selected") || !strings.Contains(c.Detail, "Setup → Change Data Capture") {
		t.Errorf("BillingAccount__c deselected: %+v", c)
	}
}
