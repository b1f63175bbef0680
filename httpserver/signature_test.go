package httpserver

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
)

// hmacVerifier checks a Standard Webhooks signature the way SPEC §5.2
// describes it, written out by hand so the test does not trust the code
// under test (billingapi's verifier) to define the format.
type hmacVerifier struct {
	contractBodies
	key []byte
	now func() time.Time
}

func newHMACVerifier(t *testing.T, secret string, now func() time.Time) hmacVerifier {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	return hmacVerifier{key: key, now: now}
}

func (v hmacVerifier) sign(id, ts string, body []byte) string {
	mac := hmac.New(sha256.New, v.key)
	mac.Write([]byte(id + "." + ts + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (v hmacVerifier) Verify(h http.Header, body []byte) (string, error) {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "bad webhook-timestamp")
	}
	if d := v.now().Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook-timestamp too far from now")
	}
	want := v.sign(id, ts, body)
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return id, nil
		}
	}
	return "", billsync.Errorf(billsync.EUNAUTHORIZED, "no matching signature")
}

func TestWebhookStandardSignature(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	clock := func() time.Time { return testNow }
	v := newHMACVerifier(t, secret, clock)
	h := newHarness(t, func(c *Config) { c.Webhooks = v })

	body := []byte(`{"type":"balance.created","timestamp":"2026-03-04T11:59:30Z","data":{"id":"bal_1","accountId":"acc_7","amount":"12.50"}}`)
	ts := strconv.FormatInt(testNow.Unix(), 10)
	hdr := func(id, ts, sig string) http.Header {
		return http.Header{"Webhook-Id": {id}, "Webhook-Timestamp": {ts}, "Webhook-Signature": {sig}}
	}

	stale := strconv.FormatInt(testNow.Add(-10*time.Minute).Unix(), 10)
	tampered := []byte(strings.Replace(string(body), "12.50", "1250.00", 1))
	for name, c := range map[string]struct {
		hdr  http.Header
		body []byte
	}{
		"tampered body":   {hdr("msg_1", ts, v.sign("msg_1", ts, body)), tampered},
		"other id":        {hdr("msg_2", ts, v.sign("msg_1", ts, body)), body},
		"stale timestamp": {hdr("msg_1", stale, v.sign("msg_1", stale, body)), body},
		"unsigned":        {http.Header{"Webhook-Id": {"msg_1"}}, body},
	} {
		res := h.do("POST", "/webhooks/billing", "", c.body, c.hdr)
		if res.status != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401: %s", name, res.status, res.body)
		}
	}
	if len(h.store.Queued()) != 0 {
		t.Fatal("a refused webhook was queued")
	}

	// A bogus signature beside the real one (key rotation) still passes.
	sig := "v1,AAAA " + v.sign("msg_1", ts, body)
	res := h.do("POST", "/webhooks/billing", "", body, hdr("msg_1", ts, sig))
	if res.status != http.StatusOK {
		t.Fatalf("signed webhook: %d %s", res.status, res.body)
	}
	q := h.store.Queued()
	if len(q) != 1 || q[0].EventID != "webhook:msg_1" || q[0].Partition != "account:acc_7" || q[0].Object != billsync.ObjectBalance {
		t.Fatalf("queued %+v", q)
	}
	if !strings.Contains(string(q[0].Payload), `"amount":"12.50"`) {
		t.Errorf("payload lost the decimal string: %s", q[0].Payload)
	}
}
