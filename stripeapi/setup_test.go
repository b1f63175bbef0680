package stripeapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// endpointStore is a fake of Stripe's webhook endpoints.
type endpointStore struct {
	mu  sync.Mutex
	eps []endpoint
	n   int
}

func (s *endpointStore) handle(w http.ResponseWriter, r *http.Request, f url.Values) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := strings.TrimPrefix(r.URL.Path, "/v1/webhook_endpoints/")
	switch {
	case r.URL.Path == "/v1/account":
		write(w, 200, `{"id":"acct_1","object":"account"}`)
	case r.URL.Path == "/v1/customers" || strings.HasSuffix(r.URL.Path, "/balance_transactions") || r.URL.Path == "/v1/quotes":
		write(w, 200, `{"object":"list","has_more":false,"data":[]}`)
	case strings.HasPrefix(r.URL.Path, "/v1/customers/"):
		write(w, 404, `{"error":{"code":"resource_missing","message":"No such customer"}}`)
	case r.Method == http.MethodGet && r.URL.Path == "/v1/webhook_endpoints":
		b, _ := json.Marshal(map[string]any{"object": "list", "has_more": false, "data": s.eps})
		write(w, 200, string(b))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/webhook_endpoints":
		s.n++
		ep := endpoint{ID: "we_" + string(rune('0'+s.n)), URL: f.Get("url"), EnabledEvents: f["enabled_events[]"], APIVersion: f.Get("api_version"), Status: "enabled"}
		s.eps = append(s.eps, ep)
		ep.Secret = "whsec_new" + ep.ID
		b, _ := json.Marshal(ep)
		write(w, 200, string(b))
	case r.Method == http.MethodPost:
		for i := range s.eps {
			if s.eps[i].ID == id {
				s.eps[i].EnabledEvents = f["enabled_events[]"]
				b, _ := json.Marshal(s.eps[i])
				write(w, 200, string(b))
				return
			}
		}
		write(w, 404, `{"error":{"code":"resource_missing","message":"no"}}`)
	case r.Method == http.MethodDelete:
		s.eps = slices.DeleteFunc(s.eps, func(e endpoint) bool { return e.ID == id })
		write(w, 200, `{"id":"`+id+`","deleted":true}`)
	}
}

func TestEnsureWebhookEndpoint(t *testing.T) {
	t.Parallel()
	st := &endpointStore{}
	fk := newFake(t, st.handle)
	c := clientFor(t, fk, nil)
	ctx := t.Context()
	const hook = "https://billsync.example.com/webhooks/billing"

	res, err := c.EnsureWebhookEndpoint(ctx, hook, "")
	if err != nil || !res.Created || res.Secret != "whsec_newwe_1" {
		t.Fatalf("create: %+v %v", res, err)
	}
	if p := fk.posts()[0]; p.Form.Get("api_version") != APIVersion || !slices.Equal(p.Form["enabled_events[]"], NeededEvents()) {
		t.Errorf("created with %v", p.Form)
	}
	if checks := c.Check(ctx, hook); !allOK(checks) {
		t.Errorf("checks after setup: %+v", checks)
	}
	res, err = c.EnsureWebhookEndpoint(ctx, hook, res.Secret)
	if err != nil || res.Created || res.Updated || res.Recreated || res.Secret != "" || res.ID != "we_1" {
		t.Errorf("again: %+v %v", res, err)
	}
	// Someone narrowed its events: put them back, same endpoint.
	st.mu.Lock()
	st.eps[0].EnabledEvents = []string{"customer.updated"}
	st.mu.Unlock()
	if checks := c.Check(ctx, hook); allOK(checks) {
		t.Errorf("checks missed the events: %+v", checks)
	}
	res, err = c.EnsureWebhookEndpoint(ctx, hook, "whsec_stored")
	if err != nil || !res.Updated || res.ID != "we_1" || !sameEvents(st.eps[0].EnabledEvents) {
		t.Errorf("fix events: %+v %v", res, err)
	}
	// The secret is lost: recreate and say so.
	res, err = c.EnsureWebhookEndpoint(ctx, hook, "")
	if err != nil || !res.Recreated || res.Secret == "" || res.ID == "we_1" || !strings.Contains(res.Message, "only once") || len(st.eps) != 1 {
		t.Errorf("recreate: %+v %v (%d endpoints)", res, err, len(st.eps))
	}
	if _, err := c.EnsureWebhookEndpoint(ctx, "not a url", ""); err == nil {
		t.Errorf("a bad URL was accepted")
	}
}

func TestCheckWithoutEndpoint(t *testing.T) {
	t.Parallel()
	fk := newFake(t, (&endpointStore{}).handle)
	checks := clientFor(t, fk, nil).Check(t.Context(), "https://x.example/hook")
	names := map[string]bool{}
	for _, ch := range checks {
		names[ch.Name] = ch.OK
	}
	if len(checks) != 6 || !names["API key"] || !names["write customers"] || names["webhook endpoint"] {
		t.Errorf("checks %+v", checks)
	}
}

func allOK(cs []CheckResult) bool {
	for _, c := range cs {
		if !c.OK {
			return false
		}
	}
	return len(cs) > 0
}
