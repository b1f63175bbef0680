package salesforce

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzWrites throws arbitrary bodies at the write endpoints: the emulator
// must answer every one with a status, never panic.
func FuzzWrites(f *testing.F) {
	for _, s := range []string{
		`{"Name":"a","BillingId__c":"x"}`, `{"Amount__c":"1e5"}`, `{"BillingAccount__r":{"BillingId__c":null}}`,
		`{"records":[{"attributes":{"type":"Account"},"Name":"a"},null,1]}`, `[`, `null`, `{"Id":"001"}`,
		`{"StartDate__c":"2026-13-01","Account__c":"001000000000000"}`, `{"BillingAccount__r":[1]}`,
	} {
		f.Add(s)
	}
	e, err := New(Options{})
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := e.IssueToken(SalesUsername)
	h := e.Handler()
	paths := []struct{ method, path string }{
		{"POST", v + "/sobjects/BillingAccount__c"},
		{"POST", v + "/sobjects/BillingBalance__c"},
		{"PATCH", v + "/sobjects/BillingBalance__c/BillingId__c/k"},
		{"POST", v + "/composite/sobjects"},
		{"PATCH", v + "/composite/sobjects/BillingAccount__c/BillingId__c"},
		{"POST", v + "/sobjects/BillingObjectChange__e"},
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, p := range paths {
			req := httptest.NewRequest(p.method, p.path, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code == 0 || w.Code >= http.StatusInternalServerError {
				t.Fatalf("%s %s %q: %d %s", p.method, p.path, body, w.Code, w.Body)
			}
		}
	})
}
