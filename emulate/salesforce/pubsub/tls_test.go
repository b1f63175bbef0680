package pubsub_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/billsync/billsync/emulate/salesforce"
	empubsub "github.com/billsync/billsync/emulate/salesforce/pubsub"
	"github.com/billsync/billsync/salesforce/pubsub"
)

type tokenSession struct{ tok string }

func (s tokenSession) Session(context.Context) (string, string, error) {
	return "https://emulated.my.salesforce.com", s.tok, nil
}
func (tokenSession) Invalidate(string) {}

// TestTLS: one Server serves TLS with its generated certificate and
// plaintext side by side; billsync's client reaches the TLS listener by
// name and by address when it trusts the CA file, and is refused by the
// handshake when it trusts only the system roots.
func TestTLS(t *testing.T) {
	em, err := salesforce.New(salesforce.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = em.Close() })
	cert, err := empubsub.NewCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if pemBytes, err := os.ReadFile(cert.CAFile); err != nil || !bytes.Contains(pemBytes, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("CA file %s: %v", cert.CAFile, err)
	}
	srv := empubsub.New(em, empubsub.Options{})
	t.Cleanup(srv.Stop)
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plainLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(tlsLn, cert) }()
	go func() { _ = srv.Serve(plainLn) }()
	tok, err := em.IssueToken(salesforce.IntegrationUsername)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(tlsLn.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client := func(addr string, creds credentials.TransportCredentials) *pubsub.Client {
		c, err := pubsub.New(pubsub.Config{Addr: addr, Session: tokenSession{tok}, TenantID: em.OrgID(),
			DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(creds)}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}

	for _, host := range []string{"localhost", "127.0.0.1"} {
		c := client(net.JoinHostPort(host, port), credentials.NewTLS(cert.ClientConfig()))
		replays, err := c.Publish(ctx, "/event/BillingObjectChange__e",
			map[string]any{"ObjectType__c": "BillingAccount__c", "RecordId__c": "a00000000000001AAA", "ChangeType__c": "UPDATE"})
		if err != nil || len(replays) != 1 {
			t.Fatalf("publish over TLS to %s: %v %v", host, replays, err)
		}
		var got pubsub.Event
		sctx, stop := context.WithCancel(ctx)
		_ = c.Stream(sctx, "/event/BillingObjectChange__e", pubsub.Earliest, func(_ context.Context, ev pubsub.Event) error {
			if bytes.Equal(ev.ReplayID, replays[0]) {
				got = ev
				stop()
			}
			return nil
		})
		stop()
		if got.Payload["RecordId__c"] != "a00000000000001AAA" {
			t.Errorf("over TLS to %s the published event was not streamed back: %+v", host, got)
		}
	}

	plain := client(plainLn.Addr().String(), insecure.NewCredentials())
	if _, err := plain.Topic(ctx, "/event/BillingObjectChange__e"); err != nil {
		t.Errorf("plaintext beside TLS: %v", err)
	}
	untrusting := client(net.JoinHostPort("localhost", port), credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12}))
	_, err = untrusting.Topic(ctx, "/event/BillingObjectChange__e")
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a client trusting only the system roots: %v, want a handshake failure", err)
	}
}
