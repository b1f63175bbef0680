package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync/alert"
	"github.com/billsync/billsync/emulate/faults"
	"github.com/billsync/billsync/sandbox"
)

// alertReceiver is an alert webhook that keeps what it was sent.
type alertReceiver struct {
	mu  sync.Mutex
	got []alert.Message
}

func (r *alertReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var m alert.Message
	if err := json.NewDecoder(req.Body).Decode(&m); err != nil || m.Text == "" {
		http.Error(w, "want a JSON body with text", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	r.got = append(r.got, m)
	r.mu.Unlock()
}

// streamMessages is what was sent about the event stream, from the
// from-th such message on.
func (r *alertReceiver) streamMessages(from int) []alert.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []alert.Message
	for _, m := range r.got {
		if m.Alert == alert.StreamDown {
			out = append(out, m)
		}
	}
	return out[min(from, len(out)):]
}

func messageStates(ms []alert.Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, m.State)
	}
	return fmt.Sprint(s)
}

// TestStreamDownAlertsOnce stops the Salesforce emulator's stream under a
// running billsync (as TestReadyzFollowsTheEventStream does): the alert
// webhook receives exactly one "firing" message for the stream, however
// many evaluations see it down, and exactly one "resolved" when it is
// back; /api/v1/alerts shows the same.
func TestStreamDownAlertsOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	t.Parallel()
	recv := &alertReceiver{}
	hook := httptest.NewServer(recv)
	t.Cleanup(hook.Close)
	const interval = 200 * time.Millisecond
	logs := &lockedBuffer{}
	h := startHarness(t, sandbox.Options{StartApp: func(ctx context.Context, ac sandbox.AppConfig, _ *slog.Logger) (sandbox.App, error) {
		cfg := sandboxConfig(ac)
		cfg.Alerts.WebhookURL = hook.URL + "/services/T0/B0/secret"
		cfg.Alerts.Interval, cfg.Alerts.StreamDownFor = interval, 2*time.Second
		app, err := StartApp(ctx, cfg, slog.New(slog.NewTextHandler(logs, nil)))
		if err != nil {
			return nil, err
		}
		return app, nil
	}})
	ctx := context.Background()
	stream := func() alert.Status {
		all, err := h.admin.Alerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range all {
			if s.Rule == alert.StreamDown {
				return s
			}
		}
		t.Fatalf("no %s among %+v", alert.StreamDown, all)
		return alert.Status{}
	}
	// evaluatedAfter waits until the rules were read again well after
	// t0, so a message that was going to be repeated would have been.
	evaluatedAfter := func(t0 time.Time) {
		h.eventually("three more evaluations", func() (bool, string) {
			s := stream()
			return s.CheckedAt.After(t0.Add(3*interval)) && s.Unsent == 0, fmt.Sprintf("%+v", s)
		})
	}

	// Connected: the rule reads ok and everything said so far is sent
	// (a start slower than streamDownFor would have fired and resolved).
	h.eventually("the stream rule ok after the start", func() (bool, string) {
		s := stream()
		return s.State == alert.StateOK && !s.CheckedAt.IsZero() && s.Unsent == 0, fmt.Sprintf("%+v", s)
	})
	base := len(recv.streamMessages(0))
	if base > 0 {
		t.Logf("the start was slow: %s before the outage", messageStates(recv.streamMessages(0)))
	}

	if err := h.sb.SFFaults.Apply(faults.Config{Rules: []faults.Rule{
		{Name: "stream-down", Path: "/cometd/", Rate: 1, Status: http.StatusServiceUnavailable},
	}}); err != nil {
		t.Fatal(err)
	}
	h.sb.SF.DropStreams()
	h.eventually("one firing message", func() (bool, string) {
		return len(recv.streamMessages(base)) > 0, messageStates(recv.streamMessages(base))
	})
	fired := recv.streamMessages(base)[0]
	if fired.State != alert.Firing || !strings.Contains(fired.Text, "Salesforce event stream down") {
		t.Fatalf("first message %+v", fired)
	}
	evaluatedAfter(fired.At)
	if s := stream(); s.State != alert.StateFiring || s.Last == nil || s.Last.State != alert.Firing {
		t.Fatalf("while down: %+v", s)
	}
	if got := recv.streamMessages(base); len(got) != 1 {
		t.Fatalf("while the stream stayed down: %s, want one firing", messageStates(got))
	}

	if err := h.sb.SFFaults.Apply(faults.Config{}); err != nil {
		t.Fatal(err)
	}
	h.eventually("a resolved message", func() (bool, string) {
		return len(recv.streamMessages(base)) > 1, messageStates(recv.streamMessages(base))
	})
	resolved := recv.streamMessages(base)[1]
	if resolved.State != alert.Resolved || !resolved.Since.Equal(fired.Since) {
		t.Fatalf("second message %+v after %+v", resolved, fired)
	}
	evaluatedAfter(resolved.At)
	if got := recv.streamMessages(base); messageStates(got) != "[firing resolved]" {
		t.Fatalf("stream messages %s, want one firing and one resolved", messageStates(got))
	}
	if s := stream(); s.State != alert.StateOK {
		t.Errorf("after the stream came back: %+v", s)
	}
	// The webhook URL is a secret: the log names its host only.
	if l := logs.String(); !strings.Contains(l, "alerts are sent to a webhook") || strings.Contains(l, "/services/T0") {
		t.Error("the log does not name the webhook by its host alone (or shows its path)")
	}
}
