package pubsub

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

// credit is one Subscribe stream's outstanding request count, shared by
// the goroutine reading FetchRequests and the one sending events.
type credit struct {
	mu      sync.Mutex
	n       int32
	err     error         // why the reading side ended
	changed chan struct{} // closed and replaced on every change
}

func (c *credit) update(f func()) {
	c.mu.Lock()
	f()
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()
}

func (c *credit) get() (int32, error, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.err, c.changed
}

// Subscribe delivers the topic's events past the first FetchRequest's
// replay position, never more than the credit the FetchRequests granted
// and not yet used (capped at MaxRequested outstanding).
func (s *Server) Subscribe(stream pb.PubSub_SubscribeServer) error {
	ctx := stream.Context()
	s.mu.Lock()
	s.streams++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.streams--
		s.mu.Unlock()
	}()
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	topic := first.GetTopicName()
	ts, ok := s.schemaFor(topic)
	if !ok || !s.em.Bus().Exists(topic) {
		return fail(ctx, stream.SetTrailer, codes.NotFound, CodeTopicNotFound, fmt.Sprintf("Topic %s not found.", topic))
	}
	if first.GetNumRequested() <= 0 {
		return fail(ctx, stream.SetTrailer, codes.InvalidArgument, CodeRequestedInvalid, "The number of requested events must be greater than 0.")
	}
	var from int64
	switch first.GetReplayPreset() {
	case pb.ReplayPreset_LATEST:
		from = -1
	case pb.ReplayPreset_EARLIEST:
		from = -2
	case pb.ReplayPreset_CUSTOM:
		id, ok := s.replayInt(first.GetReplayId())
		if !ok {
			return fail(ctx, stream.SetTrailer, codes.InvalidArgument, CodeReplayIDValidation,
				"The Replay ID validation failed. Ensure that the Replay ID is valid.")
		}
		from = id
	default:
		return fail(ctx, stream.SetTrailer, codes.InvalidArgument, CodeReplayIDValidation, "Unknown replay preset.")
	}
	cursor, err := s.em.Bus().Position(topic, from)
	if err != nil {
		return fail(ctx, stream.SetTrailer, codes.InvalidArgument, CodeReplayIDCorrupted,
			"The Replay ID validation failed. Ensure that the Replay ID is valid and within the retention window.")
	}

	cr := &credit{changed: make(chan struct{})}
	grant := func(n int32) {
		s.mu.Lock()
		s.requested += int64(n)
		s.mu.Unlock()
		cr.update(func() { cr.n = min(cr.n+n, MaxRequested) })
	}
	grant(first.GetNumRequested())
	go func() {
		for {
			req, err := stream.Recv()
			// A refused request is reported by the sending loop: trailers
			// must not be set while it may be sending.
			if err == nil && req.GetTopicName() != "" && req.GetTopicName() != topic {
				err = &refusal{codes.InvalidArgument, CodeRequestedInvalid,
					fmt.Sprintf("A FetchRequest named topic %s on a subscription to %s.", req.GetTopicName(), topic)}
			}
			if err == nil && req.GetNumRequested() <= 0 {
				err = &refusal{codes.InvalidArgument, CodeRequestedInvalid, "The number of requested events must be greater than 0."}
			}
			if err != nil {
				if err == io.EOF {
					err = errEOF // the client closed its side: end the stream
				}
				cr.update(func() { cr.err = err })
				return
			}
			grant(req.GetNumRequested())
		}
	}()

	bus := s.em.Bus()
	keepalive := time.NewTimer(s.opts.KeepAlive)
	defer keepalive.Stop()
	for {
		n, rerr, creditChanged := cr.get()
		if rerr != nil {
			var r *refusal
			switch {
			case rerr == errEOF:
				return nil
			case errors.As(rerr, &r):
				return fail(ctx, stream.SetTrailer, r.code, r.errorCode, r.msg)
			}
			return rerr
		}
		var published <-chan struct{}
		if n > 0 {
			evs, wake := bus.After(topic, cursor, int(n))
			published = wake
			if len(evs) > 0 {
				resp := &pb.FetchResponse{RpcId: uuid.NewString()}
				for _, ev := range evs {
					ce, err := s.encode(ts, ev)
					if err != nil {
						return fail(ctx, stream.SetTrailer, codes.Internal, "sfdc.platform.eventbus.grpc.service.unavailable", "The service is unavailable. Try again later.")
					}
					resp.Events = append(resp.Events, ce)
				}
				cursor = evs[len(evs)-1].ReplayID
				resp.LatestReplayId = s.replayBytes(cursor)
				var left int32
				cr.update(func() { cr.n -= int32(len(evs)); left = cr.n })
				resp.PendingNumRequested = left
				s.mu.Lock()
				s.delivered += int64(len(evs))
				s.mu.Unlock()
				if err := stream.Send(resp); err != nil {
					return err
				}
				keepalive.Reset(s.opts.KeepAlive)
				continue
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-creditChanged:
		case <-published:
		case <-keepalive.C:
			if n > 0 {
				// Nothing to deliver: tell the client where the stream
				// stands so it can move its stored position forward.
				if err := stream.Send(&pb.FetchResponse{LatestReplayId: s.replayBytes(cursor), PendingNumRequested: n, RpcId: uuid.NewString()}); err != nil {
					return err
				}
			}
			keepalive.Reset(s.opts.KeepAlive)
		}
	}
}

// errEOF marks a client that closed its sending side.
var errEOF = fmt.Errorf("client closed the stream")

// refusal is a later FetchRequest the server refuses.
type refusal struct {
	code      codes.Code
	errorCode string
	msg       string
}

func (r *refusal) Error() string { return r.msg }
