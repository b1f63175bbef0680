package faults

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestMain(m *testing.M) {
	// The injector logs every rule change; tests change rules a lot.
	slog.SetDefault(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}

func call(t *testing.T, c *http.Client, method, url, ctype, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAdmin(t *testing.T) {
	expired := 0
	inj := New(Config{}, SalesforceFormat, map[string]func(){HookExpireTokens: func() { expired++ }}, nil)
	srv := httptest.NewServer(inj.Wrap(&okHandler{}))
	defer srv.Close()
	c := srv.Client()
	admin := srv.URL + AdminPath

	if st, b := call(t, c, "GET", admin, "", ""); st != 200 || strings.TrimSpace(b) != `{"rules":[]}` {
		t.Errorf("GET empty: %d %s", st, b)
	}
	// Faults switched on at run time, in JSON: a missing rate means 1 and
	// durations are strings.
	st, b := call(t, c, "PUT", admin, "application/json",
		`{"seed":9,"rules":[{"name":"lock","path":"/services/data/","code":"UNABLE_TO_LOCK_ROW"},{"name":"slow","latency":"1ms","rate":0.5}]}`)
	if st != 200 {
		t.Fatalf("PUT: %d %s", st, b)
	}
	want := Config{Seed: 9, Rules: []Rule{
		{Name: "lock", Path: "/services/data/", Rate: 1, Status: 400, Code: "UNABLE_TO_LOCK_ROW"},
		{Name: "slow", Rate: 0.5, Latency: time.Millisecond},
	}}
	if diff := cmp.Diff(want, inj.Config()); diff != "" {
		t.Errorf("config after PUT (-want +got):\n%s", diff)
	}
	var echoed Config
	if err := json.Unmarshal([]byte(b), &echoed); err != nil || !cmp.Equal(want, echoed) {
		t.Errorf("PUT answered %s (%v)", b, err)
	}
	if st, b := call(t, c, "GET", srv.URL+"/services/data/v62.0/limits", "", ""); st != 400 || !strings.Contains(b, "UNABLE_TO_LOCK_ROW") {
		t.Errorf("faulted request: %d %s", st, b)
	}
	// The admin endpoint itself stays reachable under a catch-all rule.
	if st, b := call(t, c, "PUT", admin, "text/plain", "exp:path=/x,hook=expire_tokens;all:status=503"); st != 200 {
		t.Fatalf("PUT spec: %d %s", st, b)
	}
	if st, _ := call(t, c, "GET", admin+"/", "", ""); st != 200 {
		t.Errorf("admin under a catch-all fault: %d", st)
	}
	if st, _ := call(t, c, "GET", srv.URL+"/x", "", ""); st != 503 || expired != 1 {
		t.Errorf("spec rules: %d, hook ran %d times", st, expired)
	}

	st, b = call(t, c, "GET", admin+"/counts", "", "")
	var counts countsBody
	if err := json.Unmarshal([]byte(b), &counts); err != nil || st != 200 {
		t.Fatalf("counts: %d %s", st, b)
	}
	if counts.Counts["lock"] != 1 || counts.Counts["all"] != 1 || counts.Counts["exp"] != 1 || counts.Total != inj.Total() {
		t.Errorf("counts %s", b)
	}

	// Bad input names the bad part and changes nothing.
	for _, c2 := range []struct{ ctype, body, want string }{
		{"application/json", `{"rules":[{"name":"x","status":200}]}`, "status 200 is not an error status"},
		{"application/json", `{"rules":[{"name":"x","latncy":"5ms"}]}`, `unknown field \"latncy\"`},
		{"application/json", `{"rules":[{"name":"x","latency":"soon"}]}`, `duration \"soon\"`},
		{"application/json", `{"rulez":[]}`, `unknown field \"rulez\"`},
		{"application/json", `{"rules":[]} {}`, "trailing data"},
		{"application/json", `{"rules":[{"name":"x","hook":"reboot"}]}`, `no hook \"reboot\"`},
		{"text/plain; charset=utf-8", "x:status=abc", "status=abc: not an integer"},
	} {
		st, b := call(t, c, "PUT", admin, c2.ctype, c2.body)
		if st != 400 || !strings.Contains(b, c2.want) || !strings.Contains(b, `"code":"invalid"`) {
			t.Errorf("PUT %s: %d %s, want 400 with %q", c2.body, st, b, c2.want)
		}
	}
	if got := inj.Config().Spec(); got != "exp:path=/x,hook=expire_tokens;all:status=503" {
		t.Errorf("rejected PUTs changed the config: %q", got)
	}

	if st, b := call(t, c, "DELETE", admin+"/counts", "", ""); st != 200 || inj.Total() != 0 {
		t.Errorf("DELETE counts: %d %s", st, b)
	}
	if st, b := call(t, c, "DELETE", admin, "", ""); st != 200 || len(inj.Config().Rules) != 0 {
		t.Errorf("DELETE: %d %s", st, b)
	}
	if st, _ := call(t, c, "GET", srv.URL+"/x", "", ""); st != 200 {
		t.Errorf("after DELETE: %d", st)
	}
	if st, _ := call(t, c, "POST", admin, "", ""); st != 405 {
		t.Errorf("POST admin: %d", st)
	}
	if st, _ := call(t, c, "GET", admin+"/nope", "", ""); st != 404 {
		t.Errorf("GET unknown admin path: %d", st)
	}
}

func TestAdminBehindStripPrefix(t *testing.T) {
	inj := New(Config{}, nil, nil, nil)
	mux := http.NewServeMux()
	mux.Handle("/ops/faults/", http.StripPrefix("/ops/faults", inj.AdminHandler()))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	if st, b := call(t, srv.Client(), "PUT", srv.URL+"/ops/faults/", "text/plain", "a:status=500"); st != 200 || len(inj.Config().Rules) != 1 {
		t.Errorf("PUT: %d %s", st, b)
	}
	if st, b := call(t, srv.Client(), "GET", srv.URL+"/ops/faults/counts", "", ""); st != 200 || !strings.Contains(b, `"a":0`) {
		t.Errorf("counts: %d %s", st, b)
	}
}
