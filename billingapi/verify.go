package billingapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
)

// Tolerance is how far a webhook-timestamp may be from now, either way.
const Tolerance = 5 * time.Minute

const secretPrefix = "whsec_"

// Verifier checks Standard Webhooks signatures (SPEC §5.2).
//
// The standard-webhooks Go library signs the same way but reads time.Now
// directly, so it cannot be tested at the tolerance edges; verification is
// therefore done here, byte-compatible with its Sign.
type Verifier struct {
	key   []byte
	clock func() time.Time
}

// NewVerifier takes the secret as written, "whsec_" + base64; the HMAC key
// is the decoded bytes. clock nil means time.Now.
func NewVerifier(secret string, clock func() time.Time) (*Verifier, error) {
	if !strings.HasPrefix(secret, secretPrefix) {
		return nil, billsync.Errorf(billsync.EINVALID, `webhook secret must start with "whsec_"`)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, billsync.Errorf(billsync.EINVALID, `webhook secret: the part after "whsec_" is not base64: %v`, err)
	}
	if len(key) == 0 {
		return nil, billsync.Errorf(billsync.EINVALID, "webhook secret is empty")
	}
	if clock == nil {
		clock = time.Now
	}
	return &Verifier{key: key, clock: clock}, nil
}

// Verify checks the webhook-id, webhook-timestamp and webhook-signature
// headers against body and returns the webhook id. Every failure is an
// EUNAUTHORIZED *billsync.Error saying what was wrong.
func (v *Verifier) Verify(h http.Header, body []byte) (string, error) {
	id := h.Get("webhook-id")
	tsHeader := h.Get("webhook-timestamp")
	sigHeader := h.Get("webhook-signature")
	var missing []string
	for _, kv := range [][2]string{{"webhook-id", id}, {"webhook-timestamp", tsHeader}, {"webhook-signature", sigHeader}} {
		if kv[1] == "" {
			missing = append(missing, kv[0])
		}
	}
	if len(missing) > 0 {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: missing header(s) %s", strings.Join(missing, ", "))
	}
	ts, err := strconv.ParseInt(tsHeader, 10, 64)
	if err != nil {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: webhook-timestamp %q is not Unix seconds", truncate(tsHeader, 40))
	}
	now := v.clock().Unix()
	tol := int64(Tolerance / time.Second)
	// Compare in seconds without forming time.Time values, which would
	// overflow for absurd timestamps.
	switch {
	case ts < now-tol:
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: timestamp is too old (%d s in the past; at most %d allowed)", now-ts, tol)
	case ts > now+tol:
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: timestamp is too new (%d s in the future; at most %d allowed)", ts-now, tol)
	}
	mac := hmac.New(sha256.New, v.key)
	mac.Write([]byte(id))
	mac.Write([]byte{'.'})
	// The signed timestamp is the canonical decimal, as the library's Sign
	// and Verify both write it.
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte{'.'})
	mac.Write(body)
	want := mac.Sum(nil)
	sawV1 := false
	for _, part := range strings.Fields(sigHeader) {
		version, sig, ok := strings.Cut(part, ",")
		if !ok || version != "v1" {
			continue
		}
		// Strict: a signature has one encoding; a variant with other
		// padding bits is refused, not decoded to the same bytes.
		sawV1 = true
		got, err := base64.StdEncoding.Strict().DecodeString(sig)
		if err != nil {
			continue
		}
		if hmac.Equal(got, want) {
			return id, nil
		}
	}
	if !sawV1 {
		return "", billsync.Errorf(billsync.EUNAUTHORIZED, `webhook signature: no "v1,<base64>" signature in webhook-signature`)
	}
	return "", billsync.Errorf(billsync.EUNAUTHORIZED, "webhook signature: no matching signature (wrong secret, or the body was altered)")
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
