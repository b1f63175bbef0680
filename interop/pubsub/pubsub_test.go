// Package pubsub_test runs the salesforce-pubsub-api-client npm package,
// unchanged, against the emulator's Pub/Sub API over TLS.
package pubsub_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/billsync/billsync/emulate/salesforce"
	empubsub "github.com/billsync/billsync/emulate/salesforce/pubsub"
	"github.com/billsync/billsync/salesforce/pubsub/pb"
)

const topic = "/event/BillingObjectChange__e"

// requireTool skips without a tool, unless BILLSYNC_CI=1 demands it.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("BILLSYNC_CI") == "1" {
			t.Fatalf("%s is required when BILLSYNC_CI=1: %v", name, err)
		}
		t.Skipf("%s is not on PATH: skipping the Pub/Sub JS client interop test (set BILLSYNC_CI=1 to make this a failure)", name)
	}
	return path
}

// npmCI installs the committed package-lock.json into node_modules, which
// is kept between runs as a cache.
func npmCI(t *testing.T, ctx context.Context, npm string) {
	t.Helper()
	if _, err := os.Stat("node_modules/salesforce-pubsub-api-client/package.json"); err == nil {
		return
	}
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	if out, err := cmd.CombinedOutput(); err != nil {
		if os.Getenv("BILLSYNC_CI") != "1" {
			t.Skipf("npm ci failed (offline?): %v\n%s", err, out)
		}
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
}

// lockedBuffer collects the script's stderr while the test reads stdout.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// org is an emulated org: its REST API on plain HTTP, its Pub/Sub API
// over TLS with a generated certificate.
type org struct {
	em     *salesforce.Emulator
	rest   *httptest.Server
	srv    *empubsub.Server
	cert   *empubsub.Cert
	pubsub string // localhost:port, so the certificate's name is checked
}

func newOrg(t *testing.T) *org {
	t.Helper()
	em, err := salesforce.New(salesforce.Options{})
	if err != nil {
		t.Fatal(err)
	}
	rest := httptest.NewServer(em.Handler())
	em.SetBaseURL(rest.URL)
	cert, err := empubsub.NewCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// 8-byte replay ids, as Salesforce sends them today: the npm client
	// reads a replay id as one 64-bit number and writes it back so. Short
	// keepalives, so the script sees one without waiting 270 s.
	srv := empubsub.New(em, empubsub.Options{KeepAlive: 300 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.ServeTLS(ln, cert) }()
	t.Cleanup(func() {
		srv.Stop()
		rest.Close()
		_ = em.Close()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return &org{em: em, rest: rest, srv: srv, cert: cert, pubsub: net.JoinHostPort("localhost", port)}
}

// createAccount creates a billing account as the sales user over REST;
// the org's trigger publishes BillingObjectChange__e for it.
func (o *org) createAccount(t *testing.T, name string) string {
	t.Helper()
	tok, err := o.em.IssueToken(salesforce.SalesUsername)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"Name": name, "BillingId__c": "b-" + name})
	req, _ := http.NewRequest("POST", o.rest.URL+"/services/data/v62.0/sobjects/BillingAccount__c", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, err)
	}
	return out.ID
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jsEvent is an event as the npm client hands it to its callback.
type jsEvent struct {
	ID       string         `json:"id"`
	SchemaID string         `json:"schemaId"`
	ReplayID json.Number    `json:"replayId"`
	Payload  map[string]any `json:"payload"`
}

// replayNumber is the number the npm client shows for replay id bytes.
func replayNumber(b []byte) string { return fmt.Sprint(binary.BigEndian.Uint64(b)) }

// TestNodePubSubClient: the npm client, with user-supplied auth (with and
// without an org id, which it then takes from the token) and TLS,
// publishes an event (reading the topic and its schema first), receives a
// sales user's edit live with its Avro payload decoded, a new client
// resumes from the stored replay id of the published event and
// publishes a batch over PublishStream, and a client authenticated by
// OAuth client credentials subscribes from the earliest event and, given
// more credit than there are events, gets a keepalive.
func TestNodePubSubClient(t *testing.T) {
	node := requireTool(t, "node")
	npm := requireTool(t, "npm")
	if testing.Short() {
		t.Skip("-short: skipping npm ci")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	npmCI(t, ctx, npm)

	o := newOrg(t)
	tok, err := o.em.IssueToken(salesforce.IntegrationUsername)
	if err != nil {
		t.Fatal(err)
	}
	sales := o.em.UserID(salesforce.SalesUsername)
	cmd := exec.CommandContext(ctx, node, "subscribe.mjs")
	// The client pins its own CA bundle (Salesforce's roots) and passes it
	// to grpc-js, which then ignores NODE_EXTRA_CA_CERTS ("self-signed
	// certificate" with the emulator's CA file in it), so certificate
	// checks are turned off by its documented rejectUnauthorizedSsl
	// option; TLS is still spoken.
	cmd.Env = append(os.Environ(), "ENDPOINT="+o.pubsub, "INSTANCE_URL=https://emulated.my.salesforce.com",
		"TOKEN="+tok, "ORG_ID="+o.em.OrgID(), "TOPIC="+topic, "CDC_TOPIC="+cdcTopic, "REJECT_UNAUTHORIZED=false",
		"TIMEOUT_MS=20000", "LOGIN_URL="+o.rest.URL, "CLIENT_ID="+salesforce.DefaultClientID, "CLIENT_SECRET="+salesforce.DefaultClientSecret)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var published, created, keepalive string
	var batch []string
	steps := map[string]jsEvent{}
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Step     string      `json:"step"`
			ReplayID json.Number `json:"replayId"`
			Event    jsEvent     `json:"event"`
			Results  []struct {
				ReplayID json.Number `json:"replayId"`
			} `json:"results"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber() // payload numbers stay exact
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("script printed %q: %v", sc.Text(), err)
		}
		switch line.Step {
		case "published":
			published = line.ReplayID.String()
		case "subscribed":
			// The subscription is live once the server holds its credit;
			// an edit before that would precede LATEST.
			waitFor(t, "the npm client's FetchRequest", func() bool { req, _ := o.srv.Flow(); return req >= 1 })
			created = o.createAccount(t, "acme")
		case "event", "replayed", "earliest", "cdc":
			steps[line.Step] = line.Event
		case "keepalive":
			keepalive = line.ReplayID.String()
		case "batch":
			for _, r := range line.Results {
				batch = append(batch, r.ReplayID.String())
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("script: %v\nstderr:\n%s", err, stderr.String())
	}
	checkEvents(t, o, published, created, sales, steps)
	checkBatch(t, o, batch)
	first := o.em.Bus().Events(topic)[0]
	if ev := steps["earliest"]; ev.ID != first.UUID || ev.Payload["ChangeType__c"] != "DELETE" {
		t.Errorf("the client-credentials client's earliest event %+v, want the published one %s", ev, first.UUID)
	}
	checkCDC(t, steps["cdc"], created, sales)
	last := o.em.Bus().Events(topic)[3]
	if want := replayNumber(empubsub.ReplayBytes(last.ReplayID, false)); keepalive != want {
		t.Errorf("keepalive replay id %q, want the latest event's %s", keepalive, want)
	}
}

// checkBatch: the two events publishBatch sent are on the bus, after the
// others, under the replay ids its response gave.
func checkBatch(t *testing.T, o *org, batch []string) {
	t.Helper()
	bus := o.em.Bus().Events(topic)
	if len(bus) != 4 || len(batch) != 2 {
		t.Fatalf("after publishBatch the bus holds %d events and the response named %v; want 4 and 2", len(bus), batch)
	}
	for i, ev := range bus[2:] {
		if want := replayNumber(empubsub.ReplayBytes(ev.ReplayID, false)); batch[i] != want || ev.Payload["ChangeType__c"] != "UPDATE" {
			t.Errorf("batch event %d: replay id %s (want %s), payload %v", i, batch[i], want, ev.Payload)
		}
	}
}

// checkEvents compares what the npm client received with the org's bus.
func checkEvents(t *testing.T, o *org, published, created, sales string, steps map[string]jsEvent) {
	t.Helper()
	bus := o.em.Bus().Events(topic)
	if len(bus) < 2 {
		t.Fatalf("the bus holds %d events, want the published one and the triggered one first", len(bus))
	}
	if want := replayNumber(empubsub.ReplayBytes(bus[0].ReplayID, false)); published != want {
		t.Errorf("published replay id %s, want %s", published, want)
	}
	if p := bus[0].Payload; p["ObjectType__c"] != "BillingBalance__c" || p["ChangeType__c"] != "DELETE" {
		t.Errorf("the event the npm client published reached the bus as %v", p)
	}
	ts, err := o.srv.GetTopic(context.Background(), &pb.TopicRequest{TopicName: topic})
	if err != nil {
		t.Fatal(err)
	}
	want := bus[1]
	for _, step := range []string{"event", "replayed"} {
		ev, ok := steps[step]
		if !ok {
			t.Errorf("no %s step", step)
			continue
		}
		p := ev.Payload
		if p["RecordId__c"] != created || p["ObjectType__c"] != "BillingAccount__c" || p["ChangeType__c"] != "INSERT" || p["CreatedById"] != sales {
			t.Errorf("%s: payload %v, want the sales user's insert of %s", step, p, created)
		}
		if ev.ID != want.UUID || ev.SchemaID != ts.GetSchemaId() || ev.ReplayID.String() != replayNumber(empubsub.ReplayBytes(want.ReplayID, false)) {
			t.Errorf("%s: id %s schema %s replay %s; bus %s %d, topic schema %s", step, ev.ID, ev.SchemaID, ev.ReplayID, want.UUID, want.ReplayID, ts.GetSchemaId())
		}
		cd, _ := p["CreatedDate"].(json.Number)
		ms, err := cd.Int64()
		if created := time.UnixMilli(ms); err != nil || created.Before(want.Time.Add(-time.Second)) || created.After(want.Time.Add(time.Second)) {
			t.Errorf("%s: CreatedDate %v, want the event's time %v in epoch milliseconds", step, p["CreatedDate"], want.Time)
		}
	}
}

// cdcTopic is the Change Data Capture channel of the object createAccount
// writes.
const cdcTopic = "/data/BillingAccount__ChangeEvent"

// checkCDC: the npm client decoded the insert's change event, header
// included, with the schema the emulator serves for the CDC topic.
func checkCDC(t *testing.T, ev jsEvent, created, sales string) {
	t.Helper()
	h, _ := ev.Payload["ChangeEventHeader"].(map[string]any)
	if h == nil {
		t.Fatalf("cdc step: no ChangeEventHeader in %v", ev.Payload)
	}
	ids, _ := h["recordIds"].([]any)
	if h["entityName"] != "BillingAccount__c" || h["changeType"] != "CREATE" || len(ids) != 1 || ids[0] != created || h["commitUser"] != sales {
		t.Errorf("cdc step: header %v, want the sales user's CREATE of BillingAccount__c %s", h, created)
	}
	if name, _ := ev.Payload["Name"].(string); name != "acme" {
		t.Errorf("cdc step: Name %v, want acme", ev.Payload["Name"])
	}
}
