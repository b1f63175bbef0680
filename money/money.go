// Package money converts between billsync.Money (an exact decimal) and the
// integer minor units billing platforms such as Stripe send and expect
// ("1000" for 10.00 USD, "500" for 500 JPY, "5124" for 5.124 KWD), through
// a table of currency exponents. The conversion is exact both ways, by
// moving the decimal point digit for digit; nothing goes through float64,
// and an amount a currency cannot hold is refused, never rounded.
package money

import (
	"strconv"
	"strings"

	"github.com/billsync/billsync"
)

// Exponents is a currency-exponent table: how many decimal digits one
// minor unit of a currency is, and, where a platform demands it, the
// multiple of minor units an amount it is sent must be.
type Exponents struct {
	name   string
	except map[string]int   // exponent, where not 2
	none   map[string]bool  // codes without a minor unit at all
	step   map[string]int64 // amounts sent must be a multiple of this many minor units
}

// isoExcept are the active ISO 4217 currencies whose minor unit is not a
// hundredth; every other currency code has an exponent of 2.
var isoExcept = map[string]int{
	// Zero-decimal.
	"BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
	"RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
	// Three-decimal.
	"BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
	// Four-decimal units of account.
	"CLF": 4, "UYW": 4,
}

// isoNone are ISO 4217 codes with no minor unit (precious metals, SDRs,
// bond-market units, the testing and no-currency codes): an amount in them
// has no minor-unit form.
var isoNone = map[string]bool{
	"XAG": true, "XAU": true, "XPD": true, "XPT": true, "XDR": true, "XSU": true, "XUA": true,
	"XBA": true, "XBB": true, "XBC": true, "XBD": true, "XTS": true, "XXX": true,
}

// ISO4217 is the exponent table of ISO 4217, for platforms that follow it
// (m3ter, for one, sends decimals and needs no table; this is for those
// that send minor units as the standard defines them).
var ISO4217 = Exponents{name: "ISO 4217", except: isoExcept, none: isoNone}

// Stripe is the exponent table of Stripe's API, which departs from ISO
// 4217 for two currencies: the Malagasy ariary is zero-decimal in Stripe
// (ISO: 2), and the Icelandic króna stays two-decimal in Stripe's API
// (ISO: 0) while Stripe refuses fractional krónur, so an ISK amount sent
// must be a whole number of krónur (a multiple of 100). Stripe's other
// special cases (HUF and TWD payouts in whole units; the last digit of a
// three-decimal payment amount being 0) concern payouts and payments,
// which billsync does not make.
var Stripe = Exponents{name: "Stripe", except: withExcept(isoExcept, map[string]int{"MGA": 0, "ISK": 2}), none: isoNone,
	step: map[string]int64{"ISK": 100}}

func withExcept(base, over map[string]int) map[string]int {
	m := make(map[string]int, len(base)+len(over))
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		if v == 2 {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

// Exponent is the number of decimal digits of currency's minor unit. The
// code is read case-insensitively (Stripe writes "usd"); one that is not
// three letters, or has no minor unit, is refused.
func (x Exponents) Exponent(currency string) (int, error) {
	code, err := normalize(currency)
	if err != nil {
		return 0, err
	}
	if x.none[code] {
		return 0, billsync.Errorf(billsync.EINVALID, "currency %s has no minor unit", code)
	}
	if e, ok := x.except[code]; ok {
		return e, nil
	}
	return 2, nil
}

func normalize(currency string) (string, error) {
	code := strings.ToUpper(strings.TrimSpace(currency))
	if len(code) != 3 {
		return "", billsync.Errorf(billsync.EINVALID, "currency %q is not a three-letter ISO 4217 code", currency)
	}
	for i := 0; i < 3; i++ {
		if code[i] < 'A' || code[i] > 'Z' {
			return "", billsync.Errorf(billsync.EINVALID, "currency %q is not a three-letter ISO 4217 code", currency)
		}
	}
	return code, nil
}

// FromMinor is the decimal amount of minor units of currency, written
// with the currency's full scale (1000 USD → "10.00", 500 JPY → "500").
func (x Exponents) FromMinor(minor int64, currency string) (billsync.Money, error) {
	e, err := x.Exponent(currency)
	if err != nil {
		return billsync.Money{}, err
	}
	digits := strconv.FormatInt(minor, 10)
	sign := ""
	if digits[0] == '-' {
		sign, digits = "-", digits[1:]
	}
	if e == 0 {
		return billsync.ParseMoney(sign + digits)
	}
	if len(digits) <= e {
		digits = strings.Repeat("0", e-len(digits)+1) + digits
	}
	cut := len(digits) - e
	return billsync.ParseMoney(sign + digits[:cut] + "." + digits[cut:])
}

// ToMinor is amount m of currency in minor units. An amount finer than
// the minor unit, not a multiple of what the platform accepts, or beyond
// an int64 of minor units is refused: billsync never rounds money.
func (x Exponents) ToMinor(m billsync.Money, currency string) (int64, error) {
	e, err := x.Exponent(currency)
	if err != nil {
		return 0, err
	}
	code, _ := normalize(currency)
	s := m.Canonical()
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > e {
		return 0, billsync.Errorf(billsync.EINVALID, "%s %s has more decimals than the currency's minor unit (%d) holds", m, code, e)
	}
	minor, err := strconv.ParseInt(sign+whole+frac+strings.Repeat("0", e-len(frac)), 10, 64)
	if err != nil {
		return 0, billsync.Errorf(billsync.EINVALID, "%s %s is too large to send in minor units", m, code)
	}
	if step := x.step[code]; step > 1 && minor%step != 0 {
		return 0, billsync.Errorf(billsync.EINVALID, "%s %s: %s accepts only multiples of %d minor units of %s", m, code, x.name, step, code)
	}
	return minor, nil
}
