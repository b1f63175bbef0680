package faults

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
)

// Format renders an injected error: the Content-Type and the body.
type Format func(status int, code, msg string) (contentType string, body []byte)

// sfDefaults are the codes a Salesforce org answers for a status, and the
// messages it sends with them. Sources:
//   - SERVER_UNAVAILABLE "Server too busy": restforce issue 156 (a user's
//     production log, "SERVER_UNAVAILABLE: Server too busy").
//   - UNABLE_TO_LOCK_ROW "unable to obtain exclusive access to this record":
//     real REST bodies quoted in public client code read
//     `[{"message":"unable to obtain exclusive access to this record or 1
//     records: 0035c…","errorCode":"UNABLE_TO_LOCK_ROW","fields":[]}]`; the
//     record id is unknown here, so the message stops before " or 1 records".
//   - REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded." with 403:
//     SalesforceLabs/OrgCheck issue 181, SwiftlySalesforce issue 29.
//   - UNKNOWN_EXCEPTION "An unexpected error occurred. Please include this
//     ErrorId if you contact support: 243926966-107564 (1182868337)": a
//     recorded 500 from the Data Cloud REST API.
//   - INVALID_SESSION_ID "Session expired or invalid": restforce
//     spec/fixtures/expired_session_response.json.
var sfMessages = map[string]string{
	"SERVER_UNAVAILABLE":     "Server too busy",
	"UNABLE_TO_LOCK_ROW":     "unable to obtain exclusive access to this record",
	"REQUEST_LIMIT_EXCEEDED": "TotalRequests Limit exceeded.",
	"INVALID_SESSION_ID":     "Session expired or invalid",
	"NOT_FOUND":              "The requested resource does not exist",
}

func sfDefaultCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "INVALID_SESSION_ID"
	case http.StatusForbidden:
		return "REQUEST_LIMIT_EXCEEDED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusServiceUnavailable:
		return "SERVER_UNAVAILABLE"
	case http.StatusBadRequest, http.StatusConflict:
		return "UNABLE_TO_LOCK_ROW"
	}
	return "UNKNOWN_EXCEPTION"
}

// SalesforceFormat renders Salesforce's REST error array,
// `[{"message":…,"errorCode":…}]`, with the content type the org sends.
// An empty code is the one Salesforce uses for the status; an empty message
// is the org's own wording for the code.
func SalesforceFormat(status int, code, msg string) (string, []byte) {
	if code == "" {
		code = sfDefaultCode(status)
	}
	if msg == "" {
		msg = sfMessages[code]
	}
	if msg == "" && code == "UNKNOWN_EXCEPTION" {
		// Each real one carries a fresh ErrorId; its shape is what matters.
		msg = fmt.Sprintf("An unexpected error occurred. Please include this ErrorId if you contact support: %d-%d (%d)",
			rand.Int32N(1e9), rand.Int32N(1e6), rand.Int32())
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	var b []byte
	if code == "UNABLE_TO_LOCK_ROW" {
		// A save error: the recorded body carries an empty fields list.
		b, _ = json.Marshal([]sfSaveError{{Message: msg, ErrorCode: code, Fields: []string{}}})
	} else {
		b, _ = json.Marshal([]sfError{{Message: msg, ErrorCode: code}})
	}
	return "application/json;charset=UTF-8", b
}

type sfError struct {
	Message   string `json:"message"`
	ErrorCode string `json:"errorCode"`
}

type sfSaveError struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields"`
}

// BillingFormat renders the billing contract's error,
// `{"error":{"code":…,"message":…}}`. An empty code is derived from the
// status with the codes the billing emulator and billsync's own API use.
func BillingFormat(status int, code, msg string) (string, []byte) {
	if code == "" {
		switch status {
		case http.StatusBadRequest:
			code = "invalid"
		case http.StatusUnauthorized:
			code = "unauthorized"
		case http.StatusForbidden:
			code = "forbidden"
		case http.StatusNotFound:
			code = "not_found"
		case http.StatusConflict:
			code = "version_conflict"
		case http.StatusTooManyRequests:
			code = "rate_limited"
		case http.StatusServiceUnavailable, http.StatusBadGateway, http.StatusGatewayTimeout:
			code = "unavailable"
		default:
			code = "internal"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "injected fault"
		}
	}
	type body struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	b, _ := json.Marshal(map[string]body{"error": {code, msg}})
	return "application/json", b
}

// StripeFormat renders Stripe's error, `{"error":{"type":…,"code":…,
// "message":…}}`: the type is one of the four Stripe's API description
// allows (api_error for 5xx, invalid_request_error otherwise, which is
// also what a 429 carries, with code rate_limit). An empty code is the
// one Stripe uses for the status, where it has one.
func StripeFormat(status int, code, msg string) (string, []byte) {
	typ := "invalid_request_error"
	if status >= 500 {
		typ = "api_error"
	}
	if code == "" {
		switch status {
		case http.StatusNotFound:
			code = "resource_missing"
		case http.StatusTooManyRequests:
			code = "rate_limit"
		case http.StatusConflict:
			code = "lock_timeout"
		}
	}
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "injected fault"
		}
	}
	e := map[string]string{"type": typ, "message": msg}
	if code != "" {
		e["code"] = code
	}
	b, _ := json.Marshal(map[string]any{"error": e})
	return "application/json", b
}

// textFormat is the fallback when New is given no format.
func textFormat(status int, code, msg string) (string, []byte) {
	if msg == "" {
		msg = http.StatusText(status)
	}
	if code != "" {
		msg = code + ": " + msg
	}
	return "text/plain; charset=utf-8", []byte(msg + "\n")
}
