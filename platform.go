package billsync

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Billing platforms billsync knows by name (the config's billing.platform).
// Each is a package behind Billing that registers itself; a known name
// whose package is not in the binary is refused with a clear message
// rather than a crash.
const (
	PlatformContract = "contract" // billsync's own billing contract (SPEC §5.1–5.2)
	PlatformStripe   = "stripe"
	PlatformM3ter    = "m3ter"
	// PlatformMonetizeNow is a source of quotes only.
	PlatformMonetizeNow = "monetizenow"
)

// BillingPlatformNames are the values billing.platform accepts; an empty
// one is the contract, as in a config written before the setting.
var BillingPlatformNames = []string{PlatformContract, PlatformStripe, PlatformM3ter, PlatformMonetizeNow}

// BillingOptions is what a platform's adapter is built from: the config's
// billing section.
type BillingOptions struct {
	URL           string
	Token         string
	WebhookSecret string
	HTTPClient    *http.Client     // nil: the adapter's default
	Clock         func() time.Time // nil: time.Now; webhook timestamps are checked against it
	// Options are the platform's own settings (the config's
	// billing.options), by name; an adapter refuses a name it does not
	// know, so a typo is caught at start.
	Options map[string]string
}

// BillingWebhooks verifies and decodes a platform's webhooks; it is the
// shape httpserver.WebhookDecoder asks for, declared here so a platform
// can be opened without the HTTP server. Decode may return several
// changes (one Stripe event can change a customer and its balance), each
// with its own EventID derived from webhookID, or none for an event
// billsync has no use for (answered 200, stored nowhere).
type BillingWebhooks interface {
	Verify(h http.Header, body []byte) (webhookID string, err error)
	Decode(webhookID string, body []byte, now time.Time) ([]*Change, error)
}

// TransactionScanner is what a platform offers whose balance transactions
// raise no events of their own (Stripe, m3ter: a new transaction shows
// only as a change of its balance). On such a balance change the engine
// lists the balance's transactions newest first until one it already
// knows and queues the rest as created.
type TransactionScanner interface {
	// RecentTransactions pages through the transactions of a balance,
	// newest first; next is "" on the last page.
	RecentTransactions(ctx context.Context, balanceID, cursor string, limit int) (page []Entity, next string, err error)
}

// BillingPoller is what a platform offers whose webhooks can be missed or
// do not cover every change (Stripe sends no quote.updated and keeps
// events 30 days): billsync polls it periodically. Poll returns the
// changes seen after checkpoint (the value a previous Poll returned, ""
// on the first) and the checkpoint to store once they are queued. Each
// change's EventID is stable, so a change seen by both a webhook and a
// poll is queued once.
type BillingPoller interface {
	Poll(ctx context.Context, checkpoint string) (changes []*Change, next string, err error)
}

// BillingAdapter is one billing platform opened: its client and its
// webhook format.
type BillingAdapter struct {
	Billing  Billing
	Webhooks BillingWebhooks
}

// BillingPlatform is a registered platform: Open builds its adapter.
type BillingPlatform struct {
	Name string
	Open func(BillingOptions) (*BillingAdapter, error)
}

var (
	platformsMu sync.RWMutex
	platforms   = map[string]BillingPlatform{}
)

// RegisterBillingPlatform makes a platform available under its name; an
// adapter package calls it from init. The name must be one of
// BillingPlatformNames, registered once.
func RegisterBillingPlatform(p BillingPlatform) {
	platformsMu.Lock()
	defer platformsMu.Unlock()
	if !slices.Contains(BillingPlatformNames, p.Name) {
		panic(fmt.Sprintf("billsync: billing platform %q is not one of %s", p.Name, strings.Join(BillingPlatformNames, ", ")))
	}
	if _, dup := platforms[p.Name]; dup || p.Open == nil {
		panic(fmt.Sprintf("billsync: billing platform %q registered twice or without Open", p.Name))
	}
	platforms[p.Name] = p
}

// CheckBillingPlatform says whether name can be opened in this binary,
// naming the setting in its error: an unknown name, or a known platform
// whose adapter is not built in yet.
func CheckBillingPlatform(name string) error {
	_, err := billingPlatform(name)
	return err
}

func billingPlatform(name string) (BillingPlatform, error) {
	if strings.TrimSpace(name) == "" {
		name = PlatformContract
	}
	if !slices.Contains(BillingPlatformNames, name) {
		return BillingPlatform{}, Errorf(EINVALID, "billing.platform %q: want one of %s", name, strings.Join(BillingPlatformNames, ", "))
	}
	platformsMu.RLock()
	p, ok := platforms[name]
	platformsMu.RUnlock()
	if !ok {
		return BillingPlatform{}, Errorf(EINVALID, "billing.platform %s is not available in this build yet", name)
	}
	return p, nil
}

// OpenBillingPlatform builds the adapter of the named platform.
func OpenBillingPlatform(name string, o BillingOptions) (*BillingAdapter, error) {
	p, err := billingPlatform(name)
	if err != nil {
		return nil, err
	}
	a, err := p.Open(o)
	if err != nil {
		return nil, err
	}
	if a == nil || a.Billing == nil || a.Webhooks == nil {
		return nil, Errorf(EINTERNAL, "billing.platform %s: its adapter opened without a client or webhook decoder", name)
	}
	return a, nil
}
