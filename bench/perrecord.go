package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/mapping"
	"github.com/billsync/billsync/salesforce/rest"
	"github.com/billsync/billsync/sandbox"
)

// perRecordWorkers is the comparison integration's concurrency, as the
// throughput issue names it.
const perRecordWorkers = 8

// perRecord is the simplest integration there is, for comparison: it
// takes the billing webhooks itself and, for each, writes that one record
// to Salesforce with one REST call, perRecordWorkers at a time. A worker
// is chosen by the record's account, so one account's writes stay in
// order, as the billing platform sends them.
type perRecord struct {
	sf       *rest.Client
	webhooks *billingapi.Webhooks
	m        *mapping.Mapping
	queues   []chan *billingapi.WebhookEvent
	wg       sync.WaitGroup

	mu   sync.Mutex
	errs []error
}

// startPerRecord serves the integration's webhook endpoint and returns
// its URL; stop ends it.
func startPerRecord(ctx context.Context, cfg sandbox.AppConfig) (url string, p *perRecord, stop func() error, err error) {
	sf, err := rest.New(rest.Config{LoginURL: cfg.SalesforceURL, Grant: cfg.Grant, ClientID: cfg.ClientID,
		ClientSecret: cfg.ClientSecret, Username: cfg.Username, Password: cfg.Password, APIVersion: cfg.APIVersion})
	if err != nil {
		return "", nil, nil, err
	}
	wh, err := billingapi.NewWebhooks(cfg.WebhookSecret, nil)
	if err != nil {
		return "", nil, nil, err
	}
	p = &perRecord{sf: sf, webhooks: wh, m: mapping.Default()}
	ctx, cancel := context.WithCancel(ctx)
	for range perRecordWorkers {
		q := make(chan *billingapi.WebhookEvent, 1024)
		p.queues = append(p.queues, q)
		p.wg.Add(1)
		go p.work(ctx, q)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		cancel()
		return "", nil, nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(p.serveWebhook), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	stop = func() error {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer scancel()
		// A delivery still open after the wait is cut: the figures are
		// taken, and a slow webhook sender is not the integration's fault.
		if err := srv.Shutdown(sctx); err != nil {
			srv.Close()
		}
		for _, q := range p.queues {
			close(q)
		}
		p.wg.Wait()
		cancel()
		return nil
	}
	return "http://" + ln.Addr().String() + "/webhooks/billing", p, stop, nil
}

func (p *perRecord) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, err := p.webhooks.Verify(r.Header, body); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	ev, err := billingapi.ParseWebhook(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	part, _ := billsync.PartitionOf(ev.Object, ev.Data)
	h := fnv.New32a()
	h.Write([]byte(part))
	select {
	case p.queues[h.Sum32()%uint32(len(p.queues))] <- ev:
		w.WriteHeader(http.StatusNoContent)
	case <-r.Context().Done():
	}
}

func (p *perRecord) work(ctx context.Context, q <-chan *billingapi.WebhookEvent) {
	defer p.wg.Done()
	for ev := range q {
		if ev.Op == billsync.OpDeleted || ctx.Err() != nil {
			continue
		}
		if err := p.write(ctx, ev); err != nil {
			p.mu.Lock()
			p.errs = append(p.errs, err)
			p.mu.Unlock()
		}
	}
}

// write upserts the record by its billing id, its parent named by the
// parent's billing id: one call, whatever the record.
func (p *perRecord) write(ctx context.Context, ev *billingapi.WebhookEvent) error {
	om, ok := p.m.Object(ev.Object)
	if !ok {
		return nil
	}
	vals, _, err := om.BillingValues(ev.Data, true)
	if err != nil {
		return err
	}
	rec := billsync.SObject{om.ExternalID: ev.Data.ID(), mapping.FieldLastSystem: mapping.LastSystemBilling}
	for k, v := range vals {
		f, _ := om.Field(k)
		rec[f.Salesforce] = f.SalesforceValue(v)
	}
	if om.Parent != nil {
		rec[om.Parent.Relationship] = map[string]any{om.ExternalIDOfParent(): ev.Data.Str(om.Parent.BillingField)}
	}
	res, err := p.sf.Upsert(ctx, om.SObject, om.ExternalID, []billsync.SObject{rec})
	if err == nil && len(res) == 1 {
		err = res[0].Err()
	}
	if err != nil {
		return fmt.Errorf("per-record upsert of %s %s: %w", ev.Object, ev.Data.ID(), err)
	}
	return nil
}

func (p *perRecord) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs[:min(len(p.errs), 3)]...)
}
