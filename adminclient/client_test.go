package adminclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/httpserver"
)

var testNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

// memStore is the part of billsync.Store the admin API uses, in memory.
// Anything else falls through to the nil embedded interface.
type memStore struct {
	billsync.Store
	mu       sync.Mutex
	settings map[string]billsync.Setting
	audit    []billsync.AuditEntry
	logs     []billsync.LogEntry // ascending id
	dead     []billsync.DeadLetter
	pending  int64
}

func (m *memStore) Settings(context.Context) ([]billsync.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []billsync.Setting
	for _, s := range m.settings {
		out = append(out, s)
	}
	return out, nil
}

func (m *memStore) SetSetting(_ context.Context, key string, v json.RawMessage, actor string) (billsync.Setting, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := billsync.Setting{Key: key, Value: v, UpdatedAt: testNow, UpdatedBy: actor}
	m.audit = append(m.audit, billsync.AuditEntry{ID: int64(len(m.audit) + 1), Time: testNow, Actor: actor, Key: key, Old: m.settings[key].Value, New: v})
	m.settings[key] = st
	return st, nil
}

func (m *memStore) Audit(_ context.Context, limit int) ([]billsync.AuditEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := slices.Clone(m.audit)
	slices.Reverse(out)
	return out[:min(limit, len(out))], nil
}

func (m *memStore) Logs(_ context.Context, f billsync.LogFilter) ([]billsync.LogEntry, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	before := int64(1 << 62)
	if f.Cursor != "" {
		n, err := strconv.ParseInt(f.Cursor, 10, 64)
		if err != nil {
			return nil, "", billsync.Errorf(billsync.EINVALID, "bad cursor")
		}
		before = n
	}
	var out []billsync.LogEntry
	for i := len(m.logs) - 1; i >= 0; i-- {
		e := m.logs[i]
		if e.ID >= before || (f.Outcome != "" && e.Outcome != f.Outcome) || (!f.Since.IsZero() && e.Time.Before(f.Since)) {
			continue
		}
		if len(out) == f.Limit {
			return out, strconv.FormatInt(out[len(out)-1].ID, 10), nil
		}
		out = append(out, e)
	}
	return out, "", nil
}

func (m *memStore) DeadLetters(_ context.Context, limit int) ([]billsync.DeadLetter, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.dead[:min(limit, len(m.dead))]), nil
}

func (m *memStore) Resurrect(_ context.Context, id int64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, d := range m.dead {
		if d.ID == id {
			m.dead = slices.Delete(m.dead, i, i+1)
			m.pending++
			return nil
		}
	}
	return billsync.Errorf(billsync.ENOTFOUND, "no dead letter %d", id)
}

func (m *memStore) Stats(context.Context) (billsync.QueueStats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return billsync.QueueStats{Pending: m.pending, DeadLetters: int64(len(m.dead))}, nil
}

type refuseAll struct{}

func (refuseAll) Verify(http.Header, []byte) (string, error) {
	return "", billsync.Errorf(billsync.EUNAUTHORIZED, "no")
}

func (refuseAll) Decode(string, []byte, time.Time) (*billsync.Change, error) {
	return nil, billsync.Errorf(billsync.EINVALID, "no")
}

func setup(t *testing.T) (*memStore, string) {
	t.Helper()
	st := &memStore{settings: map[string]billsync.Setting{}}
	srv, err := httpserver.New(httpserver.Config{
		Webhooks: refuseAll{}, Queue: st,
		Settings: st, Logs: st, DeadLetters: st, Conflicts: st,
		AdminTokens: map[string]string{"s3cret-token": "alice"},
		Clock:       func() time.Time { return testNow },
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	return st, ts.URL
}

func TestSettingsRoundTrip(t *testing.T) {
	_, url := setup(t)
	ctx := context.Background()
	c := adminclient.New(url, "s3cret-token", nil)

	all, err := c.Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(billsync.SettingKeys()) {
		t.Fatalf("%d settings, want %d", len(all), len(billsync.SettingKeys()))
	}
	s, err := c.Setting(ctx, billsync.KeySyncQuotes)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(billsync.Setting{Key: billsync.KeySyncQuotes, Value: json.RawMessage("true"), UpdatedBy: "default"}, s); diff != "" {
		t.Errorf("default setting (-want +got):\n%s", diff)
	}

	v, err := billsync.ParseSettingText(billsync.KeyQuotesAllowedStatuses, "DRAFT, APPROVED")
	if err != nil {
		t.Fatal(err)
	}
	s, err = c.SetSetting(ctx, billsync.KeyQuotesAllowedStatuses, v)
	if err != nil {
		t.Fatal(err)
	}
	want := billsync.Setting{Key: billsync.KeyQuotesAllowedStatuses, Value: json.RawMessage(`["DRAFT","APPROVED"]`), UpdatedAt: testNow, UpdatedBy: "alice"}
	if diff := cmp.Diff(want, s); diff != "" {
		t.Errorf("set (-want +got):\n%s", diff)
	}
	audit, err := c.Audit(ctx, 10)
	if err != nil || len(audit) != 1 || audit[0].Actor != "alice" {
		t.Errorf("audit %+v, %v", audit, err)
	}

	_, err = c.SetSetting(ctx, billsync.KeySyncAccounts, json.RawMessage(`"sometimes"`))
	if code := billsync.ErrorCode(err); code != billsync.EINVALID {
		t.Errorf("bad value: err %v (code %q), want invalid", err, code)
	}
	_, err = c.Setting(ctx, "sync.nothing")
	if code := billsync.ErrorCode(err); code != billsync.ENOTFOUND {
		t.Errorf("unknown key: err %v, want not_found", err)
	}
	var be *billsync.Error
	if !errors.As(err, &be) || be.Message == "" {
		t.Errorf("error is not a *billsync.Error with a message: %#v", err)
	}
}

func TestBadTokenIsUnauthorized(t *testing.T) {
	_, url := setup(t)
	_, err := adminclient.New(url, "wrong", nil).Queue(context.Background())
	if billsync.ErrorCode(err) != billsync.EUNAUTHORIZED {
		t.Errorf("err %v, want unauthorized", err)
	}
}

func TestUnreachableIsUnavailable(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	url := ts.URL
	ts.Close()
	_, err := adminclient.New(url, "t", nil).Queue(context.Background())
	if billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("err %v, want unavailable", err)
	}
	if _, err := adminclient.New("ftp://x", "t", nil).Queue(context.Background()); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad base URL: %v", err)
	}
}

func TestLogsPaging(t *testing.T) {
	st, url := setup(t)
	for i := range 7 {
		o := billsync.OutcomeSuccess
		if i%2 == 0 {
			o = billsync.OutcomeFailed
		}
		st.logs = append(st.logs, billsync.LogEntry{ID: int64(i + 1), Time: testNow.Add(time.Duration(i-7) * time.Minute), Object: billsync.ObjectAccount, Outcome: o})
	}
	c := adminclient.New(url, "s3cret-token", nil)
	ctx := context.Background()

	var ids []int64
	f := billsync.LogFilter{Outcome: billsync.OutcomeFailed, Limit: 3}
	for range 5 {
		entries, next, err := c.Logs(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			ids = append(ids, e.ID)
		}
		if next == "" {
			break
		}
		f.Cursor = next
	}
	if diff := cmp.Diff([]int64{7, 5, 3, 1}, ids); diff != "" {
		t.Errorf("failed entries, newest first (-want +got):\n%s", diff)
	}

	entries, _, err := c.Logs(ctx, billsync.LogFilter{Since: testNow.Add(-2*time.Minute - time.Second)})
	if err != nil || len(entries) != 2 {
		t.Errorf("since: %d entries, %v", len(entries), err)
	}
	if _, _, err := c.Logs(ctx, billsync.LogFilter{Cursor: "nope"}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("bad cursor: %v", err)
	}
}

func TestDeadLettersAndQueue(t *testing.T) {
	st, url := setup(t)
	for i := int64(1); i <= 3; i++ {
		st.dead = append(st.dead, billsync.DeadLetter{Change: billsync.Change{ID: i, Object: billsync.ObjectQuote}, ErrorCode: "FIELD_CUSTOM_VALIDATION_EXCEPTION"})
	}
	c := adminclient.New(url, "s3cret-token", nil)
	ctx := context.Background()

	dls, err := c.DeadLetters(ctx)
	if err != nil || len(dls) != 3 || dls[0].ErrorCode != "FIELD_CUSTOM_VALIDATION_EXCEPTION" {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	if err := c.RetryDeadLetter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.RetryDeadLetter(ctx, 1); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("retry twice: %v", err)
	}
	n, err := c.RetryAllDeadLetters(ctx)
	if err != nil || n != 2 {
		t.Errorf("retry all: %d, %v", n, err)
	}
	q, err := c.Queue(ctx)
	if err != nil || q.Pending != 3 || q.DeadLetters != 0 {
		t.Errorf("queue %+v, %v", q, err)
	}
}

func TestNonAPIErrorAnswer(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer ts.Close()
	_, err := adminclient.New(ts.URL+"/prefix/", "t", nil).Queue(context.Background())
	if billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("proxy 502: %v", err)
	}
}

func TestPathsKeepBaseAndEscapeKeys(t *testing.T) {
	var got []string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.EscapedPath()+"?"+r.URL.RawQuery+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"key":"x","value":true,"updatedAt":null,"updatedBy":"default"}`))
	}))
	defer ts.Close()
	c := adminclient.New(ts.URL+"/billsync/", "tok", nil)
	ctx := context.Background()
	if _, err := c.Setting(ctx, "odd key%"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Setting(ctx, "../queue"); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("key with a slash: %v", err)
	}
	want := []string{"GET /billsync/api/v1/settings/odd%20key%25? Bearer tok"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
}
