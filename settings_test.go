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

func TestGuardSettings(t *testing.T) {
	s := billsync.NewSettings(nil)
	if d, o := s.GuardLimits(billsync.ObjectBalance); d != billsync.DefaultGuardLimit || o != billsync.DefaultGuardLimit {
		t.Fatalf("defaults %+v %+v", d, o)
	}
	for text, want := range map[string]string{
		"10%,500":                   `{"percent":10,"count":500}`,
		" 250 , 5% ":                `{"percent":5,"count":250}`,
		`{"percent":0,"count":0}`:   `{"percent":0,"count":0}`,
		`{"count":7,"percent":100}`: `{"count":7,"percent":100}`,
	} {
		v, err := billsync.ParseSettingText(billsync.PrefixGuardDeletes+"balance", text)
		if err != nil || string(v) != want {
			t.Errorf("billsync.ParseSettingText(%q) = %s, %v; want %s", text, v, err, want)
		}
	}
	for _, bad := range []string{"10%", "500", "101%,5", "10%,-1", "ten%,5", `{"percent":10}`, `{"percent":10,"count":5,"x":1}`, "10%,5,6"} {
		if v, err := billsync.ParseSettingText(billsync.PrefixGuardOverwrites+"account", bad); err == nil {
			t.Errorf("billsync.ParseSettingText(%q) = %s, want an error", bad, v)
		}
	}
	s = billsync.NewSettings([]billsync.Setting{{Key: billsync.PrefixGuardDeletes + "balance", Value: []byte(`{"percent":50,"count":3}`)}})
	if d, _ := s.GuardLimits(billsync.ObjectBalance); d != (billsync.GuardLimit{Percent: 50, Count: 3}) {
		t.Fatalf("stored %+v", d)
	}
}

func TestGuardLimitExceeded(t *testing.T) {
	l := billsync.GuardLimit{Percent: 10, Count: 500}
	for _, c := range []struct {
		n, total int
		want     bool
	}{{0, 0, false}, {0, 10, false}, {1, 10, false}, {2, 10, true}, {1, 9, true}, {500, 10000, false}, {501, 10000, true}, {8, 10, true}} {
		if got := l.Exceeded(c.n, c.total); got != c.want {
			t.Errorf("%d of %d: %v, want %v", c.n, c.total, got, c.want)
		}
	}
}
