// Package pubsub is a client of the Salesforce Pub/Sub API (gRPC, package
// eventbus.v1 generated into salesforce/pubsub/pb): a subscriber with
// explicit flow control and replay from opaque replay ids, Avro decoding
// with schemas fetched by id and cached, reconnects with backoff, and a
// publisher. Client implements billsync.ChangeSource, the seam the CometD
// subscriber implements, for the platform event the trigger publishes and
// for Change Data Capture channels, whose field bitmaps it decodes into
// names (cdc.go).
package pubsub

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

// DefaultAddr is Salesforce's global Pub/Sub endpoint. Some networks only
// pass port 443, which Salesforce serves too.
const DefaultAddr = "api.pubsub.salesforce.com:7443"

// MaxRequested is the most events Salesforce lets one subscription have
// outstanding.
const MaxRequested = 100

// Session supplies the org's instance URL and a current access token (the
// REST client implements it, as for the CometD subscriber).
type Session interface {
	Session(ctx context.Context) (instanceURL, accessToken string, err error)
	// Invalidate reports that accessToken was refused; the next Session
	// call must fetch a new one.
	Invalidate(accessToken string)
}

// Config configures a Client.
type Config struct {
	Addr     string // host:port; DefaultAddr when empty
	Session  Session
	TenantID string // the org id, sent as the tenantid metadata
	// DialOptions replace the default transport (TLS with the system's
	// roots); tests pass insecure credentials to reach the emulator.
	DialOptions []grpc.DialOption
	// Requested is the flow-control window: the most events received and
	// not yet handled plus those requested and not yet received. 1 to
	// MaxRequested; MaxRequested when 0.
	Requested int32
	// Backoff is the wait before reconnect attempt n (1, 2, …); jittered
	// exponential from 1 s, capped at 60 s, when nil.
	Backoff func(attempt int) time.Duration
	Logger  *slog.Logger
}

// Client talks to one org's Pub/Sub API over one gRPC connection.
type Client struct {
	cfg  Config
	log  *slog.Logger
	conn *grpc.ClientConn
	api  pb.PubSubClient

	mu        sync.Mutex
	schemas   map[string]avro.Schema // by schema id: a backlog may mix ids
	connected bool
	lastErr   error
}

// New returns a Client; the connection is made on first use.
func New(cfg Config) (*Client, error) {
	if cfg.Session == nil {
		return nil, errors.New("pubsub: a Session is required")
	}
	if cfg.TenantID == "" {
		return nil, errors.New("pubsub: the org id (TenantID) is required: Salesforce refuses calls without the tenantid header")
	}
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Requested <= 0 || cfg.Requested > MaxRequested {
		cfg.Requested = MaxRequested
	}
	if cfg.Backoff == nil {
		cfg.Backoff = DefaultBackoff
	}
	opts := cfg.DialOptions
	if len(opts) == 0 {
		opts = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}))}
	}
	conn, err := grpc.NewClient(cfg.Addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("pubsub: %w", err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Client{cfg: cfg, log: log.With("component", "salesforce/pubsub"), conn: conn, api: pb.NewPubSubClient(conn), schemas: map[string]avro.Schema{}}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// DefaultBackoff is full-jitter exponential backoff from 1 s to 60 s.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Second << min(max(attempt-1, 0), 6)
	d = min(d, time.Minute)
	return d/2 + rand.N(d/2+1)
}

// Health is nil while a subscription's stream is open and says why not
// otherwise (runner.SourceHealth).
func (c *Client) Health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.connected:
		return nil
	case c.lastErr != nil:
		return fmt.Errorf("the Salesforce Pub/Sub stream is not connected: %w", c.lastErr)
	}
	return errors.New("the Salesforce Pub/Sub stream is not connected yet")
}

func (c *Client) setConnected(ok bool, err error) {
	c.mu.Lock()
	c.connected, c.lastErr = ok, err
	c.mu.Unlock()
}

// Error is a failed RPC as Salesforce reports it: the gRPC status and the
// error-code and rpc-id trailers (quote the rpc id to Salesforce support).
type Error struct {
	Code      codes.Code
	ErrorCode string // e.g. sfdc.platform.eventbus.grpc.subscription.fetch.replayid.corrupted
	RPCID     string
	Message   string
}

func (e *Error) Error() string {
	if e.ErrorCode == "" {
		return fmt.Sprintf("pubsub: %s: %s", e.Code, e.Message)
	}
	return fmt.Sprintf("pubsub: %s (%s): %s", e.Code, e.ErrorCode, e.Message)
}

// Is makes a refused replay id match billsync.ErrReplayGap: the stored
// position is invalid or older than the org keeps, so events may be lost.
func (e *Error) Is(target error) bool {
	return target == billsync.ErrReplayGap && strings.Contains(e.ErrorCode, ".replayid.")
}

// auth reports a refused access token.
func (e *Error) auth() bool {
	return e.Code == codes.Unauthenticated || strings.Contains(e.ErrorCode, ".auth.")
}

func rpcError(err error, trailer metadata.MD) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message()}
	if v := trailer.Get("error-code"); len(v) > 0 {
		e.ErrorCode = v[0]
	}
	if v := trailer.Get("rpc-id"); len(v) > 0 {
		e.RPCID = v[0]
	}
	return e
}

// authCtx adds the auth metadata Salesforce reads on every RPC.
func (c *Client) authCtx(ctx context.Context) (context.Context, string, error) {
	inst, tok, err := c.cfg.Session.Session(ctx)
	if err != nil {
		return nil, "", err
	}
	return metadata.AppendToOutgoingContext(ctx, "accesstoken", tok, "instanceurl", inst, "tenantid", c.cfg.TenantID), tok, nil
}

// unary runs one RPC, fetching a new token once when the first is refused.
func unary[T any](c *Client, ctx context.Context, call func(context.Context, ...grpc.CallOption) (T, error)) (T, error) {
	var zero T
	for attempt := 0; ; attempt++ {
		actx, tok, err := c.authCtx(ctx)
		if err != nil {
			return zero, err
		}
		var trailer metadata.MD
		out, err := call(actx, grpc.Trailer(&trailer))
		if err == nil {
			return out, nil
		}
		err = rpcError(err, trailer)
		var pe *Error
		if attempt == 0 && errors.As(err, &pe) && pe.auth() {
			c.cfg.Session.Invalidate(tok)
			continue
		}
		return zero, err
	}
}

// Topic returns a topic's description, with its current schema id.
func (c *Client) Topic(ctx context.Context, topic string) (*pb.TopicInfo, error) {
	return unary(c, ctx, func(ctx context.Context, o ...grpc.CallOption) (*pb.TopicInfo, error) {
		return c.api.GetTopic(ctx, &pb.TopicRequest{TopicName: topic}, o...)
	})
}

// Schema returns the Avro schema of an id, fetched once and cached: a
// schema id names one schema forever, and events are decoded with the
// schema they were written with, never the topic's current one.
func (c *Client) Schema(ctx context.Context, id string) (avro.Schema, error) {
	c.mu.Lock()
	s := c.schemas[id]
	c.mu.Unlock()
	if s != nil {
		return s, nil
	}
	info, err := unary(c, ctx, func(ctx context.Context, o ...grpc.CallOption) (*pb.SchemaInfo, error) {
		return c.api.GetSchema(ctx, &pb.SchemaRequest{SchemaId: id}, o...)
	})
	if err != nil {
		return nil, err
	}
	s, err = avro.Parse(info.GetSchemaJson())
	if err != nil {
		return nil, fmt.Errorf("pubsub: schema %s: %w", id, err)
	}
	c.mu.Lock()
	c.schemas[id] = s
	c.mu.Unlock()
	return s, nil
}

// Publish publishes events to a topic, each encoded with the topic's
// current schema, and returns their replay ids in order. A refused event
// fails the call with the org's message.
func (c *Client) Publish(ctx context.Context, topic string, events ...map[string]any) ([][]byte, error) {
	info, err := c.Topic(ctx, topic)
	if err != nil {
		return nil, err
	}
	schema, err := c.Schema(ctx, info.GetSchemaId())
	if err != nil {
		return nil, err
	}
	req := &pb.PublishRequest{TopicName: topic}
	now := time.Now().UnixMilli()
	for i, ev := range events {
		// Every platform event schema requires these two; Salesforce
		// stamps its own values on publish.
		ev = maps.Clone(ev)
		if _, ok := ev["CreatedDate"]; !ok {
			ev["CreatedDate"] = now
		}
		if _, ok := ev["CreatedById"]; !ok {
			ev["CreatedById"] = ""
		}
		payload, err := avro.Marshal(schema, ev)
		if err != nil {
			return nil, fmt.Errorf("pubsub: event %d: %w", i, err)
		}
		req.Events = append(req.Events, &pb.ProducerEvent{Id: fmt.Sprint(i), SchemaId: info.GetSchemaId(), Payload: payload})
	}
	resp, err := unary(c, ctx, func(ctx context.Context, o ...grpc.CallOption) (*pb.PublishResponse, error) {
		return c.api.Publish(ctx, req, o...)
	})
	if err != nil {
		return nil, err
	}
	ids := make([][]byte, 0, len(resp.GetResults()))
	for i, r := range resp.GetResults() {
		if e := r.GetError(); e != nil {
			return ids, fmt.Errorf("pubsub: event %d refused: %s", i, e.GetMsg())
		}
		ids = append(ids, r.GetReplayId())
	}
	return ids, nil
}
