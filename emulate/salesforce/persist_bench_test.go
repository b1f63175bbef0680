package salesforce

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"
)

// benchBaseRecords is the org's size before the burst: a sandbox some
// minutes into a run holds thousands of records, and whatever persistence
// costs in proportion to the whole state shows up only then.
const benchBaseRecords = 5000

// BenchmarkPersistUpsertBurst measures 1,000 BillingAccount__c upserts
// through the REST handler against an org kept in a data directory: the
// CPU the process spends from the first request to the end of Close (the
// emulator's persistence included, whenever it runs) and up to Close, and
// the requests' latency.
// "paced" spreads the same writes over about two seconds, as a sandbox
// run's steady stream does.
func BenchmarkPersistUpsertBurst(b *testing.B) {
	for _, paced := range []bool{false, true} {
		name := "burst"
		if paced {
			name = "paced"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			seedBenchOrg(b, dir)
			var cpu, open, wall time.Duration
			var lat []time.Duration
			b.ResetTimer()
			for range b.N {
				e, err := New(Options{DataDir: dir})
				if err != nil {
					b.Fatal(err)
				}
				tok, err := e.IssueToken(IntegrationUsername)
				if err != nil {
					b.Fatal(err)
				}
				h := e.Handler()
				c0, t0 := processCPU(), time.Now()
				lat = append(lat, upsertBurst(b, h, tok, 1000, 4, paced)...)
				open += processCPU() - c0
				if err := e.Close(); err != nil {
					b.Fatal(err)
				}
				cpu += processCPU() - c0
				wall += time.Since(t0)
			}
			slices.Sort(lat)
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(open.Milliseconds())/float64(b.N), "cpu-ms-before-close/op")
			b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "wall-ms/op")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds()), "max-µs")
		})
	}
}

func seedBenchOrg(b *testing.B, dir string) {
	b.Helper()
	e, err := New(Options{DataDir: dir})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := e.IssueToken(IntegrationUsername)
	if err != nil {
		b.Fatal(err)
	}
	h := e.Handler()
	for i := 0; i < benchBaseRecords; i += 200 {
		var recs []map[string]any
		for j := i; j < i+200; j++ {
			recs = append(recs, map[string]any{"attributes": map[string]any{"type": "BillingAccount__c"},
				"BillingId__c": fmt.Sprintf("base-%d", j), "Name": fmt.Sprintf("Base %d", j), "Code__c": fmt.Sprintf("B%d", j), "Email__c": "ops@example.com"})
		}
		body, _ := json.Marshal(map[string]any{"allOrNone": false, "records": recs})
		if code := serve(h, tok, "PATCH", "/services/data/v62.0/composite/sobjects/BillingAccount__c/BillingId__c", body); code != 200 {
			b.Fatalf("seed: %d", code)
		}
	}
	if err := e.Close(); err != nil {
		b.Fatal(err)
	}
}

// upsertBurst sends n upserts from workers goroutines and returns each
// request's latency.
func upsertBurst(b *testing.B, h http.Handler, tok string, n, workers int, paced bool) []time.Duration {
	b.Helper()
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var failed sync.Once
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				if paced {
					time.Sleep(time.Duration(workers) * 2 * time.Millisecond) // about 500 writes/s in all
				}
				body, _ := json.Marshal(map[string]any{"Name": fmt.Sprintf("Burst %d", i), "Code__c": fmt.Sprintf("C%d", i), "Email__c": "ops@example.com"})
				t0 := time.Now()
				code := serve(h, tok, "PATCH", fmt.Sprintf("/services/data/v62.0/sobjects/BillingAccount__c/BillingId__c/burst-%d", i), body)
				lat[i] = time.Since(t0)
				if code != 201 && code != 200 {
					failed.Do(func() { b.Errorf("upsert %d: %d", i, code) })
				}
			}
		})
	}
	wg.Wait()
	return lat
}

func serve(h http.Handler, tok, method, path string, body []byte) int {
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// processCPU is the user and system CPU this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
