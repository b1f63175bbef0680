package billing_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/emulate/billing"
)

// BenchmarkWriteBurstDelivery measures 1,000 billing writes through the
// REST handler (100 accounts, each written as a client would: the account,
// three balances, six updates) with their webhooks delivered to a
// receiver that takes 3 ms to accept each, as billsync's durable commit
// does. It reports the CPU the process spends from the first write until
// every webhook is delivered, and until the emulator is closed, and the
// latency from a write's answer to its webhook's delivery.
func BenchmarkWriteBurstDelivery(b *testing.B) {
	dir := b.TempDir()
	seed, err := billing.New(billing.Options{Token: testToken, WebhookSecret: testSecret, DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2000 {
		if _, err := seed.Create(billsync.ObjectAccount, billsync.Entity{"name": fmt.Sprintf("Base %d", i), "code": fmt.Sprintf("B%d", i)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := seed.Close(); err != nil {
		b.Fatal(err)
	}
	var cpu, open, wall time.Duration
	var lat []time.Duration
	b.ResetTimer()
	for range b.N {
		rc := newTimingReceiver(3 * time.Millisecond)
		hook := httptest.NewServer(rc)
		em, err := billing.New(billing.Options{Token: testToken, WebhookSecret: testSecret, DataDir: dir, Workers: 16})
		if err != nil {
			b.Fatal(err)
		}
		em.Start(b.Context())
		// The seed's held webhooks go first and are not measured.
		em.SetWebhookURL(hook.URL)
		for em.Pending() > 0 {
			time.Sleep(5 * time.Millisecond)
		}
		base := em.Delivered()
		h := em.Handler()
		c0, t0 := processCPU(), time.Now()
		written := writeAccounts(b, h, 100, 10)
		for em.Delivered() < base+len(written) {
			time.Sleep(time.Millisecond)
		}
		open += processCPU() - c0
		if err := em.Close(); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU() - c0
		wall += time.Since(t0)
		hook.Close()
		for k, w := range written {
			d, ok := rc.at(k)
			if !ok {
				b.Fatalf("%s never delivered", k)
			}
			lat = append(lat, d.Sub(w))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "cpu-ms-before-close/op")
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms/op")
	b.ReportMetric(float64(lat[len(lat)/2].Milliseconds()), "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Milliseconds()), "p99-ms")
}

// timingReceiver notes when each event (by record id and version) arrived.
type timingReceiver struct {
	delay time.Duration
	mu    sync.Mutex
	got   map[string]time.Time
}

func newTimingReceiver(delay time.Duration) *timingReceiver {
	return &timingReceiver{delay: delay, got: map[string]time.Time{}}
}

func (rc *timingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	time.Sleep(rc.delay)
	ev, err := billingapi.ParseWebhook(body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	rc.mu.Lock()
	rc.got[ev.Data.ID()+"@"+strconv.FormatInt(ev.Data.Version(), 10)] = time.Now()
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (rc *timingReceiver) at(key string) (time.Time, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.got[key]
	return t, ok
}

// writeAccounts writes accounts × perAccount records from ten clients, each
// writing its accounts one after another, and returns when each write
// (record id @ version) was answered.
func writeAccounts(b *testing.B, h http.Handler, accounts, perAccount int) map[string]time.Time {
	b.Helper()
	var mu sync.Mutex
	written := map[string]time.Time{}
	do := func(method, path string, body any) billsync.Entity {
		raw, _ := json.Marshal(body)
		req := httptest.NewRequest(method, path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+testToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code/100 != 2 {
			b.Errorf("%s %s: %d %s", method, path, rec.Code, rec.Body)
			return nil
		}
		ent, err := billsync.DecodeEntity(rec.Body.Bytes())
		if err != nil {
			b.Error(err)
			return nil
		}
		mu.Lock()
		written[ent.ID()+"@"+strconv.FormatInt(ent.Version(), 10)] = time.Now()
		mu.Unlock()
		return ent
	}
	var wg sync.WaitGroup
	const clients = 10
	for c := range clients {
		wg.Go(func() {
			for a := c; a < accounts; a += clients {
				acc := do("POST", "/api/v1/accounts", map[string]any{"name": fmt.Sprintf("Acc %d", a), "code": fmt.Sprintf("A%d", a)})
				if acc == nil {
					return
				}
				for i := 0; i < 3 && i < perAccount-1; i++ {
					do("POST", "/api/v1/balances", map[string]any{"accountId": acc.ID(), "name": fmt.Sprintf("B%d", i), "amount": "10.00", "currency": "USD"})
				}
				v := acc.Version()
				for i := 4; i < perAccount; i++ {
					up := do("PUT", "/api/v1/accounts/"+acc.ID(), map[string]any{"name": fmt.Sprintf("Acc %d r%d", a, i), "code": fmt.Sprintf("A%d", a), "version": v})
					if up == nil {
						return
					}
					v = up.Version()
				}
			}
		})
	}
	wg.Wait()
	return written
}

// processCPU is the user and system CPU this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
