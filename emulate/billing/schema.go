package billing

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// apiError is a REST failure with the body {"error":{"code","message","field"}}.
type apiError struct {
	status  int
	code    string
	message string
	field   string
}

func (e *apiError) Error() string {
	if e.field != "" {
		return fmt.Sprintf("%s: %s (field %s)", e.code, e.message, e.field)
	}
	return e.code + ": " + e.message
}

// appError converts to the root error type for the Go test helpers.
func (e *apiError) appError() *billsync.Error {
	code := billsync.EINVALID
	switch e.status {
	case http.StatusNotFound:
		code = billsync.ENOTFOUND
	case http.StatusConflict:
		code = billsync.ECONFLICT
	case http.StatusUnauthorized:
		code = billsync.EUNAUTHORIZED
	}
	msg := e.message
	if e.field != "" {
		msg = e.field + ": " + msg
	}
	return &billsync.Error{Code: code, Message: msg}
}

func invalid(field, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid", field: field, message: fmt.Sprintf(format, args...)}
}

func notFound(t billsync.ObjectType, id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "not_found", message: fmt.Sprintf("no %s with id %q", t, id)}
}

func conflict(code, format string, args ...any) *apiError {
	return &apiError{status: http.StatusConflict, code: code, message: fmt.Sprintf(format, args...)}
}

type fieldKind int

const (
	kString fieldKind = iota
	kMoney
	kDate
	kTime
	kBool
	kInt
	kObject
	kOfferings
)

var common = map[string]fieldKind{
	"id": kString, "version": kInt, "createdAt": kTime, "updatedAt": kTime, "customFields": kObject,
}

func withCommon(m map[string]fieldKind) map[string]fieldKind {
	for k, v := range common {
		m[k] = v
	}
	return m
}

var schemas = map[billsync.ObjectType]map[string]fieldKind{
	billsync.ObjectAccount: withCommon(map[string]fieldKind{
		"code": kString, "name": kString, "emailAddress": kString, "currency": kString, "crmAccountId": kString,
	}),
	billsync.ObjectBalance: withCommon(map[string]fieldKind{
		"accountId": kString, "code": kString, "name": kString, "description": kString, "amount": kMoney,
		"currency": kString, "startDate": kDate, "endDate": kDate,
	}),
	billsync.ObjectBalanceTransaction: withCommon(map[string]fieldKind{
		"balanceId": kString, "accountId": kString, "amount": kMoney, "description": kString, "appliedDate": kDate,
	}),
	billsync.ObjectQuote: withCommon(map[string]fieldKind{
		"accountId": kString, "description": kString, "status": kString, "type": kString, "originalQuoteId": kString,
		"crmOpportunityId": kString, "currency": kString, "manualRenewal": kBool, "startDate": kDate, "endDate": kDate,
		"expiresAt": kTime, "offerings": kOfferings,
	}),
}

var offeringSchema = map[string]fieldKind{"id": kString, "name": kString, "items": kObject /* checked by hand */}

var itemSchema = map[string]fieldKind{
	"id": kString, "productCode": kString, "productName": kString, "productType": kString,
	"quantity": kMoney, "unitPrice": kMoney, "amendmentStatus": kString, "customFields": kObject,
}

// checkShape refuses unknown fields and values of the wrong JSON type, so
// that every error names its field (the typed decode that follows would not).
func checkShape(schema map[string]fieldKind, obj map[string]any, prefix string) *apiError {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		name := prefix + k
		kind, ok := schema[k]
		if !ok {
			return invalid(name, "unknown field %q", name)
		}
		if v == nil {
			continue // null clears an optional field; required ones are checked later
		}
		if err := checkValue(kind, v, name); err != nil {
			return err
		}
	}
	return nil
}

func checkValue(kind fieldKind, v any, name string) *apiError {
	switch kind {
	case kString:
		if _, ok := v.(string); !ok {
			return invalid(name, "%s must be a string", name)
		}
	case kMoney:
		s, ok := v.(string)
		if !ok {
			if _, isNum := v.(json.Number); isNum {
				return invalid(name, "%s must be a decimal string such as \"12.50\", not a JSON number (money never passes through floating point)", name)
			}
			return invalid(name, "%s must be a decimal string", name)
		}
		if _, err := billsync.ParseMoney(s); err != nil {
			return invalid(name, "%s: %s", name, billsync.ErrorMessage(err))
		}
	case kDate:
		s, ok := v.(string)
		if !ok {
			return invalid(name, "%s must be a date string YYYY-MM-DD", name)
		}
		if s != "" {
			if _, err := billsync.ParseDate(s); err != nil {
				return invalid(name, "%s: %s", name, billsync.ErrorMessage(err))
			}
		}
	case kTime:
		s, ok := v.(string)
		if !ok {
			return invalid(name, "%s must be an RFC 3339 timestamp string", name)
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return invalid(name, "%s: %q is not an RFC 3339 timestamp", name, s)
		}
	case kBool:
		if _, ok := v.(bool); !ok {
			return invalid(name, "%s must be true or false", name)
		}
	case kInt:
		n, ok := v.(json.Number)
		if !ok {
			return invalid(name, "%s must be an integer", name)
		}
		if _, err := strconv.ParseInt(n.String(), 10, 64); err != nil {
			return invalid(name, "%s must be an integer, got %s", name, n)
		}
	case kObject:
		if _, ok := v.(map[string]any); !ok {
			return invalid(name, "%s must be a JSON object", name)
		}
	case kOfferings:
		offs, ok := v.([]any)
		if !ok {
			return invalid(name, "%s must be an array", name)
		}
		for i, o := range offs {
			op := fmt.Sprintf("%s[%d]", name, i)
			om, ok := o.(map[string]any)
			if !ok {
				return invalid(op, "%s must be an object", op)
			}
			if err := checkShape(offeringSchema, withoutKey(om, "items"), op+"."); err != nil {
				return err
			}
			if items, present := om["items"]; present && items != nil {
				arr, ok := items.([]any)
				if !ok {
					return invalid(op+".items", "%s.items must be an array", op)
				}
				for j, it := range arr {
					ip := fmt.Sprintf("%s.items[%d]", op, j)
					im, ok := it.(map[string]any)
					if !ok {
						return invalid(ip, "%s must be an object", ip)
					}
					if err := checkShape(itemSchema, im, ip+"."); err != nil {
						return err
					}
					for _, req := range []string{"productCode", "quantity", "unitPrice"} {
						if s, _ := im[req].(string); strings.TrimSpace(s) == "" {
							return invalid(ip+"."+req, "%s.%s is required", ip, req)
						}
					}
				}
			}
		}
	}
	return nil
}

func withoutKey(m map[string]any, key string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// required reports the first of fields that is absent, null or blank.
func required(obj map[string]any, fields ...string) *apiError {
	for _, f := range fields {
		if s, _ := obj[f].(string); strings.TrimSpace(s) == "" {
			return invalid(f, "%s is required", f)
		}
	}
	return nil
}
