package httpserver

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/billsync/billsync/mock"
)

// FuzzWebhook feeds arbitrary verified bodies through the handler: every
// answer must be 200 or 400 in the API's shape, never a panic or a 5xx.
func FuzzWebhook(f *testing.F) {
	for _, s := range []string{
		accountUpdated,
		`{"type":"balance_transaction.created","data":{"id":"t1","accountId":"a1","amount":"1.00"}}`,
		`{"type":"quote.deleted","timestamp":"bad","data":{"id":"q"}}`,
		`{"type":".","data":[]}`, `null`, `[]`, `{"type":"account.updated","data":{"id":1e999}}`,
	} {
		f.Add([]byte(s))
	}
	st := &mock.Store{Now: func() time.Time { return testNow }}
	srv, err := New(Config{Webhooks: fakeVerifier{}, Queue: st, Settings: st, Logs: st, DeadLetters: st, Conflicts: st,
		Clock: func() time.Time { return testNow }})
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest("POST", "/webhooks/billing", bytes.NewReader(body))
		req.Header.Set("X-Test-Signature", "good")
		req.Header.Set("webhook-id", "fuzz")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
		if !bytes.HasPrefix(rec.Body.Bytes(), []byte("{")) {
			t.Fatalf("answer not JSON: %s", rec.Body)
		}
	})
}
