package pubsub

import (
	"bytes"
	"testing"

	"github.com/hamba/avro/v2"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

// TestPublishStream: each PublishRequest on the stream gets one response,
// in order, whose replay ids name the events the bus now holds; an
// unknown topic ends the stream with NOT_FOUND and the error-code trailer.
// (The npm client's publishBatch publishes this way; the server once
// answered UNIMPLEMENTED.)
func TestPublishStream(t *testing.T) {
	r := newRig(t)
	ctx := r.ctx(t)
	info, err := r.api.GetTopic(ctx, &pb.TopicRequest{TopicName: topic})
	if err != nil {
		t.Fatal(err)
	}
	si, err := r.api.GetSchema(ctx, &pb.SchemaRequest{SchemaId: info.GetSchemaId()})
	if err != nil {
		t.Fatal(err)
	}
	schema, err := avro.Parse(si.GetSchemaJson())
	if err != nil {
		t.Fatal(err)
	}
	event := func(id, record string) *pb.ProducerEvent {
		payload, err := avro.Marshal(schema, map[string]any{"CreatedDate": int64(0), "CreatedById": "",
			"ObjectType__c": "BillingAccount__c", "RecordId__c": record, "ChangeType__c": "UPDATE"})
		if err != nil {
			t.Fatal(err)
		}
		return &pb.ProducerEvent{Id: id, SchemaId: info.GetSchemaId(), Payload: payload}
	}
	st, err := r.api.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	batches := [][]*pb.ProducerEvent{
		{event("k1", "a00000000000001AAA"), event("k2", "a00000000000002AAA")},
		{event("k3", "a00000000000003AAA")},
	}
	var replays [][]byte
	for _, batch := range batches {
		if err := st.Send(&pb.PublishRequest{TopicName: topic, Events: batch}); err != nil {
			t.Fatal(err)
		}
		resp, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.GetResults()) != len(batch) || resp.GetSchemaId() != info.GetSchemaId() || resp.GetRpcId() == "" {
			t.Fatalf("response %v to a batch of %d", resp, len(batch))
		}
		for i, res := range resp.GetResults() {
			if res.GetError() != nil || res.GetCorrelationKey() != batch[i].GetId() {
				t.Errorf("result %v for event %s", res, batch[i].GetId())
			}
			replays = append(replays, res.GetReplayId())
		}
	}
	bus := r.em.Bus().Events(topic)
	if len(bus) != 3 {
		t.Fatalf("the bus holds %d events, want 3", len(bus))
	}
	for i, ev := range bus {
		if !bytes.Equal(replays[i], r.srv.replayBytes(ev.ReplayID)) || ev.Payload["RecordId__c"] != "a0000000000000"+string(rune('1'+i))+"AAA" || ev.Payload["CreatedById"] != r.user {
			t.Errorf("bus event %d: %+v, replay id sent %x", i, ev, replays[i])
		}
	}

	if err := st.Send(&pb.PublishRequest{TopicName: "/event/Nope__e", Events: batches[1]}); err != nil {
		t.Fatal(err)
	}
	_, err = st.Recv()
	if status.Code(err) != codes.NotFound || len(st.Trailer().Get("error-code")) != 1 || st.Trailer().Get("error-code")[0] != CodeTopicNotFound {
		t.Errorf("unknown topic: %v, trailer %v", err, st.Trailer())
	}
}
