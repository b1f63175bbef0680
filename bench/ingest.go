package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/httpserver"
	"github.com/billsync/billsync/sandbox"
	"github.com/billsync/billsync/sqlitestore"
)

// IngestResult is durable webhook intake: each accepted request's change
// was committed before the 2xx.
type IngestResult struct {
	Clients  int     `json:"clients"`
	Seconds  float64 `json:"seconds"`
	Accepted int64   `json:"accepted"`
	Failed   int64   `json:"failed"`
	PerSec   float64 `json:"perSec"`
	P50Ms    float64 `json:"p50Ms"`
	P99Ms    float64 `json:"p99Ms"`
}

// benchIngest serves billsync's webhook handler on a fresh store with no
// engine behind it, so the figure is intake alone: verify, parse, commit,
// answer. Senders sign each request as the billing platform does.
func benchIngest(ctx context.Context, dir string, opts Options, log *slog.Logger) (*IngestResult, error) {
	store, err := sqlitestore.Open(ctx, filepath.Join(dir, "ingest", "billsync.db"), sqlitestore.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	webhooks, err := billingapi.NewWebhooks(sandbox.WebhookSecret, nil)
	if err != nil {
		return nil, err
	}
	srv, err := httpserver.New(httpserver.Config{Webhooks: webhooks, Queue: store,
		Settings: store, Logs: store, DeadLetters: store, Conflicts: store,
		AdminTokens: map[string]string{sandbox.AdminToken: sandbox.AdminName}, Logger: log.With("bench", "ingest")})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := srv.HTTPServer(ln.Addr().String())
	go func() { _ = hs.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	url := "http://" + ln.Addr().String() + "/webhooks/billing"

	signer, err := standardwebhooks.NewWebhook(sandbox.WebhookSecret)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: opts.IngestClients, MaxIdleConnsPerHost: opts.IngestClients}}
	defer client.CloseIdleConnections()

	var (
		seq, accepted, failed atomic.Int64
		mu                    sync.Mutex
		lat                   []time.Duration
		firstErr              error
	)
	// Senders stop starting requests at the deadline but let the ones in
	// flight finish: cancelling them would count as server failures.
	start := time.Now()
	deadline := start.Add(opts.IngestDuration)
	var wg sync.WaitGroup
	for range opts.IngestClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := seq.Add(1)
				t0 := time.Now()
				err := postWebhook(ctx, client, signer, url, i)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				accepted.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	slices.Sort(lat)
	res := &IngestResult{Clients: opts.IngestClients, Seconds: secs, Accepted: accepted.Load(), Failed: failed.Load(),
		P50Ms: ms(percentile(lat, 50)), P99Ms: ms(percentile(lat, 99))}
	if secs > 0 {
		res.PerSec = float64(res.Accepted) / secs
	}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	// Durable means in the store: count what it holds.
	st, err := store.Stats(ctx)
	if err != nil {
		return res, err
	}
	if st.Pending < res.Accepted {
		return res, fmt.Errorf("%d webhooks answered 2xx but only %d changes are queued", res.Accepted, st.Pending)
	}
	if res.Accepted == 0 {
		return res, errors.Join(errors.New("no webhook was accepted"), firstErr)
	}
	if firstErr != nil {
		log.Warn("bench: some webhooks were refused", "failed", res.Failed, "first_error", firstErr)
	}
	return res, nil
}

// postWebhook sends one account.created webhook for a new account.
func postWebhook(ctx context.Context, client *http.Client, signer *standardwebhooks.Webhook, url string, i int64) error {
	n := strconv.FormatInt(i, 10)
	now := time.Now()
	body := []byte(`{"type":"account.created","timestamp":"` + now.UTC().Format(time.RFC3339Nano) +
		`","data":{"id":"acc_ingest` + n + `","code":"INGEST` + n + `","name":"Ingest account ` + n +
		`","currency":"USD","version":1}}`)
	msgID := "msg_ingest_" + n
	sig, err := signer.Sign(msgID, now, body)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", msgID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s: %s", resp.Status, bytes.TrimSpace(snippet))
	}
	return nil
}
