package adminclient_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/mock"
)

var testNow = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

type refuseAll struct{}

func (refuseAll) Verify(http.Header, []byte) (string, error) {
	return "", billsync.Errorf(billsync.EUNAUTHORIZED, "no")
}

func (refuseAll) Decode(string, []byte, time.Time) ([]*billsync.Change, error) {
	return nil, billsync.Errorf(billsync.EINVALID, "no")
}

func setup(t *testing.T) (*mock.Store, string) {
	t.Helper()
	st := &mock.Store{Now: func() time.Time { return testNow }}
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
	for i := range 7 { // ids 1 to 7
		o := billsync.OutcomeSuccess
		if i%2 == 0 {
			o = billsync.OutcomeFailed
		}
		if err := st.AppendLog(context.Background(), billsync.LogEntry{Time: testNow.Add(time.Duration(i-7) * time.Minute), Object: billsync.ObjectAccount, Outcome: o}); err != nil {
			t.Fatal(err)
		}
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
	ctx := context.Background()
	for i := range 5 { // ids 1 to 5
		ch := &billsync.Change{Partition: fmt.Sprintf("quote:q_%d", i), Object: billsync.ObjectQuote, EventID: fmt.Sprintf("webhook:%d", i)}
		if _, err := st.Enqueue(ctx, ch); err != nil {
			t.Fatal(err)
		}
		if err := st.Bury(ctx, ch.ID, "FIELD_CUSTOM_VALIDATION_EXCEPTION", "refused"); err != nil {
			t.Fatal(err)
		}
	}
	c := adminclient.New(url, "s3cret-token", nil)

	dls, err := c.DeadLetters(ctx)
	if err != nil || len(dls) != 5 || dls[0].ErrorCode != "FIELD_CUSTOM_VALIDATION_EXCEPTION" {
		t.Fatalf("dead letters %+v, %v", dls, err)
	}
	if err := c.RetryDeadLetter(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.RetryDeadLetter(ctx, 1); billsync.ErrorCode(err) != billsync.ENOTFOUND {
		t.Errorf("retry twice: %v", err)
	}
	// A list with an unknown id takes nothing and names the id.
	_, err = c.RetryDeadLetters(ctx, adminclient.DeadLetterSelection{IDs: []int64{2, 1}})
	if billsync.ErrorCode(err) != billsync.ENOTFOUND || !strings.Contains(billsync.ErrorMessage(err), "1") {
		t.Errorf("retry with an unknown id: %v", err)
	}
	if got, err := c.RetryDeadLetters(ctx, adminclient.DeadLetterSelection{IDs: []int64{2}}); err != nil || !slices.Equal(got, []int64{2}) {
		t.Errorf("retry 2: %v, %v", got, err)
	}
	if got, err := c.DiscardDeadLetters(ctx, adminclient.DeadLetterSelection{IDs: []int64{3}}); err != nil || !slices.Equal(got, []int64{3}) {
		t.Errorf("discard 3: %v, %v", got, err)
	}
	if _, err := c.DiscardDeadLetters(ctx, adminclient.DeadLetterSelection{}); billsync.ErrorCode(err) != billsync.EINVALID {
		t.Errorf("discard nothing: %v", err)
	}
	if got, err := c.RetryDeadLetters(ctx, adminclient.DeadLetterSelection{All: true}); err != nil || !slices.Equal(got, []int64{4, 5}) {
		t.Errorf("retry all: %v, %v", got, err)
	}
	q, err := c.Queue(ctx)
	if err != nil || q.Pending != 4 || q.DeadLetters != 0 {
		t.Errorf("queue %+v, %v", q, err)
	}
}

func TestSelectDeadLetters(t *testing.T) {
	for _, tc := range []struct {
		all  bool
		args []string
		want adminclient.DeadLetterSelection
		bad  bool
	}{
		{all: true, want: adminclient.DeadLetterSelection{All: true}},
		{args: []string{"3", "7"}, want: adminclient.DeadLetterSelection{IDs: []int64{3, 7}}},
		{bad: true},
		{all: true, args: []string{"3"}, bad: true},
		{args: []string{"x"}, bad: true},
		{args: []string{"0"}, bad: true},
	} {
		got, err := adminclient.SelectDeadLetters(tc.all, tc.args)
		if tc.bad {
			if billsync.ErrorCode(err) != billsync.EINVALID {
				t.Errorf("%v %v: %v, want an error", tc.all, tc.args, err)
			}
			continue
		}
		if err != nil || !cmp.Equal(got, tc.want) {
			t.Errorf("%v %v: %+v, %v", tc.all, tc.args, got, err)
		}
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
