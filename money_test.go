package billsync

import (
	"encoding/json"
	"testing"
)

func TestMoneyKeepsScaleAndComparesNumerically(t *testing.T) {
	t.Parallel()
	a := MustMoney("12.50")
	if a.String() != "12.50" {
		t.Fatalf("String = %q, want 12.50", a.String())
	}
	var b Money
	if err := json.Unmarshal([]byte(`12.5`), &b); err != nil {
		t.Fatal(err)
	}
	if !a.Equal(b) || a.Canonical() != b.Canonical() {
		t.Fatalf("12.50 and 12.5 should be equal: %s %s", a.Canonical(), b.Canonical())
	}
	out, _ := json.Marshal(a)
	if string(out) != `"12.50"` {
		t.Fatalf("json = %s", out)
	}
}

func TestMoneyRound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in    string
		scale int
		want  string
		lost  bool
	}{
		{"12.345", 2, "12.35", true},
		{"-12.345", 2, "-12.35", true},
		{"12.50", 2, "12.50", false},
		{"12.5", 2, "12.5", false},
		{"7", 0, "7", false},
	} {
		got, lost := MustMoney(tc.in).Round(tc.scale)
		if got.String() != tc.want || lost != tc.lost {
			t.Errorf("Round(%s,%d) = %s,%v; want %s,%v", tc.in, tc.scale, got, lost, tc.want, tc.lost)
		}
	}
}

// Salesforce writes large numbers in exponent form ("1.0E7").
func TestParseNumberExponents(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"1.0E7": "10000000", "1.2345E3": "1234.5", "2.5E-4": "0.00025", "-1.5E2": "-150", "10.0": "10.0", "12.50": "12.50",
	} {
		got, err := ParseNumber(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseNumber(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"1E", "E5", "1.0E999", "abc"} {
		if _, err := ParseNumber(bad); err == nil {
			t.Errorf("ParseNumber(%q) accepted", bad)
		}
	}
}

func TestParseMoneyRejects(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "1e3", "abc", "1.2.3", "NaN"} {
		if _, err := ParseMoney(s); err == nil {
			t.Errorf("ParseMoney(%q) accepted", s)
		}
	}
}

func TestSettingsParseText(t *testing.T) {
	t.Parallel()
	v, err := ParseSettingText(KeySyncAccounts, "off")
	if err != nil || string(v) != "false" {
		t.Fatalf("got %s %v", v, err)
	}
	if _, err := ParseSettingText(KeySyncAccounts, "maybe"); err == nil {
		t.Fatal("accepted maybe")
	}
	if _, err := ParseSettingText("conflicts.account", "whoever"); err == nil {
		t.Fatal("accepted bad enum")
	}
	v, err = ParseSettingText(KeyQuotesAllowedStatuses, "DRAFT, APPROVED")
	if err != nil || string(v) != `["DRAFT","APPROVED"]` {
		t.Fatalf("got %s %v", v, err)
	}
	s := NewSettings([]Setting{{Key: KeySyncEnabled, Value: v}})
	_ = s
	s = NewSettings([]Setting{{Key: KeySyncBalances, Value: []byte("false")}})
	if ok, key := s.SyncAllowed(ObjectBalanceTransaction); ok || key != KeySyncBalances {
		t.Fatalf("SyncAllowed = %v %s", ok, key)
	}
	if ok, _ := s.SyncAllowed(ObjectAccount); !ok {
		t.Fatal("accounts should sync")
	}
}
