package money_test

import (
	"math"
	"strconv"
	"testing"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/money"
)

func TestFromMinor(t *testing.T) {
	for _, tc := range []struct {
		table    money.Exponents
		minor    int64
		currency string
		want     string
	}{
		{money.Stripe, 1000, "usd", "10.00"},
		{money.Stripe, -1234, "USD", "-12.34"}, // a customer credit
		{money.Stripe, 5, "eur", "0.05"},
		{money.Stripe, -5, "eur", "-0.05"},
		{money.Stripe, 0, "gbp", "0.00"},
		{money.Stripe, 500, "jpy", "500"},
		{money.Stripe, -500, "krw", "-500"},
		{money.Stripe, 5124, "kwd", "5.124"},
		{money.Stripe, 7, "bhd", "0.007"},
		{money.Stripe, 1, "omr", "0.001"},
		{money.Stripe, 12340, "tnd", "12.340"},
		{money.Stripe, 1000, "jod", "1.000"},
		{money.Stripe, 500, "isk", "5.00"}, // two-decimal in Stripe's API
		{money.ISO4217, 5, "ISK", "5"},     // zero-decimal in ISO 4217
		{money.Stripe, 500, "mga", "500"},  // zero-decimal in Stripe
		{money.ISO4217, 500, "MGA", "5.00"},
		{money.ISO4217, 12345, "CLF", "1.2345"},
		{money.Stripe, math.MaxInt64, "usd", "92233720368547758.07"},
		{money.Stripe, math.MinInt64, "usd", "-92233720368547758.08"},
	} {
		got, err := tc.table.FromMinor(tc.minor, tc.currency)
		if err != nil || got.String() != tc.want {
			t.Errorf("%d %s: %v, %v; want %s", tc.minor, tc.currency, got, err, tc.want)
		}
	}
}

func TestToMinor(t *testing.T) {
	for _, tc := range []struct {
		table    money.Exponents
		amount   string
		currency string
		want     int64
	}{
		{money.Stripe, "10", "usd", 1000},
		{money.Stripe, "10.5", "usd", 1050},
		{money.Stripe, "-12.34", "usd", -1234},
		{money.Stripe, "10.000", "usd", 1000}, // trailing zeros are not finer than a cent
		{money.Stripe, "500", "jpy", 500},
		{money.Stripe, "5.124", "kwd", 5124},
		{money.Stripe, "5", "isk", 500},
		{money.ISO4217, "5", "isk", 5},
		{money.Stripe, "92233720368547758.07", "usd", math.MaxInt64},
	} {
		got, err := tc.table.ToMinor(billsync.MustMoney(tc.amount), tc.currency)
		if err != nil || got != tc.want {
			t.Errorf("%s %s: %d, %v; want %d", tc.amount, tc.currency, got, err, tc.want)
		}
	}
	for _, tc := range []struct {
		table    money.Exponents
		amount   string
		currency string
	}{
		{money.Stripe, "10.005", "usd"},               // finer than a cent
		{money.Stripe, "1.5", "jpy"},                  // finer than a yen
		{money.Stripe, "5.1245", "kwd"},               // finer than a fils
		{money.Stripe, "5.50", "isk"},                 // Stripe takes whole krónur only
		{money.Stripe, "92233720368547758.08", "usd"}, // beyond an int64 of cents
		{money.Stripe, "1", "xau"},                    // no minor unit
		{money.Stripe, "1", "us"},
		{money.Stripe, "1", "u$d"},
	} {
		if got, err := tc.table.ToMinor(billsync.MustMoney(tc.amount), tc.currency); err == nil || billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("%s %s: %d, %v; want refused", tc.amount, tc.currency, got, err)
		}
	}
}

var fuzzCurrencies = []string{"usd", "jpy", "kwd", "isk", "mga", "clf", "bhd", "eur"}

// Every int64 of minor units comes back the same through the decimal, in
// every table and exponent (a multiple-of-step rule aside).
func FuzzMinorRoundTrip(f *testing.F) {
	for _, seed := range []int64{0, 1, -1, 99, 100, 5124, math.MaxInt64, math.MinInt64} {
		f.Add(seed, uint8(0))
	}
	f.Fuzz(func(t *testing.T, minor int64, which uint8) {
		cur := fuzzCurrencies[int(which)%len(fuzzCurrencies)]
		for name, table := range map[string]money.Exponents{"stripe": money.Stripe, "iso": money.ISO4217} {
			m, err := table.FromMinor(minor, cur)
			if err != nil {
				t.Fatalf("%d %s: %v", minor, cur, err)
			}
			back, err := table.ToMinor(m, cur)
			if cur == "isk" && name == "stripe" && minor%100 != 0 {
				if err == nil {
					t.Fatalf("%d isk accepted by Stripe", minor)
				}
				continue
			}
			if err != nil || back != minor {
				t.Fatalf("%d %s → %s → %d, %v", minor, cur, m, back, err)
			}
		}
	})
}

// Every decimal a currency holds comes back equal through minor units;
// every other is refused, never rounded.
func FuzzDecimalRoundTrip(f *testing.F) {
	for _, seed := range []string{"0", "10.5", "-12.34", "5.124", "0.001", "1e3", "99999999999999999999"} {
		f.Add(seed, uint8(0))
	}
	f.Fuzz(func(t *testing.T, s string, which uint8) {
		m, err := billsync.ParseMoney(s)
		if err != nil {
			return
		}
		cur := fuzzCurrencies[int(which)%len(fuzzCurrencies)]
		exp, _ := money.ISO4217.Exponent(cur)
		minor, err := money.ISO4217.ToMinor(m, cur)
		if err != nil {
			if r, lost := m.Round(exp); !lost && fitsInt64(t, r, exp) {
				t.Fatalf("%s %s refused though it fits: %v", s, cur, err)
			}
			return
		}
		back, err := money.ISO4217.FromMinor(minor, cur)
		if err != nil || !back.Equal(m) {
			t.Fatalf("%s %s → %d → %s, %v", s, cur, minor, back, err)
		}
	})
}

// fitsInt64 reports whether a decimal of at most exp decimals is within
// an int64 of minor units, by its digits alone.
func fitsInt64(t *testing.T, m billsync.Money, exp int) bool {
	t.Helper()
	digits := m.Pad(exp).String()
	neg := digits[0] == '-'
	if neg {
		digits = digits[1:]
	}
	whole, frac := digits, ""
	for i := range digits {
		if digits[i] == '.' {
			whole, frac = digits[:i], digits[i+1:]
		}
	}
	for len(frac) < exp {
		frac += "0"
	}
	if neg {
		whole = "-" + whole
	}
	_, err := strconv.ParseInt(whole+frac, 10, 64)
	return err == nil
}
