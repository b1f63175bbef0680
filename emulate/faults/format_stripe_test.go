package faults

import (
	"encoding/json"
	"testing"
)

// An injected Stripe error has the shape Stripe's API description gives
// (error.type one of its four values) and the codes stripe clients act on.
func TestStripeFormat(t *testing.T) {
	for _, tc := range []struct {
		status             int
		code, typ, wantCde string
	}{
		{429, "", "invalid_request_error", "rate_limit"},
		{404, "", "invalid_request_error", "resource_missing"},
		{503, "", "api_error", ""},
		{400, "parameter_unknown", "invalid_request_error", "parameter_unknown"},
	} {
		ct, b := StripeFormat(tc.status, tc.code, "")
		var body struct {
			Error map[string]string `json:"error"`
		}
		if err := json.Unmarshal(b, &body); err != nil || ct != "application/json" {
			t.Fatalf("%d: %s %s %v", tc.status, ct, b, err)
		}
		if body.Error["type"] != tc.typ || body.Error["code"] != tc.wantCde || body.Error["message"] == "" {
			t.Errorf("%d: %s", tc.status, b)
		}
	}
}
