package billsync

import (
	"strings"
	"testing"
	"time"
)

func TestParseWebhook(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body, wantErr string
		obj                 ObjectType
		op                  Op
	}{
		{"account", `{"type":"account.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":"acc_1","name":"Acme"}}`, "", ObjectAccount, OpUpdated},
		{"txn", `{"type":"balance_transaction.created","data":{"id":"btx_1","accountId":"acc_1","amount":"12.50"}}`, "", ObjectBalanceTransaction, OpCreated},
		{"empty", ``, "empty body", "", ""},
		{"malformed", `{"type":`, "malformed JSON", "", ""},
		{"unknown entity", `{"type":"invoice.created","data":{"id":"x"}}`, "unknown entity", "", ""},
		{"unknown action", `{"type":"account.archived","data":{"id":"x"}}`, "unknown action", "", ""},
		{"no data", `{"type":"account.created"}`, `missing "data"`, "", ""},
		{"no id", `{"type":"account.created","data":{}}`, "data.id", "", ""},
		{"no account", `{"type":"balance.created","data":{"id":"b"}}`, "accountId", "", ""},
		{"array", `[1]`, "malformed JSON", "", ""},
		{"trailing", `{"type":"account.created","data":{"id":"x"}} {}`, "trailing", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, obj, op, err := ParseWebhook([]byte(tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || ErrorCode(err) != EINVALID {
					t.Fatalf("err = %v, want EINVALID containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if obj != tc.obj || op != tc.op {
				t.Fatalf("got %s %s", obj, op)
			}
			c, err := ChangeFromWebhook("msg_1", ev, obj, op, time.Now())
			if err != nil || c.Partition != "account:acc_1" || c.EventID != "webhook:msg_1" {
				t.Fatalf("change %+v %v", c, err)
			}
		})
	}
}

func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(`{"type":"account.updated","timestamp":"2026-01-02T03:04:05Z","data":{"id":"acc_1","name":"Acme"}}`))
	f.Add([]byte(`{"type":"balance.created","data":{"id":"b","accountId":"a","amount":"1.00"}}`))
	f.Add([]byte(`{"type":"quote.deleted","data":{"id":"q"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, obj, op, err := ParseWebhook(body)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error without EINVALID: %v", err)
			}
			return
		}
		if _, err := ChangeFromWebhook("id", ev, obj, op, time.Now()); err != nil {
			t.Fatalf("parsed event makes no change: %v", err)
		}
	})
}
