package sandbox

import (
	"errors"
	"fmt"
	"net"
	"sync"

	pubsubemu "github.com/billsync/billsync/emulate/salesforce/pubsub"
)

// The event transports Options.Stream names, as salesforce.stream does.
const (
	StreamCometD = "cometd"
	StreamPubSub = "pubsub"
)

// pubsubServer is the Salesforce emulator's Pub/Sub API on a listener of
// its own, beside the REST one, as a real org serves it on another host.
// It can be stopped and started again on the same address, so tests can
// take the stream away under a running billsync.
//
// A second server over the same org listens with TLS on tlsAddr, with a
// certificate generated at start, for real clients (which always speak
// TLS); billsync keeps the plaintext one, which salesforce.pubsubInsecure
// reaches, and PubSubFlow counts its streams only.
type pubsubServer struct {
	mu      sync.Mutex
	s       *Sandbox
	addr    string
	tlsAddr string
	cert    *pubsubemu.Cert
	srv     *pubsubemu.Server // nil while stopped
	tlsSrv  *pubsubemu.Server // serves tlsAddr; nil while stopped
}

// startPubSub serves the Pub/Sub API on addr ("" picks a free port).
func (s *Sandbox) startPubSub(addr string) error {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cert, err := pubsubemu.NewCert(s.opts.Data)
	if err != nil {
		return fmt.Errorf("salesforce Pub/Sub emulator: %w", err)
	}
	ps := &pubsubServer{s: s, cert: cert}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("salesforce Pub/Sub emulator: %w", err)
	}
	// TLS on the plaintext listener's host, so both are reachable alike.
	host, _, _ := net.SplitHostPort(ln.Addr().String())
	tlsLn, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		ln.Close()
		return fmt.Errorf("salesforce Pub/Sub emulator (TLS): %w", err)
	}
	ps.addr, ps.tlsAddr = ln.Addr().String(), tlsLn.Addr().String()
	s.pubsub = ps
	s.PubSubAddr = ps.addr
	ps.serve(ln, tlsLn)
	return nil
}

// PubSubTLS is where the emulator's Pub/Sub API listens with TLS and the
// PEM file of its certificate, for clients to trust; "" unless
// Options.Stream is pubsub. (The salesforce-pubsub-api-client npm package
// trusts only the roots it ships, so it needs rejectUnauthorizedSsl: false.)
func (s *Sandbox) PubSubTLS() (addr, caFile string) {
	if s.pubsub == nil {
		return "", ""
	}
	return s.pubsub.tlsAddr, s.pubsub.cert.CAFile
}

func (p *pubsubServer) serve(ln, tlsLn net.Listener) {
	log := p.s.log.With("party", "salesforce-pubsub")
	// Plaintext (h2c): billsync reaches it with salesforce.pubsubInsecure.
	// Replay ids are 10 bytes, as some real orgs send them, so anything
	// that treats them as integers fails here and not in production.
	srv := pubsubemu.New(p.s.SF, pubsubemu.Options{WideReplayIDs: true, Logger: log})
	// TLS, for other clients: 8-byte replay ids, as Salesforce sends them
	// today, which clients such as the salesforce-pubsub-api-client npm
	// package read as one 64-bit number and write back so.
	tlsSrv := pubsubemu.New(p.s.SF, pubsubemu.Options{Logger: log.With("tls", true)})
	p.mu.Lock()
	p.srv, p.tlsSrv = srv, tlsSrv
	p.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil {
			p.s.log.Error("salesforce Pub/Sub emulator stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	go func() {
		if err := tlsSrv.ServeTLS(tlsLn, p.cert); err != nil {
			p.s.log.Error("salesforce Pub/Sub emulator (TLS) stopped", "addr", tlsLn.Addr().String(), "err", err)
		}
	}()
}

func (p *pubsubServer) stop() {
	p.mu.Lock()
	srv, tlsSrv := p.srv, p.tlsSrv
	p.srv, p.tlsSrv = nil, nil
	p.mu.Unlock()
	if srv != nil {
		srv.Stop()
		tlsSrv.Stop()
	}
}

// StopPubSub stops the Pub/Sub API: the listener closes and every open
// stream ends, as when Salesforce's endpoint is unreachable.
func (s *Sandbox) StopPubSub() error {
	if s.pubsub == nil {
		return errors.New("sandbox: the Pub/Sub API is not running (Options.Stream is not pubsub)")
	}
	s.pubsub.stop()
	return nil
}

// StartPubSub serves the Pub/Sub API again on the address it had; events
// published meanwhile are retained and replayed.
func (s *Sandbox) StartPubSub() error {
	if s.pubsub == nil {
		return errors.New("sandbox: the Pub/Sub API is not running (Options.Stream is not pubsub)")
	}
	s.pubsub.stop()
	ln, err := net.Listen("tcp", s.pubsub.addr)
	if err != nil {
		return fmt.Errorf("salesforce Pub/Sub emulator: %w", err)
	}
	tlsLn, err := net.Listen("tcp", s.pubsub.tlsAddr)
	if err != nil {
		ln.Close()
		return fmt.Errorf("salesforce Pub/Sub emulator (TLS): %w", err)
	}
	s.pubsub.serve(ln, tlsLn)
	return nil
}

// PubSubFlow reports the credit billsync's FetchRequests granted and the
// events the Pub/Sub API sent it, since the API last started.
func (s *Sandbox) PubSubFlow() (requested, delivered int64) {
	if s.pubsub == nil {
		return 0, 0
	}
	s.pubsub.mu.Lock()
	srv := s.pubsub.srv
	s.pubsub.mu.Unlock()
	if srv == nil {
		return 0, 0
	}
	return srv.Flow()
}

// PubSubStreams reports the Subscribe streams the Pub/Sub API has open.
func (s *Sandbox) PubSubStreams() int {
	if s.pubsub == nil {
		return 0
	}
	s.pubsub.mu.Lock()
	srv := s.pubsub.srv
	s.pubsub.mu.Unlock()
	if srv == nil {
		return 0
	}
	return srv.Streams()
}
