package adminclient_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/alert"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/mock"
)

// The client reads the alerts' standing as the server serves it, with a
// read token.
func TestAlerts(t *testing.T) {
	st := &mock.Store{Now: func() time.Time { return testNow }}
	statuses := []alert.Status{
		{Rule: alert.StreamDown, State: alert.StateOK, Since: testNow},
		{Rule: alert.ConflictsHeld, State: alert.StateFiring, Since: testNow.Add(-time.Hour), Detail: "2 conflicts",
			Last: &alert.Message{Alert: alert.ConflictsHeld, State: alert.Firing, Text: "billsync FIRING: …"}},
	}
	cfg := httpserver.Config{Webhooks: refuseAll{}, Queue: st, Settings: st, Logs: st, DeadLetters: st, Conflicts: st,
		ReadTokens: map[string]string{"read-token-123": "grafana"}, Clock: func() time.Time { return testNow },
		Alerts: func() []alert.Status { return statuses }}
	srv, err := httpserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	got, err := adminclient.New(ts.URL, "read-token-123", nil).Alerts(context.Background())
	if err != nil || len(got) != 2 || got[1].State != alert.StateFiring || got[1].Last == nil ||
		got[1].Last.Alert != alert.ConflictsHeld || !got[1].Since.Equal(testNow.Add(-time.Hour)) {
		t.Fatalf("Alerts %+v, %v", got, err)
	}

	cfg.Alerts = nil
	srv, err = httpserver.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(srv.Handler())
	t.Cleanup(ts2.Close)
	if _, err := adminclient.New(ts2.URL, "read-token-123", nil).Alerts(context.Background()); billsync.ErrorCode(err) != billsync.EUNAVAILABLE {
		t.Errorf("without alerts: %v", err)
	}
}
