package httpserver

import (
	"net/http"
	"strings"
	"testing"
)

// Profiles are served only when turned on, and then only to admin tokens.
func TestProfiling(t *testing.T) {
	off := newHarness(t)
	if res := off.do("GET", "/debug/pprof/", opsToken, nil, nil); res.status != http.StatusNotFound {
		t.Fatalf("profiling off: GET /debug/pprof/ = %d, want 404", res.status)
	}

	h := newHarness(t, func(c *Config) { c.Profiling = true })
	for _, path := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine", "/debug/pprof/cmdline"} {
		if res := h.do("GET", path, "", nil, nil); res.status != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %d, want 401", path, res.status)
		}
		if res := h.do("GET", path, readToken, nil, nil); res.status != http.StatusForbidden {
			t.Errorf("GET %s with a read token: %d, want 403", path, res.status)
		}
		if res := h.do("GET", path, opsToken, nil, nil); res.status != http.StatusOK {
			t.Errorf("GET %s with an admin token: %d %s", path, res.status, res.body)
		}
	}
	res := h.do("GET", "/debug/pprof/goroutine?debug=1", opsToken, nil, nil)
	if !strings.Contains(string(res.body), "goroutine profile:") {
		t.Errorf("goroutine profile: %.200s", res.body)
	}
}
