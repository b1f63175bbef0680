package bench

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/billsync/billsync"
	sfemu "github.com/billsync/billsync/emulate/salesforce"
	"github.com/billsync/billsync/salesforce/bulk"
	"github.com/billsync/billsync/salesforce/rest"
)

// InitialLoadResult compares loading the same records into an empty org
// through sObject Collections (200 records a call) and through Bulk API
// 2.0 ingest jobs, each against a fresh Salesforce emulator whose data
// API calls are delayed by SFLatencyMs. Both loads are accounts, then one
// balance per account linked to its account by external id, then two
// transactions per balance linked to it. These are transport figures:
// the REST and Bulk clients called directly. Billsync is what billsync
// itself does with the same load (`resync --initial`, Bulk ingest on and
// off).
type InitialLoadResult struct {
	Accounts    int               `json:"accounts"`
	Records     int               `json:"records"` // accounts + balances + transactions
	SFLatencyMs float64           `json:"sfLatencyMs"`
	Collections InitialLoadFigure `json:"collections"`
	Bulk        InitialLoadFigure `json:"bulk"`
	// Speedup is Bulk's records/s over Collections'.
	Speedup float64 `json:"speedup"`
	// Billsync is the load through billsync itself; nil when it was not
	// run.
	Billsync *InitialBillsyncResult `json:"throughBillsync,omitempty"`
}

// InitialLoadFigure is one way of loading.
type InitialLoadFigure struct {
	Seconds       float64 `json:"seconds"`
	RecordsPerSec float64 `json:"recordsPerSec"`
	APICalls      int     `json:"apiCalls"`
	CallsPer1000  float64 `json:"callsPer1000"`
	BulkJobs      int     `json:"bulkJobs,omitempty"`
	Failed        int     `json:"failed"`
}

// loader writes records of one object by upsert on BillingId__c.
type loader func(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error)

// benchInitialLoad runs the initial-load workload both ways.
func benchInitialLoad(ctx context.Context, accounts int, latency time.Duration, log *slog.Logger) (*InitialLoadResult, error) {
	res := &InitialLoadResult{Accounts: accounts, Records: initialRecords * accounts, SFLatencyMs: ms(latency)}
	var err error
	log.Info("bench: initial load through collections", "accounts", accounts, "sf_latency", latency)
	res.Collections, err = initialLoadOnce(ctx, accounts, latency, func(rc *rest.Client, _ *bulk.Client) loader {
		return func(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
			return rc.Upsert(ctx, object, "BillingId__c", recs)
		}
	})
	if err != nil {
		return res, fmt.Errorf("collections: %w", err)
	}
	log.Info("bench: initial load through Bulk API 2.0", "accounts", accounts, "sf_latency", latency)
	res.Bulk, err = initialLoadOnce(ctx, accounts, latency, func(_ *rest.Client, bc *bulk.Client) loader {
		return func(ctx context.Context, object string, recs []billsync.SObject) ([]billsync.SaveResult, error) {
			return bc.Upsert(ctx, object, "BillingId__c", recs)
		}
	})
	if err != nil {
		return res, fmt.Errorf("bulk: %w", err)
	}
	if res.Collections.RecordsPerSec > 0 {
		res.Speedup = res.Bulk.RecordsPerSec / res.Collections.RecordsPerSec
	}
	return res, nil
}

// initialLoadOnce loads accounts, their balances and transactions into a
// fresh org.
func initialLoadOnce(ctx context.Context, accounts int, latency time.Duration, pick func(*rest.Client, *bulk.Client) loader) (InitialLoadFigure, error) {
	var fig InitialLoadFigure
	emu, err := sfemu.New(sfemu.Options{DailyAPILimit: 1 << 30})
	if err != nil {
		return fig, err
	}
	defer emu.Close()
	srv := httptest.NewServer(delayData(emu.Handler(), latency))
	defer srv.Close()
	emu.SetBaseURL(srv.URL)
	rc, err := rest.New(rest.Config{LoginURL: srv.URL, Grant: rest.GrantPassword,
		ClientID: sfemu.DefaultClientID, ClientSecret: sfemu.DefaultClientSecret,
		Username: sfemu.IntegrationUsername, Password: sfemu.IntegrationPassword, Timeout: 5 * time.Minute})
	if err != nil {
		return fig, err
	}
	// Polls start at the Salesforce latency: a job is never done sooner
	// than a call takes.
	bc := bulk.New(rc, bulk.Options{PollMin: max(latency, 50*time.Millisecond), PollMax: time.Second})
	load := pick(rc, bc)
	if _, _, err := rc.Identity(ctx); err != nil { // log in outside the timing
		return fig, err
	}
	accts := make([]billsync.SObject, accounts)
	bals := make([]billsync.SObject, accounts)
	txs := make([]billsync.SObject, 0, 2*accounts)
	for i := range accounts {
		id := "acct-" + strconv.Itoa(i)
		accts[i] = billsync.SObject{"BillingId__c": id, "Name": "Account " + strconv.Itoa(i), "Code__c": "C" + strconv.Itoa(i), "Currency__c": "USD"}
		bals[i] = billsync.SObject{"BillingId__c": "bal-" + strconv.Itoa(i), "Name": "Prepaid", "Currency__c": "USD",
			"Amount__c": billsync.MustMoney(strconv.Itoa(i%1000) + ".25"), "BillingAccount__r": billsync.SObject{"BillingId__c": id}}
		for j, amt := range []string{"250.00", "-" + strconv.Itoa(i%100) + ".05"} {
			txs = append(txs, billsync.SObject{"BillingId__c": "tx-" + strconv.Itoa(i) + "-" + strconv.Itoa(j), "Amount__c": billsync.MustMoney(amt),
				"BillingBalance__r": billsync.SObject{"BillingId__c": "bal-" + strconv.Itoa(i)}})
		}
	}
	calls0 := emu.APIUsage()
	start := time.Now()
	for _, step := range []struct {
		object string
		recs   []billsync.SObject
	}{{"BillingAccount__c", accts}, {"BillingBalance__c", bals}, {"BillingBalanceTransaction__c", txs}} {
		got, err := load(ctx, step.object, step.recs)
		if err != nil {
			return fig, err
		}
		for _, r := range got {
			if !r.Success {
				fig.Failed++
			}
		}
	}
	fig.Seconds = time.Since(start).Seconds()
	fig.APICalls = emu.APIUsage() - calls0
	n := initialRecords * accounts
	fig.RecordsPerSec = float64(n) / fig.Seconds
	fig.CallsPer1000 = float64(fig.APICalls) * 1000 / float64(n)
	fig.BulkJobs = emu.BulkJobs()["ingest"]
	if fig.Failed > 0 {
		return fig, fmt.Errorf("%d of %d records failed to load", fig.Failed, n)
	}
	return fig, nil
}

// delayData delays every data API call by d, as a distant org does;
// logins are not delayed, as they happen once.
func delayData(h http.Handler, d time.Duration) http.Handler {
	if d <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/services/data/") {
			t := time.NewTimer(d)
			select {
			case <-r.Context().Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		h.ServeHTTP(w, r)
	})
}

// The initial-load targets hold at 50 ms per Salesforce call.
const (
	targetInitialSpeedup      = 3.0 // Bulk's records/s over collections'
	targetInitialCallsPer1000 = 1.0 // Bulk's API calls per 1,000 records loaded
	targetInitialSFDelay      = 50.0
)

func initialTargets(in *InitialLoadResult, add func(name, target, value string, judged, pass bool, note string)) {
	judged, note := in.SFLatencyMs >= targetInitialSFDelay, ""
	if !judged {
		note = fmt.Sprintf("measured at %.0f ms per call, not %.0f", in.SFLatencyMs, targetInitialSFDelay)
	}
	initialTransportTargets(in, judged, note, add)
	if b := in.Billsync; b != nil {
		if b.Collections.Seconds > 0 { // not skipped
			add("initial load through billsync: Bulk records/s over collections", fmt.Sprintf("≥ %.0f×", targetInitialSpeedup),
				fmt.Sprintf("%.2f× (%.0f vs %.0f records/s)", b.Speedup, b.Bulk.RecordsPerSec, b.Collections.RecordsPerSec),
				judged, b.Speedup >= targetInitialSpeedup, note)
		}
		add("initial load through billsync: Bulk API calls per 1,000 records", fmt.Sprintf("≤ %.0f", targetInitialCallsPer1000),
			fmt.Sprintf("%.2f", b.Bulk.CallsPer1000), true, b.Bulk.CallsPer1000 <= targetInitialCallsPer1000, "")
	}
}

func initialTransportTargets(in *InitialLoadResult, judged bool, note string, add func(name, target, value string, judged, pass bool, note string)) {
	if in.Collections.Seconds == 0 { // --skip initial-transport
		return
	}
	add("initial load (transport): Bulk records/s over collections", fmt.Sprintf("≥ %.0f×", targetInitialSpeedup),
		fmt.Sprintf("%.1f× (%.0f vs %.0f records/s)", in.Speedup, in.Bulk.RecordsPerSec, in.Collections.RecordsPerSec),
		judged, in.Speedup >= targetInitialSpeedup, note)
	add("initial load (transport): Bulk API calls per 1,000 records", fmt.Sprintf("≤ %.0f", targetInitialCallsPer1000),
		fmt.Sprintf("%.2f", in.Bulk.CallsPer1000), true, in.Bulk.CallsPer1000 <= targetInitialCallsPer1000, "")
}

func printInitial(p func(string, ...any), in *InitialLoadResult) {
	p("initial load\t%d accounts + %d balances + %d transactions into an empty org, Salesforce +%.0f ms per call", in.Accounts, in.Accounts, 2*in.Accounts, in.SFLatencyMs)
	if in.Collections.Seconds > 0 { // not --skip initial-transport
		printInitialTransport(p, in)
	}
	b := in.Billsync
	if b == nil {
		return
	}
	p("\tthrough billsync (resync --initial until every record is applied and verified):")
	for _, f := range []struct {
		name string
		fig  InitialBillsyncFigure
	}{{"bulk ingest on", b.Bulk}, {"bulk ingest off (collections)", b.Collections}} {
		if f.fig.Seconds == 0 { // --skip initial-collections
			continue
		}
		cpu := ""
		if f.fig.CPUSeconds > 0 {
			cpu = fmt.Sprintf(", %.0f s CPU (%.0f%% of one core)", f.fig.CPUSeconds, 100*f.fig.CPUSeconds/f.fig.Seconds)
		}
		p("\t  %s: %.2f s, %.0f records/s, %d API calls (%.2f per 1,000), %d ingest jobs, peak RSS %.0f MiB%s", f.name, f.fig.Seconds,
			f.fig.RecordsPerSec, f.fig.APICalls, f.fig.CallsPer1000, f.fig.BulkJobs, float64(f.fig.PeakRSSBytes)/(1<<20), cpu)
		p("\t    emulators (this process) after the load: heap in use %.0f MiB, peak RSS %.0f MiB",
			float64(f.fig.EmulatorHeapInuseBytes)/(1<<20), float64(f.fig.EmulatorPeakRSSBytes)/(1<<20))
	}
	if b.Collections.Seconds > 0 {
		p("\t  speed-up through billsync: %.2f×", b.Speedup)
	}
}

func printInitialTransport(p func(string, ...any), in *InitialLoadResult) {
	p("\ttransport (the REST and Bulk clients called directly, not billsync):")
	for _, f := range []struct {
		name string
		fig  InitialLoadFigure
	}{{"collections", in.Collections}, {"bulk 2.0", in.Bulk}} {
		jobs := ""
		if f.fig.BulkJobs > 0 {
			jobs = fmt.Sprintf(", %d ingest jobs", f.fig.BulkJobs)
		}
		p("\t  %s: %.2f s, %.0f records/s, %d API calls (%.2f per 1,000)%s", f.name, f.fig.Seconds, f.fig.RecordsPerSec, f.fig.APICalls, f.fig.CallsPer1000, jobs)
	}
}
