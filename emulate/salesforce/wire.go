package salesforce

import (
	"encoding/json"
	"strconv"
	"strings"
)

// wireValue is a stored value as the REST API writes it. Salesforce
// serialises number fields as Java doubles: "10.0", "12.35", and from ten
// million up in exponent form ("1.0E7"); clients must cope with both, so
// the emulator writes them the same way. Integer fields stay integers.
func wireValue(f *fieldDef, v any) any {
	n, ok := v.(json.Number)
	if !ok || f == nil {
		return v
	}
	switch f.Type {
	case "currency", "double", "percent":
		return json.Number(javaDouble(n.String()))
	}
	return v
}

// javaDouble renders a plain decimal string as Java's Double.toString
// would: at least one fractional digit, and computerized scientific
// notation below 10^-3 and from 10^7.
func javaDouble(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	intPart, frac, _ := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	sign := ""
	if neg {
		sign = "-"
	}
	if intPart == "" && frac == "" {
		return "0.0"
	}
	digits := intPart + frac
	// exponent of the first significant digit
	var exp int
	if intPart != "" {
		exp = len(intPart) - 1
	} else {
		lead := len(frac) - len(strings.TrimLeft(frac, "0"))
		exp = -(lead + 1)
		digits = strings.TrimLeft(frac, "0")
	}
	if exp >= -3 && exp < 7 {
		if intPart == "" {
			intPart = "0"
		}
		if frac == "" {
			frac = "0"
		}
		return sign + intPart + "." + frac
	}
	digits = strings.TrimRight(digits, "0")
	mant := digits[:1] + "."
	if len(digits) > 1 {
		mant += digits[1:]
	} else {
		mant += "0"
	}
	return sign + mant + "E" + strconv.Itoa(exp)
}
