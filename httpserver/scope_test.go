package httpserver

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/billsync/billsync"
)

// concretePath fills a route pattern's wildcards.
func concretePath(pattern string) string {
	_, path, ok := strings.Cut(pattern, " ")
	if !ok {
		path = pattern + "v1/nope"
	}
	return regexp.MustCompile(`\{[^}]*\}`).ReplaceAllString(path, "1")
}

// Every route that changes something refuses a read token with 403, and
// every route that only reads admits it. The routes are the ones the
// server registered, so a route added later is checked without editing
// this test.
func TestReadTokenRefusedOnEveryWriteRoute(t *testing.T) {
	h := newHarness(t)
	writes, reads := 0, 0
	for _, r := range h.srv.apiRoutes {
		path := concretePath(r.pattern)
		method := r.method
		if method == "" { // the catch-all: answers 404 to any token
			for _, m := range []string{"GET", "POST", "DELETE"} {
				if res := h.do(m, path, readToken, []byte(`{}`), nil); res.status != http.StatusNotFound {
					t.Errorf("%s %s with a read token: %d, want 404", m, path, res.status)
				}
			}
			continue
		}
		wantScope := scopeAdmin
		if method == http.MethodGet {
			wantScope = scopeRead
		}
		if r.scope != wantScope {
			t.Errorf("%s: scope %s, want %s", r.pattern, r.scope, wantScope)
		}
		if res := h.do(method, path, "", []byte(`{}`), nil); res.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token: %d, want 401", method, path, res.status)
		}
		res := h.do(method, path, readToken, []byte(`{}`), nil)
		switch r.scope {
		case scopeAdmin:
			writes++
			if e := res.errorOf(t); res.status != http.StatusForbidden || e.Code != billsync.EFORBIDDEN || !strings.Contains(e.Message, "admin token") {
				t.Errorf("%s %s with a read token: %d %s, want 403", method, path, res.status, res.body)
			}
			if res := h.do(method, path, opsToken, []byte(`{}`), nil); res.status == http.StatusForbidden || res.status == http.StatusUnauthorized {
				t.Errorf("%s %s with an admin token: %d", method, path, res.status)
			}
		default:
			reads++
			if res.status == http.StatusForbidden || res.status == http.StatusUnauthorized {
				t.Errorf("%s %s with a read token: %d %s", method, path, res.status, res.body)
			}
		}
	}
	if writes < 6 || reads < 9 {
		t.Errorf("walked %d write and %d read routes: the route table is incomplete", writes, reads)
	}
}

// A read token refused a write changes nothing; an admin token's change
// is audited under its name.
func TestReadTokenChangesNothing(t *testing.T) {
	h := newHarness(t)
	res := h.do("PUT", "/api/v1/settings/sync.enabled", readToken, []byte(`{"value": false}`), nil)
	if res.status != http.StatusForbidden || !strings.Contains(res.errorOf(t).Message, `"grafana"`) {
		t.Fatalf("read token PUT: %d %s", res.status, res.body)
	}
	var got settingBody
	h.do("GET", "/api/v1/settings/sync.enabled", readToken, nil, nil).json(t, &got)
	if string(got.Value) != "true" || got.UpdatedBy != "default" {
		t.Errorf("setting changed by a read token: %+v", got)
	}
	h.buryN(1)
	if res := h.do("POST", "/api/v1/deadletters/retry", readToken, []byte(`{"all": true}`), nil); res.status != http.StatusForbidden {
		t.Errorf("read token retry: %d", res.status)
	}
	if len(h.deadIDs()) != 1 || len(h.store.Queued()) != 0 {
		t.Error("a read token's retry moved a dead letter")
	}
}
