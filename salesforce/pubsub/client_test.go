package pubsub_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/emulate/salesforce"
	empubsub "github.com/billsync/billsync/emulate/salesforce/pubsub"
	"github.com/billsync/billsync/salesforce/pubsub"
)

const topic = "/event/BillingObjectChange__e"

// org is an emulated org with its REST API and its Pub/Sub API.
type org struct {
	t    *testing.T
	em   *salesforce.Emulator
	rest *httptest.Server
	opts empubsub.Options
	addr string

	mu  sync.Mutex
	srv *empubsub.Server
}

func newOrg(t *testing.T, opts empubsub.Options) *org {
	t.Helper()
	em, err := salesforce.New(salesforce.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rest := httptest.NewServer(em.Handler())
	em.SetBaseURL(rest.URL)
	o := &org{t: t, em: em, rest: rest, opts: opts}
	t.Cleanup(func() {
		o.stop()
		rest.Close()
		_ = em.Close()
	})
	o.start("127.0.0.1:0")
	return o
}

// start serves the Pub/Sub API on addr (the previous address to restart).
func (o *org) start(addr string) {
	o.t.Helper()
	var l net.Listener
	var err error
	deadline := time.Now().Add(15 * time.Second)
	for {
		// The port of a stopped server can take a moment to be free.
		if l, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		o.t.Fatal(err)
	}
	srv := empubsub.New(o.em, o.opts)
	go func() { _ = srv.Serve(l) }()
	o.mu.Lock()
	o.srv, o.addr = srv, l.Addr().String()
	o.mu.Unlock()
}

func (o *org) stop() {
	o.mu.Lock()
	srv := o.srv
	o.mu.Unlock()
	srv.Stop()
}

func (o *org) server() *empubsub.Server {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.srv
}

func (o *org) token(username string) string {
	o.t.Helper()
	tok, err := o.em.IssueToken(username)
	if err != nil {
		o.t.Fatal(err)
	}
	return tok
}

// edit creates a billing account as the sales user over REST: the
// trigger publishes BillingObjectChange__e for it.
func (o *org) edit(name string) string {
	o.t.Helper()
	body, _ := json.Marshal(map[string]any{"Name": name, "BillingId__c": "b-" + name})
	req, _ := http.NewRequest("POST", o.rest.URL+"/services/data/v62.0/sobjects/BillingAccount__c", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+o.token(salesforce.SalesUsername))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		o.t.Fatalf("create: %d %v", resp.StatusCode, err)
	}
	return out.ID
}

// session hands out tokens in turn; Invalidate moves to the next one.
type session struct {
	inst string
	mu   sync.Mutex
	toks []string
	inv  []string
}

func (s *session) Session(context.Context) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inst, s.toks[0], nil
}

func (s *session) Invalidate(tok string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inv = append(s.inv, tok)
	if len(s.toks) > 1 && s.toks[0] == tok {
		s.toks = s.toks[1:]
	}
}

func (o *org) client(requested int32, toks ...string) (*pubsub.Client, *session) {
	o.t.Helper()
	return o.clientWith(requested, nil, toks...)
}

// clientWith is client with extra dial options (interceptors).
func (o *org) clientWith(requested int32, extra []grpc.DialOption, toks ...string) (*pubsub.Client, *session) {
	o.t.Helper()
	if len(toks) == 0 {
		toks = []string{o.token(salesforce.IntegrationUsername)}
	}
	s := &session{inst: o.rest.URL, toks: toks}
	o.mu.Lock()
	addr := o.addr
	o.mu.Unlock()
	c, err := pubsub.New(pubsub.Config{
		Addr: addr, Session: s, TenantID: o.em.OrgID(), Requested: requested,
		DialOptions: append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, extra...),
		Backoff:     func(int) time.Duration { return 20 * time.Millisecond },
	})
	if err != nil {
		o.t.Fatal(err)
	}
	o.t.Cleanup(func() { _ = c.Close() })
	return c, s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// collect streams until n events were handled and returns them.
func collect(t *testing.T, c *pubsub.Client, from pubsub.Position, n int) []pubsub.Event {
	t.Helper()
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var got []pubsub.Event
	err := c.Stream(ctx, topic, from, func(_ context.Context, ev pubsub.Event) error {
		got = append(got, ev)
		if len(got) == n {
			cancel()
		}
		return nil
	})
	if len(got) != n {
		t.Fatalf("got %d events of %d: %v", len(got), n, err)
	}
	return got
}

func TestReceivesTriggeredAndPublishedEvents(t *testing.T) {
	o := newOrg(t, empubsub.Options{})
	id := o.edit("acme")
	c, _ := o.client(0)
	replays, err := c.Publish(testCtx(t), topic, map[string]any{"ObjectType__c": "BillingBalance__c", "RecordId__c": "a01000000000001AAA", "ChangeType__c": "DELETE"})
	if err != nil || len(replays) != 1 {
		t.Fatal(replays, err)
	}
	got := collect(t, c, pubsub.Earliest, 2)
	sales, _ := o.em.SessionUser(o.token(salesforce.SalesUsername))
	if p := got[0].Payload; p["ObjectType__c"] != "BillingAccount__c" || p["RecordId__c"] != id || p["ChangeType__c"] != "INSERT" || p["CreatedById"] != sales {
		t.Errorf("triggered event %v", p)
	}
	if p := got[1].Payload; p["ObjectType__c"] != "BillingBalance__c" || p["ChangeType__c"] != "DELETE" {
		t.Errorf("published event %v", p)
	}
	if !bytes.Equal(got[1].ReplayID, replays[0]) {
		t.Errorf("published replay id %x, delivered %x", replays[0], got[1].ReplayID)
	}
	bus := o.em.Bus().Events(topic)
	if got[0].ID != bus[0].UUID || got[0].SchemaID == "" {
		t.Errorf("event id %q schema %q, bus uuid %q", got[0].ID, got[0].SchemaID, bus[0].UUID)
	}

	// Through the change-source seam, an event looks as the CometD
	// subscriber hands it to the listener.
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var se billsync.StreamEvent
	err = c.Subscribe(ctx, topic, billsync.ReplayAll, func(_ context.Context, ev billsync.StreamEvent) error {
		se = ev
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if !se.ReplayID.Equal(empubsub.ReplayBytes(bus[0].ReplayID, false)) || se.EventUUID != bus[0].UUID || se.CreatedByID != sales || se.Channel != topic {
		t.Errorf("stream event %+v, bus event %+v", se, bus[0])
	}
	created, _ := time.Parse(time.RFC3339, bus[0].Payload["CreatedDate"].(string))
	if !se.CreatedDate.Equal(created) || se.Payload["CreatedDate"] != bus[0].Payload["CreatedDate"] {
		t.Errorf("CreatedDate %v / %v, published %v / %v", se.CreatedDate, se.Payload["CreatedDate"], bus[0].Time, bus[0].Payload["CreatedDate"])
	}
}

// TestFlowControl: the client never holds more events unapplied, or owed
// by the server, than its window, and asks for more as it applies them.
func TestFlowControl(t *testing.T) {
	o := newOrg(t, empubsub.Options{})
	const window, total = 4, 25
	for i := range total {
		o.edit("acct" + string(rune('a'+i)))
	}
	var schemaFetches atomic.Int32
	count := grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if strings.HasSuffix(method, "/GetSchema") {
			schemaFetches.Add(1)
		}
		return invoker(ctx, method, req, reply, cc, opts...)
	})
	c, _ := o.clientWith(window, []grpc.DialOption{count})
	applied := 0
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var last []byte
	err := c.Stream(ctx, topic, pubsub.Earliest, func(_ context.Context, ev pubsub.Event) error {
		requested, delivered := o.server().Flow()
		if held := delivered - int64(applied); held > window {
			t.Errorf("%d events delivered and not applied, window %d", held, window)
		}
		if owed := requested - int64(applied); owed > window {
			t.Errorf("%d events requested and not applied, window %d", owed, window)
		}
		if last != nil && bytes.Compare(ev.ReplayID, last) <= 0 {
			t.Errorf("replay id %x after %x", ev.ReplayID, last)
		}
		last = ev.ReplayID
		applied++
		if applied == total {
			cancel()
		}
		return nil
	})
	if applied != total {
		t.Fatalf("applied %d of %d: %v", applied, total, err)
	}
	if n := schemaFetches.Load(); n != 1 {
		t.Errorf("fetched the schema %d times for %d events of one schema id", n, total)
	}
	if requested, _ := o.server().Flow(); requested < total {
		t.Errorf("requested %d in all, fewer than the %d applied", requested, total)
	}
}

// TestReplayAfterReconnect: a stream that drops resumes after the last
// handled event; a new subscription from a stored id gets exactly the
// later events.
func TestReplayAfterReconnect(t *testing.T) {
	o := newOrg(t, empubsub.Options{})
	for _, n := range []string{"a", "b"} {
		o.edit(n)
	}
	c, _ := o.client(0)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var got []string
	handled := make(chan struct{}, 10)
	done := make(chan error, 1)
	go func() {
		done <- c.Stream(ctx, topic, pubsub.Earliest, func(_ context.Context, ev pubsub.Event) error {
			got = append(got, ev.Payload["RecordId__c"].(string))
			handled <- struct{}{}
			if len(got) == 4 {
				cancel()
			}
			return nil
		})
	}()
	for range 2 {
		select {
		case <-handled:
		case <-ctx.Done():
			t.Fatal("first events not received")
		}
	}
	o.stop() // drops the stream
	c3, c4 := o.edit("c"), o.edit("d")
	o.start(o.addr)
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if len(got) != 4 || got[2] != c3 || got[3] != c4 {
		t.Fatalf("after the reconnect got %v, want the first two then %s %s", got, c3, c4)
	}

	// A new subscription from a stored replay id.
	bus := o.em.Bus().Events(topic)
	stored := empubsub.ReplayBytes(bus[1].ReplayID, false)
	evs := collect(t, c, pubsub.After(stored), 2)
	if evs[0].Payload["RecordId__c"] != c3 || evs[1].Payload["RecordId__c"] != c4 {
		t.Errorf("replay after the second event got %v, %v", evs[0].Payload, evs[1].Payload)
	}
}

func TestOpaqueReplayIDs(t *testing.T) {
	o := newOrg(t, empubsub.Options{WideReplayIDs: true})
	o.edit("a")
	second := o.edit("b")
	c, _ := o.client(0)
	first := collect(t, c, pubsub.Earliest, 1)[0]
	if len(first.ReplayID) != 10 {
		t.Fatalf("replay id %x", first.ReplayID)
	}
	if ev := collect(t, c, pubsub.After(first.ReplayID), 1)[0]; ev.Payload["RecordId__c"] != second {
		t.Errorf("replay from a 10-byte id got %v", ev.Payload)
	}
	// The listener gets the bytes as they are, and a subscription from
	// them resumes after that event.
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	var got []billsync.ReplayID
	err := c.Subscribe(ctx, topic, billsync.ReplayAll, func(_ context.Context, ev billsync.StreamEvent) error {
		got = append(got, ev.ReplayID)
		if len(got) == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || len(got) != 2 || !got[0].Equal(first.ReplayID) || len(got[1]) != 10 {
		t.Fatalf("Subscribe with 10-byte ids: %v, %v", err, got)
	}
	ctx, cancel = context.WithCancel(testCtx(t))
	defer cancel()
	var next billsync.StreamEvent
	err = c.Subscribe(ctx, topic, got[0], func(_ context.Context, ev billsync.StreamEvent) error {
		next = ev
		cancel()
		return nil
	})
	if !errors.Is(err, context.Canceled) || !next.ReplayID.Equal(got[1]) || next.Payload["RecordId__c"] != second {
		t.Errorf("Subscribe after a 10-byte id: %v, %+v", err, next)
	}
}

func TestBadReplayID(t *testing.T) {
	o := newOrg(t, empubsub.Options{})
	o.edit("a")
	c, _ := o.client(0)
	held := o.em.Bus().Events(topic)[0].ReplayID
	cases := []struct {
		name string
		from pubsub.Position
		code string
	}{
		{"never issued", pubsub.After(empubsub.ReplayBytes(held+1000, false)), empubsub.CodeReplayIDCorrupted},
		// A CometD replay id is no Pub/Sub position.
		{"cometd's", pubsub.After(binary.BigEndian.AppendUint64(nil, uint64(held))), empubsub.CodeReplayIDValidation},
		{"malformed", pubsub.After([]byte{0, 1, 2}), empubsub.CodeReplayIDValidation},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Stream(testCtx(t), topic, tc.from, func(context.Context, pubsub.Event) error { return nil })
			var pe *pubsub.Error
			if !errors.As(err, &pe) || pe.Code != codes.InvalidArgument || pe.ErrorCode != tc.code || pe.RPCID == "" {
				t.Fatalf("error %#v", err)
			}
			if !errors.Is(err, billsync.ErrReplayGap) {
				t.Errorf("%v does not match ErrReplayGap", err)
			}
		})
	}
	// Expired: the event fell out of the retention window.
	o.edit("b")
	o.em.Bus().Purge(time.Now().Add(time.Hour))
	err := c.Subscribe(testCtx(t), topic, empubsub.ReplayBytes(held, false), func(context.Context, billsync.StreamEvent) error { return nil })
	if !errors.Is(err, billsync.ErrReplayGap) {
		t.Errorf("purged replay id: %v", err)
	}
}

func TestAuth(t *testing.T) {
	o := newOrg(t, empubsub.Options{})
	c, s := o.client(0, "not-a-token")
	_, err := c.Topic(testCtx(t), topic)
	var pe *pubsub.Error
	if !errors.As(err, &pe) || pe.Code != codes.Unauthenticated || pe.ErrorCode != empubsub.CodeAuth {
		t.Fatalf("wrong token: %#v", err)
	}
	if len(s.inv) != 1 {
		t.Errorf("invalidated %v; want the refused token reported once, then the error", s.inv)
	}

	// A refused token is replaced from the session and the stream goes on.
	o.edit("a")
	c2, s2 := o.client(0, "expired", o.token(salesforce.IntegrationUsername))
	if ev := collect(t, c2, pubsub.Earliest, 1)[0]; ev.Payload["ObjectType__c"] != "BillingAccount__c" {
		t.Errorf("event %v", ev.Payload)
	}
	if len(s2.inv) != 1 || s2.inv[0] != "expired" {
		t.Errorf("invalidated %v", s2.inv)
	}

	// The right token for another org is refused too.
	good := o.token(salesforce.IntegrationUsername)
	other, err := pubsub.New(pubsub.Config{Addr: o.addr, Session: &session{inst: o.rest.URL, toks: []string{good}}, TenantID: "00D000000000001AAA",
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Topic(testCtx(t), topic); !errors.As(err, &pe) || pe.Code != codes.Unauthenticated {
		t.Errorf("wrong tenant: %v", err)
	}
}
