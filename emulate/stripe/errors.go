package stripe

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// apiError is a Stripe error: {"error":{"type","code","message","param",
// "doc_url","request_log_url"}}.
type apiError struct {
	status  int
	typ     string // invalid_request_error, idempotency_error, api_error
	code    string // resource_missing, parameter_unknown, ... ("" = none)
	message string
	param   string
}

func (e *apiError) Error() string { return e.message }

func invalidParam(param, format string, args ...any) *apiError {
	code := "parameter_invalid_string"
	if strings.HasPrefix(format, "Received unknown parameter") {
		code = "parameter_unknown"
	} else if strings.HasPrefix(format, "Invalid integer") {
		code = "parameter_invalid_integer"
	} else if strings.HasPrefix(format, "Missing required param") {
		code = "parameter_missing"
	}
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: code, param: param, message: fmt.Sprintf(format, args...)}
}

func missing(param string) *apiError {
	return invalidParam(param, "Missing required param: %s.", param)
}

// noSuch is Stripe's 404 for an unknown id: "No such customer: 'cus_x'".
func noSuch(what, id, param string) *apiError {
	return &apiError{status: http.StatusNotFound, typ: "invalid_request_error", code: "resource_missing", param: param,
		message: fmt.Sprintf("No such %s: '%s'", what, id)}
}

// badState is a request the object's state refuses (a quote not in draft).
func badState(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "quote_unexpected_state", message: fmt.Sprintf(format, args...)}
}

func (e *apiError) body(reqID string) map[string]any {
	m := map[string]any{"type": e.typ, "message": e.message}
	if e.code != "" {
		m["code"] = e.code
		m["doc_url"] = "https://stripe.com/docs/error-codes/" + strings.ReplaceAll(e.code, "_", "-")
	}
	if e.param != "" {
		m["param"] = e.param
	}
	if reqID != "" {
		m["request_log_url"] = "https://dashboard.stripe.com/test/logs/" + reqID
	}
	return map[string]any{"error": m}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"type":"api_error","message":"cannot encode the response"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

const idChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newID makes a Stripe-looking id: the prefix and n random letters/digits.
func newID(prefix string, n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idChars[int(b[i])%len(idChars)]
	}
	return prefix + string(b)
}
