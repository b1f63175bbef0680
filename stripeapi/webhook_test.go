package stripeapi

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/stripe/stripe-go/v85/webhook"
)

const whsec = "whsec_test_secret"

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func hooks(t *testing.T, quotes string) *Webhooks {
	t.Helper()
	w, err := NewWebhooks(whsec, func() time.Time { return t0 }, quotes)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func signed(body string, secret string, at time.Time) http.Header {
	p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: secret, Timestamp: at})
	h := http.Header{}
	h.Set("Stripe-Signature", p.Header)
	return h
}

func TestVerify(t *testing.T) {
	t.Parallel()
	w := hooks(t, "")
	body := `{"id":"evt_1","object":"event","type":"customer.updated"}`
	if id, err := w.Verify(signed(body, whsec, t0.Add(-time.Minute)), []byte(body)); err != nil || id != "evt_1" {
		t.Fatalf("good: %q %v", id, err)
	}
	// A secret being rolled: two v1 signatures, the second ours.
	old := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(body), Secret: "whsec_old", Timestamp: t0})
	h := http.Header{}
	h.Set("Stripe-Signature", old.Header+",v1="+hex.EncodeToString(webhook.ComputeSignature(t0, []byte(body), whsec)))
	if id, err := w.Verify(h, []byte(body)); err != nil || id != "evt_1" {
		t.Errorf("rolled: %q %v", id, err)
	}
	bad := []struct {
		name string
		h    http.Header
		body string
	}{
		{"wrong secret", signed(body, "whsec_other", t0), body},
		{"altered body", signed(body, whsec, t0), strings.Replace(body, "evt_1", "evt_2", 1)},
		{"expired", signed(body, whsec, t0.Add(-301*time.Second)), body},
		{"future", signed(body, whsec, t0.Add(301*time.Second)), body},
		{"no header", http.Header{}, body},
		{"no timestamp", http.Header{"Stripe-Signature": {"v1=abcd"}}, body},
	}
	for _, b := range bad {
		if _, err := w.Verify(b.h, []byte(b.body)); billsync.ErrorCode(err) != billsync.EUNAUTHORIZED {
			t.Errorf("%s: %v, want EUNAUTHORIZED", b.name, err)
		}
	}
	if _, err := NewWebhooks("secret", nil, ""); billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(err.Error(), "billing.webhookSecret") {
		t.Errorf("bad secret: %v", err)
	}
}

func evt(id, typ, object, prev, idemKey string) string {
	req := `null`
	if idemKey != "" {
		req = fmt.Sprintf(`{"id":"req_1","idempotency_key":%q}`, idemKey)
	}
	if prev == "" {
		prev = "null"
	}
	return fmt.Sprintf(`{"id":%q,"object":"event","api_version":%q,"created":1777636800,"type":%q,"livemode":false,
	 "data":{"object":%s,"previous_attributes":%s},"request":%s}`, id, APIVersion, typ, object, prev, req)
}

func decodeAll(t *testing.T, w *Webhooks, body string) []*billsync.Change {
	t.Helper()
	cs, err := w.Decode("evt", []byte(body), t0)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	return cs
}

func summary(cs []*billsync.Change) string {
	var s []string
	for _, c := range cs {
		s = append(s, fmt.Sprintf("%s %s %s %s %s", c.EventID, c.Object, c.Op, c.RecordID, c.Partition))
	}
	return strings.Join(s, "; ")
}

func TestDecodeCustomerEvents(t *testing.T) {
	t.Parallel()
	w := hooks(t, "")
	cases := []struct {
		name, body, want string
	}{
		{"created with credit", evt("evt_c", "customer.created", acme, "", ""),
			"stripe:evt_c account created cus_1 account:cus_1; stripe:evt_c:balance:usd balance created cus_1.usd account:cus_1; " +
				"stripe:evt_c:balance:bhd balance created cus_1.bhd account:cus_1; stripe:evt_c:balance:jpy balance created cus_1.jpy account:cus_1"},
		{"name only", evt("evt_n", "customer.updated", acme, `{"name":"Old"}`, ""),
			"stripe:evt_n account updated cus_1 account:cus_1"},
		{"balance moved", evt("evt_b", "customer.updated", acme, `{"balance":0}`, ""),
			"stripe:evt_b account updated cus_1 account:cus_1; stripe:evt_b:balance:usd balance updated cus_1.usd account:cus_1"},
		{"currency set", evt("evt_u", "customer.updated", acme, `{"currency":null,"balance":0}`, ""),
			"stripe:evt_u account updated cus_1 account:cus_1; stripe:evt_u:balance:usd balance created cus_1.usd account:cus_1"},
		{"other currencies", evt("evt_i", "customer.updated", acme, `{"invoice_credit_balance":{"usd":1050,"jpy":400}}`, ""),
			"stripe:evt_i account updated cus_1 account:cus_1; stripe:evt_i:balance:bhd balance created cus_1.bhd account:cus_1; stripe:evt_i:balance:jpy balance updated cus_1.jpy account:cus_1"},
		{"echo keeps the balance", evt("evt_e", "customer.updated", acme, `{"balance":-900}`, "billsync-balance-abc"),
			"stripe:evt_e:balance:usd balance updated cus_1.usd account:cus_1"},
		{"echo of a name", evt("evt_f", "customer.updated", acme, `{"name":"Old"}`, "billsync-k1"), ""},
		{"someone else's key", evt("evt_g", "customer.updated", acme, `{"name":"Old"}`, "dashboard-1"),
			"stripe:evt_g account updated cus_1 account:cus_1"},
		{"deleted", evt("evt_d", "customer.deleted", acme, "", ""), "stripe:evt_d account deleted cus_1 account:cus_1"},
		{"unknown type", evt("evt_x", "invoice.paid", `{"id":"in_1","object":"invoice"}`, "", ""), ""},
	}
	for _, tc := range cases {
		if got := summary(decodeAll(t, w, tc.body)); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
	cs := decodeAll(t, w, evt("evt_b", "customer.updated", acme, `{"balance":0}`, ""))
	acc, _ := billsync.DecodeEntity(cs[0].Payload)
	bal, _ := billsync.DecodeEntity(cs[1].Payload)
	if acc.Str("code") != "ACME" || bal.Str("amount") != "10.50" || bal.Str("accountId") != "cus_1" ||
		!cs[0].OccurredAt.Equal(time.Unix(1777636800, 0)) || cs[0].Source != billsync.SideBilling || !cs[0].EnqueuedAt.Equal(t0) {
		t.Errorf("payloads %v %v %+v", acc, bal, cs[0])
	}
}

func TestDecodeQuoteEvents(t *testing.T) {
	t.Parallel()
	q := `{"id":"qt_1","object":"quote","customer":"cus_1","status":"%s","currency":"usd","metadata":{"billsync_crm_opportunity_id":"006X"}}`
	for _, tc := range []struct{ typ, status, mode, want string }{
		{"quote.created", "draft", "draft", "stripe:evt account:created"},
		{"quote.created", "draft", "finalized", ""},
		{"quote.finalized", "open", "finalized", "stripe:evt account:updated"},
		{"quote.accepted", "accepted", "draft", "stripe:evt account:updated"},
		{"quote.canceled", "canceled", "draft", "stripe:evt account:updated"},
	} {
		cs := decodeAll(t, hooks(t, tc.mode), evt("evt", tc.typ, fmt.Sprintf(q, tc.status), "", ""))
		got := ""
		if len(cs) == 1 {
			c := cs[0]
			if c.Object != billsync.ObjectQuote || c.Partition != "quote:qt_1" || c.RecordID != "qt_1" {
				t.Errorf("%s: %+v", tc.typ, c)
			}
			e, _ := billsync.DecodeEntity(c.Payload)
			if e.Str("status") != quoteStatus(tc.status) || e.Str("crmOpportunityId") != "006X" || e.Str("accountId") != "cus_1" {
				t.Errorf("%s payload %v", tc.typ, e)
			}
			got = c.EventID + " account:" + string(c.Op)
		}
		if got != tc.want {
			t.Errorf("%s in %s mode: %q, want %q", tc.typ, tc.mode, got, tc.want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	t.Parallel()
	w := hooks(t, "")
	for _, body := range []string{``, `{`, `[]`, `{"id":"evt_1","object":"v2.core.event","type":"customer.updated"}`,
		`{"id":"evt_1","object":"event","type":"customer.updated","data":{"object":{"id":42}}}`,
		`{"id":"evt_1","object":"event","type":"customer.updated","data":{"object":{"id":"cus_1","balance":"x"}}}`,
		evt("evt_1", "customer.updated", acme, `{"invoice_credit_balance":"x"}`, ""),
		`{"id":"evt_1","object":"event","type":"quote.created","data":{"object":null}}`,
	} {
		_, err := w.Decode("evt_1", []byte(body), t0)
		var rej *billingapi.RejectedWebhook
		if billsync.ErrorCode(err) != billsync.EINVALID || !errors.As(err, &rej) || rej.EventID != "stripe:evt_1" {
			t.Errorf("%q: %v", body, err)
		}
	}
}

// FuzzDecodeEvent: no body makes Decode panic, and every change it
// returns names its partition, record and a stripe: event id.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(evt("evt_c", "customer.created", acme, "", "")))
	f.Add([]byte(evt("evt_b", "customer.updated", acme, `{"balance":0,"invoice_credit_balance":{"jpy":1}}`, "billsync-x")))
	f.Add([]byte(evt("evt_q", "quote.finalized", `{"id":"qt_1","customer":{"id":"cus_1"},"status":"open"}`, "", "")))
	f.Add([]byte(`{"id":"evt","object":"event","type":"customer.deleted","data":{"object":{"id":"cus_1"}}}`))
	w, _ := NewWebhooks(whsec, nil, "")
	f.Fuzz(func(t *testing.T, body []byte) {
		cs, err := w.Decode("evt_f", body, t0)
		if err != nil {
			if billsync.ErrorCode(err) != billsync.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		for _, c := range cs {
			if c.Partition == "" || c.RecordID == "" || !strings.HasPrefix(c.EventID, "stripe:") || !json.Valid(c.Payload) {
				t.Fatalf("change %+v", c)
			}
		}
	})
}
