package pubsub

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

const topic = "/event/BillingObjectChange__e"

type rig struct {
	em   *salesforce.Emulator
	srv  *Server
	api  pb.PubSubClient
	tok  string
	user string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	em, err := salesforce.New(salesforce.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close() })
	srv := New(em, Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	tok, err := em.IssueToken(salesforce.IntegrationUsername)
	if err != nil {
		t.Fatal(err)
	}
	user, _ := em.SessionUser(tok)
	return &rig{em: em, srv: srv, api: pb.NewPubSubClient(conn), tok: tok, user: user}
}

func (r *rig) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return metadata.AppendToOutgoingContext(ctx, "accessToken", r.tok, "instanceUrl", "https://emulated.my.salesforce.com", "tenantId", r.em.OrgID())
}

func (r *rig) publish(t *testing.T, n int) []int64 {
	t.Helper()
	var ids []int64
	for range n {
		ev, err := r.em.PublishEvent(r.user, "BillingObjectChange__e", map[string]any{"ObjectType__c": "BillingAccount__c", "RecordId__c": "a00000000000001AAA", "ChangeType__c": "UPDATE"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.ReplayID)
	}
	return ids
}

func replayOf(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) - replayBase }

// TestCreditIsNeverExceeded: the server sends at most the credit granted,
// reports what it still owes, and resumes exactly where it stopped when
// granted more.
func TestCreditIsNeverExceeded(t *testing.T) {
	r := newRig(t)
	ids := r.publish(t, 5)
	ctx := r.ctx(t)
	st, err := r.api.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.FetchRequest{TopicName: topic, ReplayPreset: pb.ReplayPreset_EARLIEST, NumRequested: 2}); err != nil {
		t.Fatal(err)
	}
	var got []int64
	var pending int32 = -1
	for len(got) < 2 {
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.GetEvents() {
			got = append(got, replayOf(ev.GetReplayId()))
		}
		pending = resp.GetPendingNumRequested()
	}
	if pending != 0 {
		t.Errorf("pending_num_requested after the credit was used = %d", pending)
	}
	if req, del := r.srv.Flow(); req != 2 || del != 2 {
		t.Errorf("flow: requested %d, delivered %d; want 2 and 2", req, del)
	}
	// Had the server sent anything past its credit, it would come before
	// these: the stream is ordered.
	if err := st.Send(&pb.FetchRequest{NumRequested: 2}); err != nil {
		t.Fatal(err)
	}
	for len(got) < 4 {
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range resp.GetEvents() {
			got = append(got, replayOf(ev.GetReplayId()))
		}
	}
	for i, id := range got {
		if id != ids[i] {
			t.Fatalf("event %d has replay id %d, want %d (got %v of %v)", i, id, ids[i], got, ids)
		}
	}
}

func TestErrorsCarryTrailers(t *testing.T) {
	r := newRig(t)
	r.publish(t, 1)
	cases := []struct {
		name string
		req  *pb.FetchRequest
		code codes.Code
		ec   string
	}{
		{"replay id never issued", &pb.FetchRequest{TopicName: topic, ReplayPreset: pb.ReplayPreset_CUSTOM, ReplayId: binary.BigEndian.AppendUint64(nil, 1<<40), NumRequested: 1}, codes.InvalidArgument, CodeReplayIDCorrupted},
		{"malformed replay id", &pb.FetchRequest{TopicName: topic, ReplayPreset: pb.ReplayPreset_CUSTOM, ReplayId: []byte{1, 2}, NumRequested: 1}, codes.InvalidArgument, CodeReplayIDValidation},
		{"no credit", &pb.FetchRequest{TopicName: topic, NumRequested: 0}, codes.InvalidArgument, CodeRequestedInvalid},
		{"unknown topic", &pb.FetchRequest{TopicName: "/event/Nope__e", NumRequested: 1}, codes.NotFound, CodeTopicNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := r.api.Subscribe(r.ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(c.req); err != nil {
				t.Fatal(err)
			}
			_, err = st.Recv()
			if status.Code(err) != c.code {
				t.Fatalf("status %v, want %v", err, c.code)
			}
			tr := st.Trailer()
			if got := tr.Get("error-code"); len(got) != 1 || got[0] != c.ec {
				t.Errorf("error-code %v, want %s", got, c.ec)
			}
			if len(tr.Get("rpc-id")) != 1 {
				t.Errorf("no rpc-id trailer: %v", tr)
			}
		})
	}
}

func TestTopicAndSchema(t *testing.T) {
	r := newRig(t)
	ctx := r.ctx(t)
	info, err := r.api.GetTopic(ctx, &pb.TopicRequest{TopicName: topic})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetTenantGuid() != r.em.OrgID() || !info.GetCanSubscribe() || info.GetSchemaId() == "" {
		t.Errorf("topic info %v", info)
	}
	s, err := r.api.GetSchema(ctx, &pb.SchemaRequest{SchemaId: info.GetSchemaId()})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"fields":[{"name":"CreatedDate","type":"long","doc":"CreatedDate:DateTime"},{"name":"CreatedById","type":"string","doc":"CreatedBy:EntityId"},`
	if got := s.GetSchemaJson(); len(got) < len(want) || got[:len(want)] != want {
		t.Errorf("schema %s", got)
	}
	var tr metadata.MD
	bad := metadata.AppendToOutgoingContext(context.Background(), "accesstoken", "nope", "instanceurl", "https://x", "tenantid", r.em.OrgID())
	if _, err := r.api.GetTopic(bad, &pb.TopicRequest{TopicName: topic}, grpc.Trailer(&tr)); status.Code(err) != codes.Unauthenticated || tr.Get("error-code")[0] != CodeAuth {
		t.Errorf("wrong token: %v %v", err, tr)
	}
}

// TestKeepAlive: an idle subscription with credit left gets empty
// responses carrying the latest replay id and the credit still owed.
func TestKeepAlive(t *testing.T) {
	r := newRig(t)
	r.srv.opts.KeepAlive = 20 * time.Millisecond
	ids := r.publish(t, 2)
	st, err := r.api.Subscribe(r.ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.FetchRequest{TopicName: topic, ReplayPreset: pb.ReplayPreset_LATEST, NumRequested: 3}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetEvents()) != 0 || replayOf(resp.GetLatestReplayId()) != ids[1] || resp.GetPendingNumRequested() != 3 {
		t.Errorf("keepalive %v, want no events, latest %d, pending 3", resp, ids[1])
	}
	// A later request naming another topic is refused.
	if err := st.Send(&pb.FetchRequest{TopicName: "/event/Other__e", NumRequested: 1}); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err = st.Recv(); err != nil {
			break
		}
	}
	if status.Code(err) != codes.InvalidArgument || len(st.Trailer().Get("error-code")) != 1 {
		t.Errorf("topic switch: %v, trailer %v", err, st.Trailer())
	}
}
