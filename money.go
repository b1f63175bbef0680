package billsync

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/govalues/decimal"
)

// Money is an exact decimal amount. It keeps the scale it was written with
// ("12.50" stays "12.50") and is never converted through float64. Its JSON
// form is a decimal string; Salesforce wants a JSON number, which the
// Salesforce side writes with NumberLiteral.
type Money struct {
	d decimal.Decimal
}

// ParseMoney parses a decimal string such as "12.50" or "-3". It refuses
// exponents, blanks and anything that is not a plain decimal.
func ParseMoney(s string) (Money, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Money{}, Errorf(EINVALID, "money: empty amount")
	}
	if strings.ContainsAny(s, "eE") {
		return Money{}, Errorf(EINVALID, "money: %q: exponent notation is not accepted", s)
	}
	d, err := decimal.Parse(s)
	if err != nil {
		return Money{}, Errorf(EINVALID, "money: %q is not a decimal amount", s)
	}
	return Money{d: d}, nil
}

// ParseNumber reads a JSON number as Salesforce writes it, which may use
// exponent notation for large or small values ("1.0E7", "2.5E-4"). The
// exponent is applied by moving the decimal point, digit for digit, so the
// value is exact. Billing input goes through the stricter ParseMoney.
func ParseNumber(s string) (Money, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return ParseMoney(s)
	}
	mant, expStr := s[:i], s[i+1:]
	exp, err := strconv.Atoi(expStr)
	if err != nil || exp > 60 || exp < -60 || mant == "" {
		return Money{}, Errorf(EINVALID, "number %q is out of range or malformed", s)
	}
	sign := ""
	if mant[0] == '-' || mant[0] == '+' {
		if mant[0] == '-' {
			sign = "-"
		}
		mant = mant[1:]
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return Money{}, Errorf(EINVALID, "number %q is malformed", s)
	}
	point := len(intPart) + exp // position of the decimal point in digits
	switch {
	case point <= 0:
		digits = "0." + strings.Repeat("0", -point) + digits
	case point >= len(digits):
		digits += strings.Repeat("0", point-len(digits))
	default:
		digits = digits[:point] + "." + digits[point:]
	}
	m, err := ParseMoney(sign + digits)
	if err != nil {
		return Money{}, err
	}
	return Money{d: m.d.Trim(0)}, nil
}

// MustMoney is ParseMoney for constants in tests and seeds; it panics on a
// literal that is not a decimal, which is a programming error.
func MustMoney(s string) Money {
	m, err := ParseMoney(s)
	if err != nil {
		panic(err)
	}
	return m
}

// String renders the amount with the scale it carries.
func (m Money) String() string { return m.d.String() }

// IsZero reports whether the amount is zero.
func (m Money) IsZero() bool { return m.d.IsZero() }

// Scale is the number of digits after the point.
func (m Money) Scale() int { return m.d.Scale() }

// Round rounds half away from zero (Salesforce's rounding for currency and
// number fields) to scale digits. It reports whether value was lost, that
// is whether the rounded amount differs numerically from the original.
func (m Money) Round(scale int) (Money, bool) {
	if scale < 0 {
		scale = 0
	}
	if m.d.Scale() <= scale {
		return m, false
	}
	// govalues rounds half to even; Salesforce rounds half away from zero.
	r := m.d.Trunc(scale)
	rest, err := m.d.Sub(r)
	if err == nil {
		half := decimal.MustNew(5, scale+1)
		if rest.CmpAbs(half) >= 0 {
			ulp := decimal.MustNew(1, scale)
			if m.d.IsNeg() {
				ulp = ulp.Neg()
			}
			if up, err := r.Add(ulp); err == nil {
				r = up
			}
		}
	}
	return Money{d: r}, r.Cmp(m.d) != 0
}

// Pad returns the amount with at least scale digits after the point
// ("12.5" padded to 2 is "12.50"); it never removes digits.
func (m Money) Pad(scale int) Money {
	if m.d.Scale() >= scale {
		return m
	}
	return Money{d: m.d.Pad(scale)}
}

// Cmp compares numerically: "12.50" equals "12.5".
func (m Money) Cmp(o Money) int { return m.d.Cmp(o.d) }

// Equal reports numeric equality.
func (m Money) Equal(o Money) bool { return m.d.Cmp(o.d) == 0 }

// Add returns m+o; it errors on overflow instead of panicking.
func (m Money) Add(o Money) (Money, error) {
	d, err := m.d.Add(o.d)
	if err != nil {
		return Money{}, Errorf(EINVALID, "money: %v", err)
	}
	return Money{d: d}, nil
}

// Canonical is the numeric form used to compare values across systems:
// trailing zeros removed, so "12.50" and "12.5" compare equal as strings.
func (m Money) Canonical() string { return m.d.Trim(0).String() }

// NumberLiteral is the JSON number Salesforce receives for the amount.
func (m Money) NumberLiteral() json.Number { return json.Number(m.d.String()) }

// MarshalJSON writes the amount as a decimal string (SPEC §2: money is a
// decimal string on the billing side, never a float).
func (m Money) MarshalJSON() ([]byte, error) { return json.Marshal(m.d.String()) }

// UnmarshalJSON accepts a decimal string, and also a bare JSON number, read
// digit for digit (never through float64), because Salesforce sends numbers.
func (m *Money) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*m = Money{}
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
	}
	v, err := ParseMoney(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// Date is a calendar date without a time of day or zone, written
// "2006-01-02" on both sides.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate reads "YYYY-MM-DD".
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, Errorf(EINVALID, "date %q: want YYYY-MM-DD", s)
	}
	return DateOf(t), nil
}

// DateOf is the UTC calendar date of t.
func DateOf(t time.Time) Date {
	y, mo, d := t.UTC().Date()
	return Date{y, mo, d}
}

// IsZero reports whether the date is unset.
func (d Date) IsZero() bool { return d == Date{} }

func (d Date) String() string {
	if d.IsZero() {
		return ""
	}
	return fmt.Sprintf("%04d-%02d-%02d", d.Year, int(d.Month), d.Day)
}

// MarshalJSON writes "YYYY-MM-DD", or null when unset.
func (d Date) MarshalJSON() ([]byte, error) {
	if d.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(d.String())
}

// UnmarshalJSON reads "YYYY-MM-DD" or null.
func (d *Date) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*d = Date{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(EINVALID, "date: want a string: %v", err)
	}
	if s == "" {
		*d = Date{}
		return nil
	}
	v, err := ParseDate(s)
	if err != nil {
		return err
	}
	*d = v
	return nil
}
