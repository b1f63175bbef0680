package pubsub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/salesforce"
	client "github.com/billsync/billsync/salesforce/pubsub"
	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

const cdcTopic = "/data/BillingAccount__ChangeEvent"

type fixedSession struct{ inst, tok string }

func (s fixedSession) Session(context.Context) (string, string, error) { return s.inst, s.tok, nil }
func (s fixedSession) Invalidate(string)                               {}

// cdcRig is the emulator with its REST API (for writes) and its Pub/Sub
// API (read with billsync's own Pub/Sub client).
type cdcRig struct {
	*rig
	rest   *httptest.Server
	client *client.Client
}

func newCDCRig(t *testing.T) *cdcRig {
	t.Helper()
	r := newRig(t)
	rest := httptest.NewServer(r.em.Handler())
	t.Cleanup(rest.Close)
	r.em.SetBaseURL(rest.URL)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.srv.Serve(l) }()
	c, err := client.New(client.Config{Addr: l.Addr().String(), Session: fixedSession{rest.URL, r.tok}, TenantID: r.em.OrgID(),
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &cdcRig{rig: r, rest: rest, client: c}
}

// write calls the REST API as username and returns the JSON answer.
func (r *cdcRig) write(t *testing.T, username, method, path string, body any) map[string]any {
	t.Helper()
	tok, err := r.em.IssueToken(username)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, r.rest.URL+"/services/data/v62.0"+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s", method, path, resp.Status)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return out
}

// events reads n change events of the topic from the start.
func (r *cdcRig) events(t *testing.T, n int) []billsync.StreamEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	var got []billsync.StreamEvent
	done := errors.New("done")
	err := r.client.Subscribe(ctx, cdcTopic, billsync.ReplayAll, func(_ context.Context, ev billsync.StreamEvent) error {
		got = append(got, ev)
		if len(got) == n {
			return done
		}
		return nil
	})
	if !errors.Is(err, done) {
		t.Fatalf("after %d of %d change events: %v", len(got), n, err)
	}
	return got
}

// TestCDCOverPubSub: a change event topic serves each write to the object
// in Salesforce's Pub/Sub form, and billsync's client turns it back into
// the CometD form: header lists as names, a body of changed fields only,
// a field set to null as an explicit null.
func TestCDCOverPubSub(t *testing.T) {
	r := newCDCRig(t)
	id := r.write(t, salesforce.IntegrationUsername, "POST", "/sobjects/BillingAccount__c",
		map[string]any{"Name": "Acme", "BillingId__c": "acc-1", "Email__c": "a@b.co"})["id"].(string)
	r.write(t, salesforce.SalesUsername, "PATCH", "/sobjects/BillingAccount__c/"+id, map[string]any{"Name": "Acme 2", "Email__c": nil})

	evs := r.events(t, 2)
	create, update := evs[0], evs[1]
	ch := create.Payload["ChangeEventHeader"].(map[string]any)
	if ch["changeType"] != "CREATE" || ch["entityName"] != "BillingAccount__c" || create.CreatedByID != r.em.UserID(salesforce.IntegrationUsername) {
		t.Errorf("create header %v, by %s", ch, create.CreatedByID)
	}
	if create.Payload["Name"] != "Acme" || create.Payload["BillingId__c"] != "acc-1" {
		t.Errorf("create body %v", create.Payload)
	}
	uh := update.Payload["ChangeEventHeader"].(map[string]any)
	changed := names(uh["changedFields"])
	if !slices.Contains(changed, "Name") || !slices.Contains(changed, "Email__c") || !slices.Contains(changed, "LastModifiedDate") || slices.Contains(changed, "BillingId__c") {
		t.Errorf("update changedFields %v", changed)
	}
	if got := names(uh["nulledFields"]); !slices.Equal(got, []string{"Email__c"}) {
		t.Errorf("update nulledFields %v, want [Email__c]", got)
	}
	if rec := names(uh["recordIds"]); !slices.Equal(rec, []string{id}) || update.CreatedByID != r.em.UserID(salesforce.SalesUsername) {
		t.Errorf("update recordIds %v by %s", rec, update.CreatedByID)
	}
	if v, ok := update.Payload["Email__c"]; !ok || v != nil {
		t.Errorf("the nulled field is not an explicit null: %v", update.Payload)
	}
	if _, ok := update.Payload["BillingId__c"]; ok || update.Payload["Name"] != "Acme 2" {
		t.Errorf("update body %v: want Name and no unchanged field", update.Payload)
	}
}

// TestCDCWireForm reads the change event topic with the raw API: the
// schema is a record whose first field is ChangeEventHeader, every field
// of the object follows as a nullable union, the body holds every field
// (unchanged ones null), and changedFields is one bitmap whose set bits
// are exactly the positions of the changed fields in that schema.
func TestCDCWireForm(t *testing.T) {
	r := newCDCRig(t)
	id := r.write(t, salesforce.IntegrationUsername, "POST", "/sobjects/BillingAccount__c",
		map[string]any{"Name": "Acme", "BillingId__c": "acc-1", "Email__c": "a@b.co"})["id"].(string)
	r.write(t, salesforce.SalesUsername, "PATCH", "/sobjects/BillingAccount__c/"+id, map[string]any{"Email__c": "new@b.co"})

	ctx := r.ctx(t)
	info, err := r.api.GetTopic(ctx, &pb.TopicRequest{TopicName: cdcTopic})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetCanPublish() || !info.GetCanSubscribe() {
		t.Errorf("topic info %v: change events are subscribe-only", info)
	}
	sch, err := r.api.GetSchema(ctx, &pb.SchemaRequest{SchemaId: info.GetSchemaId()})
	if err != nil {
		t.Fatal(err)
	}
	var shape struct {
		Name, Namespace string
		Fields          []struct {
			Name string
			Type json.RawMessage
		}
	}
	if err := json.Unmarshal([]byte(sch.GetSchemaJson()), &shape); err != nil {
		t.Fatal(err)
	}
	if shape.Name != "BillingAccount__ChangeEvent" || shape.Namespace != "com.sforce.eventbus" || shape.Fields[0].Name != "ChangeEventHeader" {
		t.Fatalf("schema %s", sch.GetSchemaJson())
	}
	pos := map[string]int{}
	for i, f := range shape.Fields[1:] {
		if !strings.HasPrefix(string(f.Type), `["null",`) {
			t.Errorf("field %s has type %s, want a nullable union", f.Name, f.Type)
		}
		pos[f.Name] = i + 1
	}
	for _, f := range []string{"Id", "IsDeleted", "SystemModstamp"} {
		if _, ok := pos[f]; ok {
			t.Errorf("change events do not carry %s", f)
		}
	}

	st, err := r.api.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.FetchRequest{TopicName: cdcTopic, ReplayPreset: pb.ReplayPreset_EARLIEST, NumRequested: 2}); err != nil {
		t.Fatal(err)
	}
	var got []*pb.ConsumerEvent
	for len(got) < 2 {
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, resp.GetEvents()...)
	}
	schema := avro.MustParse(sch.GetSchemaJson())
	var body map[string]any
	if err := avro.Unmarshal(schema, got[1].GetEvent().GetPayload(), &body); err != nil {
		t.Fatal(err)
	}
	h := body["ChangeEventHeader"].(map[string]any)
	// The bits are the positions of the fields the org's own (CometD
	// form) event names; among them the edited field and the stamp.
	bus := r.em.Bus().Events(cdcTopic)
	busChanged := names(bus[1].Payload["ChangeEventHeader"].(map[string]any)["changedFields"])
	if !slices.Contains(busChanged, "Email__c") || !slices.Contains(busChanged, "LastModifiedDate") {
		t.Fatalf("the org's event names %v", busChanged)
	}
	var want big.Int
	for _, f := range busChanged {
		p, ok := pos[f]
		if !ok {
			t.Fatalf("changed field %s is not in the schema", f)
		}
		want.SetBit(&want, p, 1)
	}
	if bm := names(h["changedFields"]); len(bm) != 1 || bm[0] != "0x"+evenHex(&want) {
		t.Errorf("changedFields %v, want [0x%s] (the positions of %v)", bm, evenHex(&want), busChanged)
	}
	if l := names(h["nulledFields"]); len(l) != 0 {
		t.Errorf("nulledFields %v, want none", l)
	}
	if body["Email__c"] != "new@b.co" || body["Name"] != nil {
		t.Errorf("body: changed Email__c %v, unchanged Name %v (want null)", body["Email__c"], body["Name"])
	}
	if _, ok := body["LastModifiedDate"].(int64); !ok {
		t.Errorf("LastModifiedDate %T, want epoch milliseconds", body["LastModifiedDate"])
	}

	// Only Salesforce publishes change events.
	resp, err := r.api.Publish(ctx, &pb.PublishRequest{TopicName: cdcTopic, Events: []*pb.ProducerEvent{{Id: "1", SchemaId: info.GetSchemaId()}}})
	if err != nil || len(resp.GetResults()) != 1 || resp.GetResults()[0].GetError() == nil {
		t.Errorf("publish to a change event topic: %v %v", resp, err)
	}
}

func evenHex(n *big.Int) string {
	s := strings.ToUpper(n.Text(16))
	if len(s)%2 == 1 {
		s = "0" + s
	}
	return s
}

func names(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
