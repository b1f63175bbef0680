package billingapi_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
)

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, wantErr string
		obj                 billsync.ObjectType
		op                  billsync.Op
	}{
		{"account", `{"type":"account.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":"acc_1","name":"Acme"}}`, "", billsync.ObjectAccount, billsync.OpUpdated},
		{"txn", `{"type":"balance_transaction.created","data":{"id":"btx_1","accountId":"acc_1","amount":"12.50"}}`, "", billsync.ObjectBalanceTransaction, billsync.OpCreated},
		{"empty", ``, "empty body", "", ""},
		{"malformed", `{"type":`, "malformed JSON", "", ""},
		{"no type", `{"data":{"id":"x"}}`, `missing "type"`, "", ""},
		{"no dot", `{"type":"account","data":{"id":"x"}}`, "want <entity>", "", ""},
		{"unknown entity", `{"type":"invoice.created","data":{"id":"x"}}`, "unknown entity", "", ""},
		{"unknown action", `{"type":"account.archived","data":{"id":"x"}}`, "unknown action", "", ""},
		{"bad timestamp", `{"type":"account.created","timestamp":"yesterday","data":{"id":"x"}}`, "not RFC 3339", "", ""},
		{"no data", `{"type":"account.created"}`, `missing "data"`, "", ""},
		{"data not an object", `{"type":"account.created","data":[1]}`, `must be a JSON object`, "", ""},
		{"no id", `{"type":"account.created","data":{}}`, "data.id", "", ""},
		{"no account", `{"type":"balance.created","data":{"id":"b"}}`, "accountId", "", ""},
		{"array", `[1]`, "malformed JSON", "", ""},
		{"trailing", `{"type":"account.created","data":{"id":"x"}} {}`, "trailing", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := billingapi.ParseWebhook([]byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || billsync.ErrorCode(err) != billsync.EINVALID {
					t.Fatalf("err = %v, want EINVALID containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ev.Object != tc.obj || ev.Op != tc.op {
				t.Fatalf("got %s %s", ev.Object, ev.Op)
			}
			c, err := ev.Change("msg_1", time.Now())
			if err != nil || c.Partition != "account:acc_1" || c.EventID != "webhook:msg_1" {
				t.Fatalf("change %+v %v", c, err)
			}
		})
	}
}

// The change keeps the webhook's object whole (money as the decimal
// string sent), its time, and the webhook-id as idempotency key.
func TestDecodeWebhook(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	c, err := billingapi.DecodeWebhook("msg_7", []byte(`{"type":"balance.deleted","timestamp":"2026-03-04T11:59:30+01:00","data":{"id":"bal_1","accountId":"acc_7","amount":"12.50"}}`), now)
	if err != nil {
		t.Fatal(err)
	}
	want := billsync.Change{Partition: "account:acc_7", Source: billsync.SideBilling, Object: billsync.ObjectBalance, Op: billsync.OpDeleted,
		RecordID: "bal_1", EventID: "webhook:msg_7", OccurredAt: time.Date(2026, 3, 4, 10, 59, 30, 0, time.UTC), EnqueuedAt: now.UTC()}
	payload := string(c.Payload)
	if !c.OccurredAt.Equal(want.OccurredAt) || c.OccurredAt.Location() != time.UTC || c.EnqueuedAt.Location() != time.UTC {
		t.Errorf("times %v %v", c.OccurredAt, c.EnqueuedAt)
	}
	c.OccurredAt, want.OccurredAt = time.Time{}, time.Time{}
	c.EnqueuedAt, want.EnqueuedAt = time.Time{}, time.Time{}
	if diff := cmp.Diff(want, *c, cmpopts.IgnoreFields(billsync.Change{}, "Payload")); diff != "" {
		t.Errorf("change (-want +got):\n%s", diff)
	}
	if !strings.Contains(payload, `"amount":"12.50"`) {
		t.Errorf("payload lost the decimal string: %s", payload)
	}

	// Without a timestamp the event happened when it arrived.
	c, err = billingapi.DecodeWebhook("msg_8", []byte(`{"type":"quote.created","data":{"id":"q_1"}}`), now)
	if err != nil || !c.OccurredAt.Equal(now) || c.Partition != "quote:q_1" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := billingapi.DecodeWebhook("msg_9", []byte(`{}`), now); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("err %v, want invalid", err)
	}
}

// Webhooks is the verifier and the decoder in one, as the HTTP server
// takes them; the secret is checked as NewVerifier checks it.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	if _, err := billingapi.NewWebhooks("nope", nil); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Fatalf("bad secret: %v", err)
	}
	w, err := billingapi.NewWebhooks(secret, func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"account.created","data":{"id":"acc_1"}}`)
	id, err := w.Verify(headers("msg_1", fixedNow.Unix(), sign(t, "msg_1", fixedNow.Unix(), body)), body)
	if err != nil || id != "msg_1" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	cs, err := w.Decode(id, body, fixedNow)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Decode = %+v, %v", cs, err)
	}
	if c := cs[0]; c.EventID != "webhook:msg_1" || c.Partition != "account:acc_1" || c.Op != billsync.OpCreated {
		t.Fatalf("Decode = %+v", c)
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"type":"account.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":"acc_1","name":"Acme"}}`))
	f.Add([]byte(`{"type":"balance.created","data":{"id":"b","accountId":"a","amount":"1.00"}}`))
	f.Add([]byte(`{"type":"quote.deleted","data":{"id":"q"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := billingapi.ParseWebhook(body)
		if err != nil {
			if billsync.ErrorCode(err) != billsync.EINVALID {
				t.Fatalf("error without EINVALID: %v", err)
			}
			return
		}
		if _, err := ev.Change("id", time.Now()); err != nil {
			t.Fatalf("parsed event makes no change: %v", err)
		}
	})
}

// A body Webhooks.Decode refuses says what could be read of the event,
// for the sync-log entry of the refusal; the reason stays an EINVALID
// *billsync.Error written for the sender.
func TestDecodeRefusalNamesTheEvent(t *testing.T) {
	w := &billingapi.Webhooks{}
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		body           string
		object, record string
	}{
		{`{"type":"balance.updated","data":{"id":"bal_1"}}`, "balance", "bal_1"},
		{`{"type":"invoice.updated","data":{"id":"inv_1"}}`, "", "inv_1"},
		{`{"type":"account.updated","timestamp":"yesterday","data":{"id":"acc_1"}}`, "account", "acc_1"},
		{`{"type":"account.updated","data":[42]}`, "", ""},
		{`{"type":`, "", ""},
	} {
		_, err := w.Decode("msg_1", []byte(tc.body), now)
		var rw *billingapi.RejectedWebhook
		if !errors.As(err, &rw) || billsync.ErrorCode(err) != billsync.EINVALID {
			t.Fatalf("%s: %v", tc.body, err)
		}
		id, object, record := rw.RejectedEvent()
		if id != "webhook:msg_1" || string(object) != tc.object || record != tc.record {
			t.Errorf("%s: event %q %q %q", tc.body, id, object, record)
		}
	}
}
