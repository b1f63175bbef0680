package billingapi_test

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
	"github.com/billsync/billsync/billingapi"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

var fixedNow = time.Unix(1_767_225_600, 0) // 2026-01-01T00:00:00Z

func sign(t testing.TB, id string, ts int64, body []byte) string {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func headers(id string, ts int64, sig string) http.Header {
	h := http.Header{}
	if id != "" {
		h.Set("webhook-id", id)
	}
	if ts != 0 {
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	}
	if sig != "" {
		h.Set("webhook-signature", sig)
	}
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	v, err := billingapi.NewVerifier(secret, func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"account.created","timestamp":"2026-01-01T00:00:00Z","data":{"id":"acc_1"}}`)
	now := fixedNow.Unix()
	good := sign(t, "msg_1", now, body)
	lib, _ := standardwebhooks.NewWebhook(secret)
	libSig, _ := lib.Sign("msg_1", fixedNow, body)
	if libSig != good {
		t.Fatalf("library signs %q, hand HMAC %q", libSig, good)
	}
	other := "v1," + base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name    string
		h       http.Header
		body    []byte
		wantErr string
	}{
		{"valid", headers("msg_1", now, good), body, ""},
		{"several signatures", headers("msg_1", now, "v1a,xyz "+other+" "+good), body, ""},
		{"edge past", headers("msg_1", now-300, sign(t, "msg_1", now-300, body)), body, ""},
		{"edge future", headers("msg_1", now+300, sign(t, "msg_1", now+300, body)), body, ""},
		{"missing all", http.Header{}, body, "missing header(s) webhook-id, webhook-timestamp, webhook-signature"},
		{"missing sig", headers("msg_1", now, ""), body, "missing header(s) webhook-signature"},
		{"bad timestamp", func() http.Header {
			h := headers("msg_1", now, good)
			h.Set("webhook-timestamp", "yesterday")
			return h
		}(), body, "not Unix seconds"},
		{"too old", headers("msg_1", now-301, sign(t, "msg_1", now-301, body)), body, "too old"},
		{"too new", headers("msg_1", now+301, sign(t, "msg_1", now+301, body)), body, "too new"},
		{"tampered body", headers("msg_1", now, good), append([]byte(nil), append(body, ' ')...), "no matching signature"},
		{"other id", headers("msg_2", now, good), body, "no matching signature"},
		{"wrong secret", headers("msg_1", now, other), body, "no matching signature"},
		{"v2 only", headers("msg_1", now, "v2,"+strings.TrimPrefix(good, "v1,")), body, `no "v1,<base64>" signature`},
		{"no comma", headers("msg_1", now, "garbage"), body, `no "v1,<base64>" signature`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := v.Verify(tc.h, tc.body)
			if tc.wantErr == "" {
				if err != nil || id != tc.h.Get("webhook-id") {
					t.Fatalf("Verify = %q, %v", id, err)
				}
				return
			}
			if err == nil || billsync.ErrorCode(err) != billsync.EUNAUTHORIZED || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want EUNAUTHORIZED containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewVerifier(t *testing.T) {
	t.Parallel()
	for _, s := range []string{"", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_", "whsec_not base64!"} {
		if _, err := billingapi.NewVerifier(s, nil); billsync.ErrorCode(err) != billsync.EINVALID {
			t.Errorf("NewVerifier(%q) = %v, want EINVALID", s, err)
		}
	}
	v, err := billingapi.NewVerifier(secret, nil) // real clock
	if err != nil {
		t.Fatal(err)
	}
	lib, _ := standardwebhooks.NewWebhook(secret)
	now := time.Now()
	sig, _ := lib.Sign("msg_x", now, []byte("{}"))
	if _, err := v.Verify(headers("msg_x", now.Unix(), sig), []byte("{}")); err != nil {
		t.Fatal(err)
	}
}

func FuzzVerify(f *testing.F) {
	body := []byte(`{"type":"account.created","data":{"id":"acc_1"}}`)
	now := fixedNow.Unix()
	f.Add("msg_1", strconv.FormatInt(now, 10), sign(f, "msg_1", now, body), body)
	f.Add("msg_1", strconv.FormatInt(now-299, 10), "v1,AAAA "+sign(f, "msg_1", now-299, body), body)
	f.Add("msg_1", "+"+strconv.FormatInt(now, 10), sign(f, "msg_1", now, body), body)
	f.Add("", "", "", []byte(nil))
	f.Add("msg_1", "-9223372036854775808", "v1,", body)
	f.Add("msg_1", "9223372036854775807", "v1,,,, v1", body)
	f.Add("m", "1", "v1,!!!", []byte("\x00\xff"))
	v, err := billingapi.NewVerifier(secret, func() time.Time { return fixedNow })
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set("webhook-id", id)
		h.Set("webhook-timestamp", ts)
		h.Set("webhook-signature", sig)
		got, err := v.Verify(h, body)
		if err != nil {
			if billsync.ErrorCode(err) != billsync.EUNAUTHORIZED {
				t.Fatalf("error without EUNAUTHORIZED: %v", err)
			}
			return
		}
		if got != id {
			t.Fatalf("id %q, want %q", got, id)
		}
		// Accepted: the timestamp must be within tolerance and one of the
		// signatures must be the real one.
		n, perr := strconv.ParseInt(ts, 10, 64)
		if perr != nil || n < now-300 || n > now+300 {
			t.Fatalf("accepted timestamp %q", ts)
		}
		if !strings.Contains(sig, sign(t, id, n, body)) {
			t.Fatalf("accepted without the real signature: %q", sig)
		}
	})
}
