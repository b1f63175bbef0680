package main

import (
	"bufio"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/billsync/billsync/emulate/faults"
	"github.com/billsync/billsync/sandbox"
)

// streamProbe reads /readyz and the billsync_event_stream_connected
// metric.
func streamProbe(url string) (ready int, connected string) {
	if resp, err := http.Get(url + "/readyz"); err == nil {
		ready = resp.StatusCode
		resp.Body.Close()
	}
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		return ready, "unreachable"
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "billsync_event_stream_connected "); ok {
			return ready, v
		}
	}
	return ready, "absent"
}

// TestReadyzFollowsTheEventStream takes the Salesforce emulator's
// streaming endpoint away under a running billsync (every CometD request
// answers 503 and the held long poll is ended): /readyz answers 503 and
// billsync_event_stream_connected reads 0 while the stream is down, though
// the subscriber keeps retrying on its own, and both recover when the
// stream is back. Both read the listener's state when asked (no polling
// loop in between), so the outage shows as soon as the subscriber's
// request fails. The data directory billsync created is its user's alone.
func TestReadyzFollowsTheEventStream(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: skipped in -short mode")
	}
	t.Parallel()
	h := startHarness(t, sandbox.Options{})
	url := h.sb.AppURL()

	fi, err := os.Stat(h.app().cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("data directory %s has mode %v, want 0700", h.app().cfg.Data, perm)
	}

	wait := func(what string, want int, wantConnected string) {
		t.Helper()
		if err := waitUntil(2*time.Minute, what, func() (bool, string) {
			ready, connected := streamProbe(url)
			return ready == want && connected == wantConnected, "readyz " + http.StatusText(ready) + ", connected " + connected
		}); err != nil {
			t.Fatal(err)
		}
	}
	wait("ready with the stream connected", http.StatusOK, "1")

	if err := h.sb.SFFaults.Apply(faults.Config{Rules: []faults.Rule{
		{Name: "stream-down", Path: "/cometd/", Rate: 1, Status: http.StatusServiceUnavailable},
	}}); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	h.sb.SF.DropStreams()
	wait("not ready while the stream is down", http.StatusServiceUnavailable, "0")
	t.Logf("readiness went 503 %v after the stream was dropped", time.Since(down).Round(time.Millisecond))
	// The subscriber keeps retrying and failing meanwhile; readiness and
	// the metric keep saying so.
	if err := waitUntil(2*time.Minute, "a retry refused", func() (bool, string) {
		return h.sb.SFFaults.Counts()["stream-down"] >= 2, "no retry yet"
	}); err != nil {
		t.Fatal(err)
	}
	if ready, connected := streamProbe(url); ready != http.StatusServiceUnavailable || connected != "0" {
		t.Fatalf("while retrying: readyz %d, connected %s", ready, connected)
	}

	if err := h.sb.SFFaults.Apply(faults.Config{}); err != nil {
		t.Fatal(err)
	}
	wait("ready again once the stream is back", http.StatusOK, "1")
}
