package billsync_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

// quotes.pricebook names the price book quote lines are priced from: an
// empty name is refused wherever a setting is set (admin API, CLI, config
// seed all validate through ValidateSetting).
func TestEmptyPricebookRefused(t *testing.T) {
	for _, v := range []string{`""`, `"   "`, `"\t"`} {
		_, err := billsync.ValidateSetting(billsync.KeyQuotesPricebook, json.RawMessage(v))
		if billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(billsync.ErrorMessage(err), "quotes.pricebook") {
			t.Errorf("%s: %v, want an invalid error naming the setting", v, err)
		}
	}
	if _, err := billsync.ParseSettingText(billsync.KeyQuotesPricebook, ""); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("empty text: %v", err)
	}
	got, err := billsync.ValidateSetting(billsync.KeyQuotesPricebook, json.RawMessage(`"Partner Price Book"`))
	if err != nil || string(got) != `"Partner Price Book"` {
		t.Errorf("a name: %s %v", got, err)
	}
	// Other strings may be empty: no renewal placeholder product is a choice.
	if _, err := billsync.ValidateSetting(billsync.KeyQuotesRenewalPlaceholder, json.RawMessage(`""`)); err != nil {
		t.Errorf("empty renewal placeholder: %v", err)
	}
}

func TestRejectedIsAnOutcome(t *testing.T) {
	if o, err := billsync.ParseOutcome("rejected"); err != nil || o != billsync.OutcomeRejected {
		t.Errorf("ParseOutcome(rejected) = %q, %v", o, err)
	}
	if _, err := billsync.ParseOutcome("nope"); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("unknown outcome error does not list rejected: %v", err)
	}
}
