package rest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSF is a test server that answers the token endpoint with recorded
// token responses (testdata/token_*.json) and hands every other request to
// the test's data handler, recording what the client sent.
type fakeSF struct {
	t   *testing.T
	srv *httptest.Server

	// tokenFiles are served in turn, one per login; the last one repeats.
	tokenFiles  []string
	tokenStatus int

	mu     sync.Mutex
	logins []url.Values
	reqs   []sentRequest
	data   func(w http.ResponseWriter, r *http.Request, body []byte)
}

type sentRequest struct {
	Method, Path, RawQuery, Auth, ContentType string
	Body                                      []byte
}

func newFake(t *testing.T, data func(w http.ResponseWriter, r *http.Request, body []byte)) *fakeSF {
	t.Helper()
	f := &fakeSF{t: t, tokenFiles: []string{"token_password_success.json", "token_password_success_2.json"}, tokenStatus: 200, data: data}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeSF) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/services/oauth2/token" {
		form, _ := url.ParseQuery(string(body))
		f.mu.Lock()
		f.logins = append(f.logins, form)
		n := len(f.logins)
		f.mu.Unlock()
		name := f.tokenFiles[min(n-1, len(f.tokenFiles)-1)]
		b := bytes.ReplaceAll(fixture(f.t, name), []byte("https://<host>"), []byte(f.srv.URL))
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		w.WriteHeader(f.tokenStatus)
		w.Write(b)
		return
	}
	f.mu.Lock()
	f.reqs = append(f.reqs, sentRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Auth: r.Header.Get("Authorization"), ContentType: r.Header.Get("Content-Type"), Body: body})
	f.mu.Unlock()
	if f.data == nil {
		http.NotFound(w, r)
		return
	}
	f.data(w, r, body)
}

func (f *fakeSF) loginCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.logins)
}

func (f *fakeSF) requests() []sentRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sentRequest(nil), f.reqs...)
}

// token returns the access_token of the i-th token fixture.
func (f *fakeSF) token(i int) string {
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(fixture(f.t, f.tokenFiles[i]), &tr); err != nil {
		f.t.Fatal(err)
	}
	return tr.AccessToken
}

func (f *fakeSF) client(mod ...func(*Config)) *Client {
	f.t.Helper()
	cfg := Config{
		LoginURL:     f.srv.URL,
		Grant:        GrantPassword,
		ClientID:     "billsync",
		ClientSecret: "billsync-secret",
		Username:     "integration@billsync.test",
		Password:     "pass+token",
		HTTPClient:   f.srv.Client(),
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, m := range mod {
		m(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		f.t.Fatalf("New: %v", err)
	}
	return c
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// reply serves a recorded body with Salesforce's content type and any
// extra headers given as name, value pairs.
func reply(t *testing.T, w http.ResponseWriter, status int, name string, headers ...string) {
	t.Helper()
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Add(headers[i], headers[i+1])
	}
	if name == "" {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(fixture(t, name))
}

func bearer(r *http.Request) string {
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
}

// waitFor polls cond until it holds or 15 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
