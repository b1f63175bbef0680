package httpserver

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// The stream gauges are read from their source at every scrape, so they
// show a dropped stream at the next scrape, as /readyz does.
func TestStreamGaugesReadAtScrape(t *testing.T) {
	h := newHarness(t)
	var mu sync.Mutex
	reading := StreamReading{Connected: true, Lag: 2 * time.Second}
	h.srv.Metrics().ReadStreamFrom(func() StreamReading {
		mu.Lock()
		defer mu.Unlock()
		return reading
	})
	set := func(r StreamReading) {
		mu.Lock()
		reading = r
		mu.Unlock()
	}
	scrape := func(want ...string) {
		t.Helper()
		body := string(h.do("GET", "/metrics", "", nil, nil).body)
		for _, w := range want {
			if !strings.Contains(body, "\n"+w+"\n") {
				t.Errorf("metrics lack %q", w)
			}
		}
	}
	scrape("billsync_event_stream_connected 1", "billsync_event_stream_standby 0", "billsync_event_stream_lag_seconds 2")
	set(StreamReading{})
	scrape("billsync_event_stream_connected 0", "billsync_event_stream_standby 0")
	set(StreamReading{Standby: true})
	scrape("billsync_event_stream_connected 0", "billsync_event_stream_standby 1")
}
