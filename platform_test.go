package billsync_test

import (
	"strings"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
)

// billing.platform: the contract opens with its capabilities; a known
// platform not built in yet and an unknown name are refused naming the
// setting.
func TestBillingPlatforms(t *testing.T) {
	a, err := billsync.OpenBillingPlatform(billsync.PlatformContract, billsync.BillingOptions{URL: "http://127.0.0.1:1", Token: "t", WebhookSecret: "whsec_c2VjcmV0c2VjcmV0c2VjcmV0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Billing.Capabilities(); got.Platform != billingapi.Capabilities.Platform || got.Versioning != billsync.VersionInteger {
		t.Errorf("contract capabilities %+v", got)
	}
	if _, err := billsync.OpenBillingPlatform(billsync.PlatformContract, billsync.BillingOptions{WebhookSecret: "not a secret"}); err == nil ||
		!strings.Contains(err.Error(), "billing.webhookSecret") {
		t.Errorf("bad secret: %v", err)
	}
	for name, want := range map[string]string{
		billsync.PlatformStripe:      "billing.platform stripe is not available in this build yet",
		billsync.PlatformM3ter:       "billing.platform m3ter is not available in this build yet",
		billsync.PlatformMonetizeNow: "billing.platform monetizenow is not available in this build yet",
		"paypal":                     `billing.platform "paypal": want one of contract, stripe, m3ter, monetizenow`,
	} {
		err := billsync.CheckBillingPlatform(name)
		if err == nil || billsync.ErrorMessage(err) != want || billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := billsync.OpenBillingPlatform(name, billsync.BillingOptions{}); err == nil {
			t.Errorf("%s opened", name)
		}
	}
	for _, p := range []billsync.BillingPlatform{
		{Name: billsync.PlatformContract, Open: billingapi.Open}, // twice
		{Name: "paypal", Open: billingapi.Open},                  // unknown
		{Name: billsync.PlatformStripe},                          // without Open
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("registering %q did not panic", p.Name)
				}
			}()
			billsync.RegisterBillingPlatform(p)
		}()
	}
}
