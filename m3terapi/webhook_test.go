package m3terapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
)

// PROVISIONAL: the notification body is taken to be m3ter's event record
// (billing-adapters notes §1.4); only the entity's identity is trusted.
func notificationBody(id, name string, dto map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"id": id, "eventName": name, "eventTime": "2026-03-01T10:00:00Z",
		"dtActioned": "2026-03-01T10:00:01Z", "m3terEvent": map[string]any{"eventData": map[string]any{"newDto": dto}}})
	return b
}

func webhooksFor(user string) *Webhooks {
	return &Webhooks{serviceUser: func() string { return user }}
}

func TestProvisionalNotificationDecodes(t *testing.T) {
	w := webhooksFor(fakeUser)
	now := time.Date(2026, 3, 1, 10, 0, 5, 0, time.UTC)
	body := notificationBody("evt-1", "configuration.account.updated", map[string]any{"id": "acc-1", "code": "ACME", "name": "Acme",
		"version": 3, "lastModifiedBy": otherUser})
	id, err := w.Verify(http.Header{}, body)
	if err != nil || id != "evt-1" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	cs, err := w.Decode(id, body, now)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Decode = %v, %v", cs, err)
	}
	c := cs[0]
	if c.Object != billsync.ObjectAccount || c.Op != billsync.OpUpdated || c.RecordID != "acc-1" || c.EventID != "m3ter:evt-1" ||
		c.Partition != billsync.AccountPartition("acc-1") || c.Source != billsync.SideBilling ||
		!c.OccurredAt.Equal(time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("change = %+v", c)
	}
	ent, _ := billsync.DecodeEntity(c.Payload)
	if ent.Version() != 3 || ent.Str("name") != "Acme" {
		t.Errorf("payload = %s", c.Payload)
	}

	body = notificationBody("evt-2", "billing.balance.updated", map[string]any{"id": "bal-1", "accountId": "acc-1", "amount": 12.5,
		"currency": "USD", "version": 7, "lastModifiedBy": fakeUser})
	cs, err = w.Decode("evt-2", body, now)
	if err != nil || len(cs) != 1 {
		t.Fatalf("balance: %v, %v", cs, err)
	}
	if cs[0].Object != billsync.ObjectBalance || cs[0].RecordID != "bal-1" || cs[0].Partition != billsync.AccountPartition("acc-1") {
		t.Errorf("balance change = %+v", cs[0])
	}
	ent, _ = billsync.DecodeEntity(cs[0].Payload)
	if ent.Str("amount") != "12.5" {
		t.Errorf("balance amount = %q", ent.Str("amount"))
	}
}

func TestEchoOfBillsyncsOwnAccountWriteIsDropped(t *testing.T) {
	w := webhooksFor(fakeUser)
	body := notificationBody("evt-3", "configuration.account.updated", map[string]any{"id": "acc-1", "lastModifiedBy": fakeUser})
	cs, err := w.Decode("evt-3", body, time.Now())
	if err != nil || len(cs) != 0 {
		t.Errorf("echo: %v, %v; want no change", cs, err)
	}
	// Unknown service user: passed on, the engine tells echoes by values.
	cs, _ = webhooksFor("").Decode("evt-3", body, time.Now())
	if len(cs) != 1 {
		t.Errorf("without a known service user: %d changes, want 1", len(cs))
	}
	// A deletion is never an echo to drop.
	del, _ := json.Marshal(map[string]any{"id": "evt-4", "eventName": "configuration.account.deleted", "eventTime": "2026-03-01T10:00:00Z",
		"dtActioned": "2026-03-01T10:00:00Z", "m3terEvent": map[string]any{"eventData": map[string]any{"oldDto": map[string]any{"id": "acc-1", "lastModifiedBy": fakeUser}}}})
	cs, err = w.Decode("evt-4", del, time.Now())
	if err != nil || len(cs) != 1 || cs[0].Op != billsync.OpDeleted || cs[0].RecordID != "acc-1" {
		t.Errorf("deletion: %v, %v", cs, err)
	}
}

func TestUnknownEventsAreIgnored(t *testing.T) {
	w := webhooksFor(fakeUser)
	for _, name := range []string{"configuration.commitment.created", "billing.balance.archived", "integration.perform.error", "account"} {
		cs, err := w.Decode("e", notificationBody("e", name, map[string]any{"id": "x"}), time.Now())
		if err != nil || len(cs) != 0 {
			t.Errorf("%s: %v, %v; want ignored", name, cs, err)
		}
	}
}

func TestMalformedNotificationsAreRejected(t *testing.T) {
	w := webhooksFor(fakeUser)
	for name, body := range map[string]string{
		"empty":              ``,
		"not json":           `{"id":`,
		"no id":              `{"eventName":"configuration.account.updated"}`,
		"no entity":          `{"id":"e1","eventName":"configuration.account.updated","m3terEvent":{}}`,
		"entity no id":       `{"id":"e1","eventName":"configuration.account.updated","m3terEvent":{"eventData":{"newDto":{"name":"x"}}}}`,
		"balance no account": `{"id":"e1","eventName":"billing.balance.updated","m3terEvent":{"eventData":{"newDto":{"id":"b1"}}}}`,
		"trailing":           `{"id":"e1","eventName":"x.y.created"} {}`,
	} {
		_, err := w.Decode("e1", []byte(body), time.Now())
		var rw *billingapi.RejectedWebhook
		if billsync.ErrorCode(err) != billsync.EINVALID || !errors.As(err, &rw) {
			t.Errorf("%s: %v, want a rejected webhook (EINVALID)", name, err)
		}
	}
	if _, err := w.Verify(http.Header{}, []byte(`{"eventName":"x"}`)); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("Verify without id: %v", err)
	}
}

// A forged delivery can at most cause a re-read: what it claims about
// the record is not what the engine acts on (SignedWebhooks false), and
// it names only a record id.
func TestForgedNotificationNamesOnlyARecord(t *testing.T) {
	fk := newFake(t)
	c, _ := fk.client(t, nil)
	a, err := Open(billsync.BillingOptions{URL: fk.srv.URL, Token: fakeKey + ":" + fakeSecret, Options: map[string]string{"orgId": fakeOrg}})
	if err != nil {
		t.Fatal(err)
	}
	if a.Billing.Capabilities().SignedWebhooks {
		t.Fatal("m3ter deliveries must be treated as unsigned hints")
	}
	acct := fk.seedAccount(record{"code": "ACME", "name": "Acme", "emailAddress": "ap@acme.test"})
	forged := notificationBody("evt-forged", "configuration.account.updated", map[string]any{"id": acct.str("id"), "name": "Hacked", "version": 99})
	id, err := a.Webhooks.Verify(http.Header{}, forged)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := a.Webhooks.Decode(id, forged, time.Now())
	if err != nil || len(cs) != 1 {
		t.Fatalf("Decode = %v, %v", cs, err)
	}
	// The engine reads the record the change names; m3ter's answer is
	// the truth.
	got, err := c.Get(ctx(t), cs[0].Object, cs[0].RecordID)
	if err != nil || got.Str("name") != "Acme" || got.Version() != 1 {
		t.Errorf("re-read = %v, %v", got, err)
	}
}

func FuzzDecodeNotification(f *testing.F) {
	f.Add(notificationBody("evt-1", "configuration.account.updated", map[string]any{"id": "acc-1", "name": "Acme", "version": 2}))
	f.Add(notificationBody("evt-2", "billing.balance.created", map[string]any{"id": "b-1", "accountId": "a-1", "amount": 1e21}))
	f.Add(notificationBody("evt-3", "billing.balance.updated", map[string]any{"id": "b-1", "accountId": "a-1", "amount": "x"}))
	f.Add([]byte(`{"id":"e","eventName":"configuration.account.deleted","m3terEvent":{"eventData":{"oldDto":{"id":"a"}}}}`))
	f.Add([]byte(`{"id":"e","eventName":"billing.balance.updated","m3terEvent":{"eventData":null}}`))
	f.Add([]byte(`[]`))
	w := webhooksFor(fakeUser)
	f.Fuzz(func(t *testing.T, body []byte) {
		id, verr := w.Verify(http.Header{}, body)
		cs, err := w.Decode(id, body, time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			if billsync.ErrorCode(err) != billsync.EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if verr != nil {
			t.Fatalf("Decode accepted a body Verify refused: %v", verr)
		}
		for _, c := range cs {
			if c.RecordID == "" || !strings.HasPrefix(c.Partition, "account:") || c.Partition == "account:" ||
				c.EventID != "m3ter:"+id || c.Source != billsync.SideBilling {
				t.Fatalf("change %+v", c)
			}
			if _, err := billsync.DecodeEntity(c.Payload); err != nil {
				t.Fatalf("payload %s: %v", c.Payload, err)
			}
		}
	})
}
