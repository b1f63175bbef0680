// Package pubsub serves the Salesforce Pub/Sub API (gRPC service
// eventbus.v1.PubSub, from the official pubsub_api.proto) for the
// Salesforce emulator: GetTopic, GetSchema, Subscribe with credit-based
// flow control and replay, Publish and PublishStream, over the emulator's
// own event bus and sessions, so an event a trigger or a REST publish put
// on the bus is delivered here too, with Avro-encoded payloads
// (hamba/avro).
//
// Real Salesforce serves it over TLS on api.pubsub.salesforce.com:7443;
// the emulator serves it on listeners of its own: plaintext HTTP/2 (h2c)
// with Serve, TLS with a certificate it generates (NewCert) with ServeTLS.
package pubsub

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hamba/avro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/emulate/salesforce/streaming"
	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

// MaxRequested is the most events one Subscribe may have outstanding;
// Salesforce treats a larger credit as 100.
const MaxRequested = 100

// Error codes Salesforce sends in the error-code trailer.
const (
	CodeReplayIDCorrupted  = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted"
	CodeReplayIDValidation = "sfdc.platform.eventbus.grpc.subscription.fetch.replayid.validation.failed"
	CodeRequestedInvalid   = "sfdc.platform.eventbus.grpc.subscription.fetch.requested.events.invalid"
	CodeAuth               = "sfdc.platform.eventbus.grpc.service.auth.error"
	// The two below are the emulator's own: the real codes for an unknown
	// topic or schema were not in the researched sources.
	CodeTopicNotFound  = "sfdc.platform.eventbus.grpc.topic.not.found"
	CodeSchemaNotFound = "sfdc.platform.eventbus.grpc.schema.not.found"
)

// Options configures a Server.
type Options struct {
	// KeepAlive is how often an idle subscription with credit left gets an
	// empty FetchResponse carrying the latest replay id; Salesforce sends
	// one at least every 270 s, the default.
	KeepAlive time.Duration
	// WideReplayIDs makes replay ids 10 bytes instead of 8, as some real
	// orgs send them, to catch clients that treat them as integers.
	WideReplayIDs bool
	Logger        *slog.Logger
}

// Server is the Pub/Sub API of one emulated org.
type Server struct {
	pb.UnimplementedPubSubServer
	em   *salesforce.Emulator
	opts Options
	log  *slog.Logger
	grpc *grpc.Server

	mu        sync.Mutex
	schemas   map[string]*topicSchema // by schema id
	requested int64                   // credit granted by all FetchRequests
	delivered int64                   // events sent on all Subscribe streams
	streams   int                     // Subscribe streams open
}

type topicSchema struct {
	id, json string
	schema   avro.Schema
	fields   []salesforce.EventField
	cdc      bool // a change event: ChangeEventHeader, then the object's fields
}

// New returns a Server for em; extra grpc options (TLS credentials,
// keepalive policy) are passed to the gRPC server.
func New(em *salesforce.Emulator, opts Options, gopts ...grpc.ServerOption) *Server {
	if opts.KeepAlive <= 0 {
		opts.KeepAlive = 270 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Server{em: em, opts: opts, log: log.With("component", "emulate/salesforce/pubsub"), schemas: map[string]*topicSchema{}}
	gopts = append(gopts, grpc.UnaryInterceptor(s.authUnary), grpc.StreamInterceptor(s.authStream))
	s.grpc = grpc.NewServer(gopts...)
	pb.RegisterPubSubServer(s.grpc, s)
	return s
}

// Serve serves gRPC on l until Stop.
func (s *Server) Serve(l net.Listener) error { return s.grpc.Serve(l) }

// Stop closes the listeners and every open stream.
func (s *Server) Stop() { s.grpc.Stop() }

// Flow reports the credit all FetchRequests granted and the events all
// Subscribe streams sent, for tests of flow control.
func (s *Server) Flow() (requested, delivered int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requested, s.delivered
}

// Streams reports the Subscribe streams open. A client that closed its
// stream is gone from the count only once the server has seen it go;
// until then an event published meanwhile may still be sent on it.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams
}

// fail is an RPC error as Salesforce reports it: a gRPC status whose
// message ends in the rpc id, and error-code and rpc-id trailers.
func fail(ctx context.Context, setTrailer func(metadata.MD), c codes.Code, errorCode, msg string) error {
	rpcID := uuid.NewString()
	setTrailer(metadata.Pairs("error-code", errorCode, "rpc-id", rpcID))
	return status.Error(c, msg+" rpcId: "+rpcID)
}

func unaryTrailer(ctx context.Context) func(metadata.MD) {
	return func(md metadata.MD) { _ = grpc.SetTrailer(ctx, md) }
}

type ctxUser struct{}

// authenticate checks the accesstoken, instanceurl and tenantid metadata
// (gRPC lowercases keys on the wire, so camelCase senders match too).
func (s *Server) authenticate(ctx context.Context) (string, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	first := func(k string) string {
		if v := md.Get(k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	tok, inst, tenant := first("accesstoken"), first("instanceurl"), first("tenantid")
	if tok == "" || inst == "" || !sameOrg(tenant, s.em.OrgID()) {
		return "", false
	}
	return s.em.SessionUser(tok)
}

// sameOrg reports whether tenant names the org: its 18-character id, or
// the 15-character form that starts every access token, which clients
// such as the salesforce-pubsub-api-client npm package send when they
// take the org id from the token.
func sameOrg(tenant, orgID string) bool {
	return tenant == orgID || (len(tenant) == 15 && len(orgID) == 18 && tenant == orgID[:15])
}

const authMsg = "An error occurred while authenticating: the access token, instance URL or tenant id was not accepted."

func (s *Server) authUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	user, ok := s.authenticate(ctx)
	if !ok {
		return nil, fail(ctx, unaryTrailer(ctx), codes.Unauthenticated, CodeAuth, authMsg)
	}
	return h(context.WithValue(ctx, ctxUser{}, user), req)
}

type userStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (u userStream) Context() context.Context { return u.ctx }

func (s *Server) authStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	user, ok := s.authenticate(ss.Context())
	if !ok {
		return fail(ss.Context(), ss.SetTrailer, codes.Unauthenticated, CodeAuth, authMsg)
	}
	return h(srv, userStream{ss, context.WithValue(ss.Context(), ctxUser{}, user)})
}

// eventObject is the platform event object a topic names, "" for others.
func eventObject(topic string) string {
	name, ok := strings.CutPrefix(topic, "/event/")
	if !ok || name == "" {
		return ""
	}
	return name
}

// schemaFor is the topic's current schema, registered under its id: a
// platform event's (/event/…) or an object's change event (/data/…).
func (s *Server) schemaFor(topic string) (*topicSchema, bool) {
	if entity := changeEventEntity(topic); entity != "" {
		_, fields, ok := s.em.ChangeEventFields(entity)
		if !ok {
			return nil, false
		}
		return s.register(topic, cdcSchemaJSON(entity, fields), fields, true), true
	}
	obj := eventObject(topic)
	if obj == "" {
		return nil, false
	}
	fields, ok := s.em.PlatformEvent(obj)
	if !ok {
		return nil, false
	}
	return s.register(topic, schemaJSON(obj, fields), fields, false), true
}

// register keeps a schema under its id, a fingerprint of its JSON: the id
// changes when the object's fields do, and an id names one schema forever.
func (s *Server) register(topic, js string, fields []salesforce.EventField, cdc bool) *topicSchema {
	sum := sha256.Sum256([]byte(js))
	id := base64.RawURLEncoding.EncodeToString(sum[:16])
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts := s.schemas[id]; ts != nil {
		return ts
	}
	sch, err := avro.Parse(js)
	if err != nil {
		// The schema is built from the org's own describe; a parse
		// failure is an emulator bug, not a client error.
		panic(fmt.Sprintf("pubsub emulator: schema of %s: %v", topic, err))
	}
	ts := &topicSchema{id: id, json: js, schema: sch, fields: fields, cdc: cdc}
	s.schemas[id] = ts
	return ts
}

// schemaJSON is a platform event's Avro schema in the shape a real org
// returns: CreatedDate (epoch ms) and CreatedById first, then each custom
// field as a ["null", T] union defaulting to null.
func schemaJSON(object string, fields []salesforce.EventField) string {
	type field struct {
		Name    string `json:"name"`
		Type    any    `json:"type"`
		Doc     string `json:"doc"`
		Default any    `json:"default,omitempty"`
	}
	type nullable struct {
		field
		Default *struct{} `json:"default"`
	}
	out := []any{
		field{Name: "CreatedDate", Type: "long", Doc: "CreatedDate:DateTime"},
		field{Name: "CreatedById", Type: "string", Doc: "CreatedBy:EntityId"},
	}
	for _, f := range fields {
		if !f.Custom {
			continue
		}
		out = append(out, nullable{field: field{Name: f.Name, Type: []string{"null", avroType(f.Type)}, Doc: "Data:" + f.Type}})
	}
	b, _ := json.Marshal(map[string]any{"type": "record", "name": object, "namespace": "com.sforce.eventbus", "fields": out})
	return string(b)
}

func avroType(describe string) string {
	switch describe {
	case "boolean":
		return "boolean"
	case "double", "currency", "percent":
		return "double"
	case "int":
		return "int"
	case "datetime":
		return "long"
	}
	return "string"
}

// replayBase offsets the bus's replay ids (1, 2, …, shared with CometD)
// in the bytes Pub/Sub clients see: real ids are large numbers, not small
// ones, and a CometD replay id sent as a Pub/Sub one is refused, as a real
// org refuses it (the two transports' positions are not interchangeable).
const replayBase = 1 << 40

// replayBytes encodes a bus replay id as the opaque bytes clients see.
func (s *Server) replayBytes(id int64) []byte { return ReplayBytes(id, s.opts.WideReplayIDs) }

// ReplayBytes is the Pub/Sub replay id of the emulator's event with bus
// (CometD) replay id id: 8 bytes, or 10 with Options.WideReplayIDs. Tests
// use it to name an event's position; clients must treat it as opaque.
func ReplayBytes(id int64, wide bool) []byte {
	n := 8
	if wide {
		n = 10
	}
	b := make([]byte, n)
	binary.BigEndian.PutUint64(b, uint64(id+replayBase))
	return b
}

// replayInt decodes replay bytes this server issued.
func (s *Server) replayInt(b []byte) (int64, bool) {
	want := 8
	if s.opts.WideReplayIDs {
		want = 10
	}
	if len(b) != want {
		return 0, false
	}
	for _, c := range b[8:] {
		if c != 0 {
			return 0, false
		}
	}
	raw := binary.BigEndian.Uint64(b[:8])
	if raw < replayBase || raw > replayBase+1<<48 {
		return 0, false
	}
	return int64(raw - replayBase), true
}

func (s *Server) GetTopic(ctx context.Context, r *pb.TopicRequest) (*pb.TopicInfo, error) {
	ts, ok := s.schemaFor(r.GetTopicName())
	if !ok {
		return nil, fail(ctx, unaryTrailer(ctx), codes.NotFound, CodeTopicNotFound, fmt.Sprintf("Topic %s not found.", r.GetTopicName()))
	}
	// Only Salesforce publishes change events.
	return &pb.TopicInfo{TopicName: r.GetTopicName(), TenantGuid: s.em.OrgID(), CanPublish: !ts.cdc, CanSubscribe: true, SchemaId: ts.id, RpcId: uuid.NewString()}, nil
}

func (s *Server) GetSchema(ctx context.Context, r *pb.SchemaRequest) (*pb.SchemaInfo, error) {
	s.mu.Lock()
	ts := s.schemas[r.GetSchemaId()]
	s.mu.Unlock()
	if ts == nil {
		return nil, fail(ctx, unaryTrailer(ctx), codes.NotFound, CodeSchemaNotFound, fmt.Sprintf("Schema %s not found.", r.GetSchemaId()))
	}
	return &pb.SchemaInfo{SchemaJson: ts.json, SchemaId: ts.id, RpcId: uuid.NewString()}, nil
}

// Publish decodes each event with the schema it names and publishes it as
// the authenticated user, the way a REST insert of the event would.
func (s *Server) Publish(ctx context.Context, r *pb.PublishRequest) (*pb.PublishResponse, error) {
	resp, ok := s.publish(ctx, r)
	if !ok {
		return nil, fail(ctx, unaryTrailer(ctx), codes.NotFound, CodeTopicNotFound, fmt.Sprintf("Topic %s not found.", r.GetTopicName()))
	}
	return resp, nil
}

// PublishStream answers each PublishRequest with one PublishResponse, in
// order, as Publish would; an unknown topic ends the stream. Clients such
// as the salesforce-pubsub-api-client npm package publish batches this way.
func (s *Server) PublishStream(stream pb.PubSub_PublishStreamServer) error {
	ctx := stream.Context()
	for {
		r, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		resp, ok := s.publish(ctx, r)
		if !ok {
			return fail(ctx, stream.SetTrailer, codes.NotFound, CodeTopicNotFound, fmt.Sprintf("Topic %s not found.", r.GetTopicName()))
		}
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
}

// publish publishes a request's events; ok is false for an unknown topic.
func (s *Server) publish(ctx context.Context, r *pb.PublishRequest) (*pb.PublishResponse, bool) {
	topic := r.GetTopicName()
	cur, ok := s.schemaFor(topic)
	if !ok {
		return nil, false
	}
	user, _ := ctx.Value(ctxUser{}).(string)
	resp := &pb.PublishResponse{SchemaId: cur.id, RpcId: uuid.NewString()}
	for _, pe := range r.GetEvents() {
		res := &pb.PublishResult{CorrelationKey: pe.GetId()}
		if cur.cdc {
			res.Error = &pb.Error{Code: pb.ErrorCode_PUBLISH, Msg: "Change events are published by Salesforce only; " + topic + " accepts no publish."}
			resp.Results = append(resp.Results, res)
			continue
		}
		ev, err := s.publishOne(user, topic, pe)
		if err != nil {
			res.Error = &pb.Error{Code: pb.ErrorCode_PUBLISH, Msg: err.Error()}
		} else {
			res.ReplayId = s.replayBytes(ev.ReplayID)
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, true
}

func (s *Server) publishOne(user, topic string, pe *pb.ProducerEvent) (streaming.Event, error) {
	s.mu.Lock()
	ts := s.schemas[pe.GetSchemaId()]
	s.mu.Unlock()
	if ts == nil {
		return streaming.Event{}, fmt.Errorf("unknown schema id %q", pe.GetSchemaId())
	}
	var m map[string]any
	if err := avro.Unmarshal(ts.schema, pe.GetPayload(), &m); err != nil {
		return streaming.Event{}, fmt.Errorf("payload does not match schema %s: %v", ts.id, err)
	}
	body := map[string]any{}
	for _, f := range ts.fields {
		v, ok := m[f.Name]
		if !f.Custom || !ok {
			continue // CreatedDate and CreatedById are the org's to set
		}
		body[f.Name] = restValue(v)
	}
	return s.em.PublishEvent(user, eventObject(topic), body)
}

// restValue turns a decoded Avro value into its REST JSON form.
func restValue(v any) any {
	switch x := v.(type) {
	case int:
		return json.Number(fmt.Sprint(x))
	case int32:
		return json.Number(fmt.Sprint(x))
	case int64:
		return json.Number(fmt.Sprint(x))
	case float32:
		return json.Number(fmt.Sprint(x))
	case float64:
		return json.Number(fmt.Sprint(x))
	}
	return v
}

// encode writes a bus event in the topic's current schema.
func (s *Server) encode(ts *topicSchema, ev streaming.Event) (*pb.ConsumerEvent, error) {
	if ts.cdc {
		return s.encodeCDC(ts, ev)
	}
	m := map[string]any{}
	created := ev.Time
	if cd, ok := ev.Payload["CreatedDate"].(string); ok {
		if t, err := time.Parse("2006-01-02T15:04:05.000Z", cd); err == nil {
			created = t
		}
	}
	m["CreatedDate"] = created.UnixMilli()
	by, _ := ev.Payload["CreatedById"].(string)
	m["CreatedById"] = by
	for _, f := range ts.fields {
		if !f.Custom {
			continue
		}
		v, err := avroValue(avroType(f.Type), ev.Payload[f.Name])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		m[f.Name] = v
	}
	return s.consumerEvent(ts, ev, m)
}

// consumerEvent encodes m, an event's record, with its topic's schema.
func (s *Server) consumerEvent(ts *topicSchema, ev streaming.Event, m map[string]any) (*pb.ConsumerEvent, error) {
	payload, err := avro.Marshal(ts.schema, m)
	if err != nil {
		return nil, err
	}
	return &pb.ConsumerEvent{
		Event:    &pb.ProducerEvent{Id: ev.UUID, SchemaId: ts.id, Payload: payload},
		ReplayId: s.replayBytes(ev.ReplayID),
	}, nil
}

// avroValue converts a payload value in REST JSON form to the Go type the
// Avro encoder resolves the union branch by.
func avroValue(typ string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	var num json.Number
	switch x := v.(type) {
	case json.Number:
		num = x
	case float64:
		num = json.Number(fmt.Sprint(x))
	case string:
		if typ == "string" {
			return x, nil
		}
		if typ == "long" { // a datetime field
			t, err := time.Parse("2006-01-02T15:04:05.000Z0700", x)
			if err != nil {
				return nil, err
			}
			return t.UnixMilli(), nil
		}
		return nil, fmt.Errorf("string value for an Avro %s", typ)
	case bool:
		if typ == "boolean" {
			return x, nil
		}
		return nil, fmt.Errorf("boolean value for an Avro %s", typ)
	default:
		return nil, fmt.Errorf("unexpected value %T", v)
	}
	switch typ {
	case "double":
		return num.Float64()
	case "int":
		n, err := num.Int64()
		return int32(n), err
	case "long":
		return num.Int64()
	case "string":
		return num.String(), nil
	}
	return nil, fmt.Errorf("number for an Avro %s", typ)
}
