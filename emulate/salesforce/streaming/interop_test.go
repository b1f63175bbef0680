package streaming

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// requireNode skips without node/npm, unless BILLSYNC_CI=1 demands them.
func requireNode(t *testing.T) {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("BILLSYNC_CI") == "1" {
				t.Fatalf("%s is not on PATH and BILLSYNC_CI=1 requires it", tool)
			}
			t.Skipf("%s is not on PATH: skipping the CometD JS client interop test (set BILLSYNC_CI=1 to make this a failure)", tool)
		}
	}
}

// TestOfficialCometDClient runs the official cometd npm client (through
// cometd-nodejs-client) against the server: Bearer auth, the replay
// extension from -2, a retained event and a live one.
func TestOfficialCometDClient(t *testing.T) {
	requireNode(t)
	if testing.Short() {
		t.Skip("-short: skipping npm ci")
	}
	dir, err := filepath.Abs(filepath.Join("..", "..", "..", "interop", "cometd"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ci := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
	ci.Dir = dir
	if out, err := ci.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}

	bus := NewBus(BusOptions{})
	bus.Declare(testChannel)
	retained := bus.Publish(testChannel, map[string]any{"CreatedById": "005000000000001AAA", "Seq__c": json.Number("1")})
	srv := NewServer(bus, testAuth, ServerOptions{ConnectTimeout: 5 * time.Second})
	mux := http.NewServeMux()
	mux.Handle("/cometd/", srv)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	cmd := exec.CommandContext(ctx, "node", "subscribe.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COMETD_URL="+hs.URL+"/cometd/62.0", "TOKEN=good", "CHANNEL="+testChannel,
		"REPLAY=-2", "EXPECT=2", "TIMEOUT_MS=15000")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var live Event
	var got []int64
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Step    string `json:"step"`
			Message struct {
				Channel string `json:"channel"`
				Data    struct {
					Payload map[string]any `json:"payload"`
					Event   struct {
						ReplayID  int64  `json:"replayId"`
						EventUUID string `json:"EventUuid"`
					} `json:"event"`
				} `json:"data"`
			} `json:"message"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("script printed %q: %v", sc.Text(), err)
		}
		switch line.Step {
		case "subscribed":
			live = bus.Publish(testChannel, map[string]any{"CreatedById": "005000000000001AAA", "Seq__c": json.Number("2")})
		case "event":
			if line.Message.Channel != testChannel || line.Message.Data.Event.EventUUID == "" || line.Message.Data.Payload["CreatedDate"] == nil {
				t.Errorf("event message %+v", line.Message)
			}
			got = append(got, line.Message.Data.Event.ReplayID)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("script: %v\nstderr:\n%s", err, stderr.String())
	}
	if len(got) != 2 || got[0] != retained.ReplayID || got[1] != live.ReplayID {
		t.Fatalf("client received %v, want [%d %d]", got, retained.ReplayID, live.ReplayID)
	}
}
