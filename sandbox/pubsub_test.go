package sandbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/pubsub"
)

type tokenSession struct{ tok string }

func (s tokenSession) Session(context.Context) (string, string, error) {
	return "https://emulated.my.salesforce.com", s.tok, nil
}
func (tokenSession) Invalidate(string) {}

// TestPubSubTLS: with the pubsub stream the sandbox also serves the
// Pub/Sub API over TLS, with 8-byte replay ids, names its address and
// certificate file in the banner, and a client trusting that file reaches
// it, also after the API was stopped and started again.
func TestPubSubTLS(t *testing.T) {
	sb, err := Start(context.Background(), Options{NoApp: true, Stream: StreamPubSub}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sb.Close() })
	addr, caFile := sb.PubSubTLS()
	if addr == "" || addr == sb.PubSubAddr {
		t.Fatalf("TLS address %q beside plaintext %q", addr, sb.PubSubAddr)
	}
	var banner strings.Builder
	if err := sb.WriteBanner(&banner); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(banner.String(), addr) || !strings.Contains(banner.String(), caFile) {
		t.Errorf("banner does not name the TLS address %s and certificate %s:\n%s", addr, caFile, banner.String())
	}
	pemBytes, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	tok, err := sb.SF.IssueToken(sfemu.IntegrationUsername)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pubsub.New(pubsub.Config{Addr: addr, Session: tokenSession{tok}, TenantID: sb.SF.OrgID(),
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	getTopic := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := c.Topic(ctx, "/event/BillingObjectChange__e")
		return err
	}
	if err := getTopic(); err != nil {
		t.Fatalf("GetTopic over TLS: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	replays, err := c.Publish(ctx, "/event/BillingObjectChange__e", map[string]any{"ObjectType__c": "BillingAccount__c", "RecordId__c": "a00000000000001AAA", "ChangeType__c": "UPDATE"})
	if err != nil || len(replays) != 1 || len(replays[0]) != 8 {
		t.Errorf("publish over TLS: %x, %v; want one 8-byte replay id", replays, err)
	}
	// A stream on the TLS listener is not billsync's: PubSubFlow, which
	// tests of billsync's flow control read, does not count it.
	sctx, stop := context.WithCancel(ctx)
	var got int
	_ = c.Stream(sctx, "/event/BillingObjectChange__e", pubsub.Earliest, func(context.Context, pubsub.Event) error {
		got++
		stop()
		return nil
	})
	stop()
	if req, _ := sb.PubSubFlow(); got != 1 || req != 0 {
		t.Errorf("streamed %d events over TLS; PubSubFlow counts %d requested, want 0", got, req)
	}
	if err := sb.StopPubSub(); err != nil {
		t.Fatal(err)
	}
	if err := sb.StartPubSub(); err != nil {
		t.Fatal(err)
	}
	// The client reconnects on its own; give it a busy machine's time.
	deadline := time.Now().Add(20 * time.Second)
	for err = getTopic(); err != nil && time.Now().Before(deadline); err = getTopic() {
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GetTopic over TLS after a restart: %v", err)
	}
}
