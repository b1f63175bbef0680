package stripeapi

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/billsync/billsync"
)

// eventLog serves GET /v1/events over a fixed history, newest first, with
// Stripe's starting_after / ending_before paging.
type eventLog struct {
	mu  sync.Mutex
	ids []string // oldest first
}

func (l *eventLog) page(q url.Values) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	newest := slices.Clone(l.ids)
	slices.Reverse(newest)
	limit := 10
	fmt.Sscan(q.Get("limit"), &limit)
	idx := func(id string) int { return slices.Index(newest, id) }
	var sel []string
	more := false
	switch {
	case q.Get("ending_before") != "":
		end := idx(q.Get("ending_before"))
		start := max(0, end-limit)
		sel, more = newest[start:end], start > 0
	default:
		start := 0
		if a := q.Get("starting_after"); a != "" {
			start = idx(a) + 1
		}
		end := min(start+limit, len(newest))
		sel, more = newest[start:end], end < len(newest)
	}
	var data []string
	for _, id := range sel {
		data = append(data, evt(id, "customer.updated", strings.Replace(acme, "cus_1", "cus_"+id, 1), `{"name":"x"}`, ""))
	}
	return fmt.Sprintf(`{"object":"list","has_more":%v,"data":[%s]}`, more, strings.Join(data, ","))
}

func TestPoll(t *testing.T) {
	t.Parallel()
	log := &eventLog{}
	for i := 1; i <= 5; i++ {
		log.ids = append(log.ids, fmt.Sprintf("evt_%03d", i))
	}
	var draftDesc sync.Map
	draftDesc.Store("d", "first")
	fk := newFake(t, func(w http.ResponseWriter, r *http.Request, _ url.Values) {
		switch r.URL.Path {
		case "/v1/events":
			write(w, 200, log.page(r.URL.Query()))
		case "/v1/quotes":
			d, _ := draftDesc.Load("d")
			write(w, 200, `{"object":"list","has_more":false,"data":[{"id":"qt_d","object":"quote","status":"draft","customer":"cus_1","currency":"usd","description":"`+d.(string)+`"}]}`)
		case "/v1/quotes/qt_d/line_items":
			write(w, 200, `{"object":"list","has_more":false,"data":[]}`)
		default:
			write(w, 404, `{"error":{"code":"resource_missing","message":"no"}}`)
		}
	})
	c := clientFor(t, fk, nil)
	ctx := t.Context()

	changes, cp, err := c.Poll(ctx, "")
	if err != nil || len(changes) != 0 || cp != "evt_005" {
		t.Fatalf("first poll: %v %q %v", changes, cp, err)
	}
	for _, r := range fk.requests() {
		if r.Path == "/v1/events" && !slices.Equal(r.Query["types[]"], NeededEvents()) {
			t.Errorf("events asked for %v", r.Query["types[]"])
		}
	}

	// 225 newer events: three pages of at most 100.
	log.mu.Lock()
	for i := 6; i <= 230; i++ {
		log.ids = append(log.ids, fmt.Sprintf("evt_%03d", i))
	}
	log.mu.Unlock()
	changes, cp, err = c.Poll(ctx, "evt_005")
	if err != nil {
		t.Fatal(err)
	}
	if cp != "evt_230" {
		t.Errorf("checkpoint %q", cp)
	}
	var accounts []string
	var drafts []*billsync.Change
	for _, ch := range changes {
		if ch.Object == billsync.ObjectQuote {
			drafts = append(drafts, ch)
			continue
		}
		accounts = append(accounts, ch.EventID)
	}
	if len(accounts) != 225 || accounts[0] != "stripe:evt_006" || accounts[224] != "stripe:evt_230" {
		t.Errorf("%d changes, first %v", len(accounts), accounts[:min(3, len(accounts))])
	}
	for i := 1; i < len(accounts); i++ {
		if accounts[i] <= accounts[i-1] {
			t.Fatalf("out of order at %d: %s after %s", i, accounts[i], accounts[i-1])
		}
	}
	// The webhook of the same event gives the same EventID.
	w := hooks(t, "")
	body := log.page(url.Values{"ending_before": {"evt_005"}, "limit": {"1"}})
	body = body[strings.Index(body, "[")+1 : strings.LastIndex(body, "]")]
	if cs := decodeAll(t, w, body); len(cs) != 1 || cs[0].EventID != "stripe:evt_006" {
		t.Errorf("webhook event ids %v", summary(cs))
	}

	if len(drafts) != 1 || !strings.HasPrefix(drafts[0].EventID, "stripe:quote:qt_d:") || drafts[0].Partition != "quote:qt_d" {
		t.Fatalf("drafts %v", drafts)
	}
	// An unchanged draft keeps its EventID; an edited one gets a new one.
	again, cp2, err := c.Poll(ctx, cp)
	if err != nil || cp2 != cp || len(again) != 1 || again[0].EventID != drafts[0].EventID {
		t.Fatalf("unchanged poll: %v %q %v", again, cp2, err)
	}
	draftDesc.Store("d", "second")
	edited, _, err := c.Poll(ctx, cp)
	if err != nil || len(edited) != 1 || edited[0].EventID == drafts[0].EventID {
		t.Errorf("edited draft: %v %v", edited, err)
	}

	// With quotes finalized, drafts are not polled.
	f := clientFor(t, fk, map[string]string{"quotes": "finalized"})
	if cs, _, err := f.Poll(ctx, cp); err != nil || len(cs) != 0 {
		t.Errorf("finalized mode polled %v %v", cs, err)
	}
}

func TestOpen(t *testing.T) {
	t.Parallel()
	a, err := billsync.OpenBillingPlatform(billsync.PlatformStripe, billsync.BillingOptions{Token: "rk_live_x", WebhookSecret: "whsec_x",
		Options: map[string]string{"rateLimit": "5", "quotes": "finalized", "apiVersion": "2025-01-01.acacia"}})
	if err != nil {
		t.Fatal(err)
	}
	c := a.Billing.(*Client)
	if c.base != DefaultURL || c.apiVersion != "2025-01-01.acacia" || c.quotes != quotesFinalized {
		t.Errorf("client %+v", c)
	}
	caps := c.Capabilities()
	if caps.Platform != "stripe" || caps.Versioning != billsync.VersionNone || !caps.BalanceAmountWritable || caps.TransactionsUpdatable ||
		caps.TransactionsDeletable || caps.QuotesCarryOfferings || !caps.SignedWebhooks || caps.TransactionEvents ||
		!slices.Equal(caps.TransactionMutableFields, []string{"description", "customFields."}) {
		t.Errorf("capabilities %+v", caps)
	}
	for _, tc := range []struct {
		o    billsync.BillingOptions
		want string
	}{
		{billsync.BillingOptions{Token: "pk_test_x", WebhookSecret: "whsec_x"}, "billing.token"},
		{billsync.BillingOptions{Token: "sk_test_x", WebhookSecret: "x"}, "billing.webhookSecret"},
		{billsync.BillingOptions{Token: "sk_test_x", WebhookSecret: "whsec_x", Options: map[string]string{"ratelimit": "1"}}, "billing.options.ratelimit"},
		{billsync.BillingOptions{Token: "sk_test_x", WebhookSecret: "whsec_x", Options: map[string]string{"rateLimit": "0"}}, "billing.options.rateLimit"},
		{billsync.BillingOptions{Token: "sk_test_x", WebhookSecret: "whsec_x", Options: map[string]string{"quotes": "all"}}, "billing.options.quotes"},
	} {
		if _, err := Open(tc.o); billsync.ErrorCode(err) != billsync.EINVALID || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want an error naming %s", tc.o, err, tc.want)
		}
	}
}
