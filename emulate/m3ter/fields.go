package m3ter

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"time"

	"github.com/govalues/decimal"
)

// kind is the JSON type a request field must have.
type kind int

const (
	kStr      kind = iota
	kNum           // a JSON number, kept exactly (json.Number)
	kInt           // an integer
	kBool          // true or false
	kDateTime      // RFC 3339 date-time string
	kDate          // YYYY-MM-DD
	kEmail         // an email address
	kStrList       // array of strings
	kCustom        // customFields: map of string or number
	kAddress       // Address: map of strings
	kObject        // any JSON object (configData)
	kCreds         // M3TER_SIGNED_REQUEST credentials
)

// field is one request field of a resource, as the spec's request schema
// declares it.
type field struct {
	kind     kind
	required bool
	enum     []string // allowed values (of the string, or of each list item)
	minLen   int
	maxLen   int
	positive bool // integers: > 0
}

// fields is a request schema: the fields a write may carry. Others are
// ignored (read-only response fields a client sends back, unknown ones).
type fields map[string]field

// check validates body against fs and returns the fields it may store.
func check(body obj, fs fields) (obj, *apiError) {
	out := obj{}
	for name, f := range fs {
		v, ok := body[name]
		if !ok || v == nil {
			if f.required {
				return nil, badRequest("%s is required", name)
			}
			continue
		}
		if ae := checkValue(name, v, f); ae != nil {
			return nil, ae
		}
		out[name] = v
	}
	return out, nil
}

func checkValue(name string, v any, f field) *apiError {
	bad := func(want string) *apiError { return badRequest("%s must be %s", name, want) }
	switch f.kind {
	case kStr, kDateTime, kDate, kEmail:
		s, ok := v.(string)
		if !ok {
			return bad("a string")
		}
		if len(s) < f.minLen || f.maxLen > 0 && len(s) > f.maxLen {
			return badRequest("%s must be %d to %d characters long", name, f.minLen, f.maxLen)
		}
		if f.enum != nil && !slices.Contains(f.enum, s) {
			return badRequest("%s must be one of %v", name, f.enum)
		}
		switch f.kind {
		case kDateTime:
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				return bad("an ISO-8601 date-time, e.g. 2026-01-31T00:00:00Z")
			}
		case kDate:
			if _, err := time.Parse(time.DateOnly, s); err != nil {
				return bad("a date, e.g. 2026-01-31")
			}
		case kEmail:
			if _, err := mail.ParseAddress(s); err != nil {
				return bad("an email address")
			}
		}
	case kNum:
		n, ok := v.(json.Number)
		if !ok {
			return bad("a number")
		}
		if _, err := decimal.Parse(n.String()); err != nil {
			return badRequest("%s: %v", name, err)
		}
	case kInt:
		n, ok := v.(json.Number)
		if !ok {
			return bad("an integer")
		}
		i, err := n.Int64()
		if err != nil {
			return bad("an integer")
		}
		if f.positive && i <= 0 {
			return bad("greater than 0")
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return bad("true or false")
		}
	case kStrList:
		l, ok := v.([]any)
		if !ok {
			return bad("an array of strings")
		}
		for _, x := range l {
			s, ok := x.(string)
			if !ok {
				return bad("an array of strings")
			}
			if f.enum != nil && !slices.Contains(f.enum, s) {
				return badRequest("%s: %q is not one of %v", name, s, f.enum)
			}
		}
	case kCustom:
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		if len(m) > 100 {
			return badRequest("%s may hold at most 100 fields", name)
		}
		for k, x := range m {
			switch x.(type) {
			case string, json.Number:
			default:
				return badRequest("%s.%s must be a string or a number", name, k)
			}
		}
	case kAddress:
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		for k, x := range m {
			af, known := addressFields[k]
			if !known {
				continue
			}
			if ae := checkValue(name+"."+k, x, af); ae != nil {
				return ae
			}
		}
	case kObject:
		if _, ok := v.(map[string]any); !ok {
			return bad("an object")
		}
	case kCreds:
		m, ok := v.(map[string]any)
		if !ok {
			return bad("an object")
		}
		if _, ae := check(m, signedCredFields); ae != nil {
			return badRequest("%s.%s", name, ae.message)
		}
	default:
		return badRequest("%s: unsupported field", name)
	}
	return nil
}

var addressFields = fields{
	"addressLine1": {kind: kStr, maxLen: 50}, "addressLine2": {kind: kStr, maxLen: 50},
	"addressLine3": {kind: kStr}, "addressLine4": {kind: kStr},
	"locality": {kind: kStr, maxLen: 100}, "region": {kind: kStr, maxLen: 50},
	"postCode": {kind: kStr, maxLen: 20}, "country": {kind: kStr, maxLen: 100},
}

var signedCredFields = fields{
	"type":   {kind: kStr, required: true, enum: []string{"M3TER_SIGNED_REQUEST"}},
	"apiKey": {kind: kStr, required: true, minLen: 1},
	"secret": {kind: kStr, required: true, minLen: 1},
	"empty":  {kind: kBool},
	"name":   {kind: kStr},
}

// known keeps only the keys of m that fs declares (for nested objects
// such as an address, so nothing the spec lacks is stored).
func known(m map[string]any, fs fields) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if _, ok := fs[k]; ok {
			out[k] = v
		}
	}
	return out
}

// timestamp is the spec's date-time, UTC with milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func versionOf(o obj) int64 { return intOf(o["version"]) }

// intOf reads an integer whichever way it was stored (int64 live,
// json.Number after a reload or from a request).
func intOf(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case int:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	case float64:
		return int64(n)
	}
	return 0
}

func strOf(v any) string { s, _ := v.(string); return s }

// decOf reads an exact decimal from a stored number.
func decOf(v any) (decimal.Decimal, error) {
	switch n := v.(type) {
	case json.Number:
		return decimal.Parse(n.String())
	case string:
		return decimal.Parse(n)
	case int64:
		return decimal.New(n, 0)
	case nil:
		return decimal.Zero, nil
	}
	return decimal.Zero, fmt.Errorf("not a number: %v (%T)", v, v)
}
