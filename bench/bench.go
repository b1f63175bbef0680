package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"time"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/billingapi"
	"github.com/billsync/billsync/sandbox"
)

// Billsync is how the bench starts the billsync it measures. The command
// wires it, since billsync's start-up lives in package main, which this
// package must not import.
type Billsync struct {
	// Version is billsync's version, for the report.
	Version string
	// Command builds the command that runs billsync with args (`serve`
	// and its flags) as a child process; the bench adds the environment
	// that points it at the emulators.
	Command func(args ...string) (*exec.Cmd, error)
	// Start runs billsync in this process, for Options.InProcess.
	Start sandbox.StartFunc
}

// Options are the knobs of `billsync bench`.
type Options struct {
	Records        int           // accounts in the create and update bursts
	Rate           int           // events per second in the latency workload
	Duration       time.Duration // length of the latency workload
	SFLatency      time.Duration // per-call latency of the Salesforce emulator in the latency workload
	Backlog        []int         // queued-change counts for the growth figures
	BacklogWindow  time.Duration // how long billsync runs on each backlog
	BacklogOps     int           // timed single operations per backlog size
	IngestClients  int
	IngestDuration time.Duration
	Workers        int
	// Shape is the realistic workload's size; its Salesforce latency is
	// SFLatency.
	Shape      Shape
	Quick      bool
	InProcess  bool
	CPUProfile string // a file for this process's CPU profile while the workloads run
	// MemProfile is a file for a heap profile of this process (the
	// emulators) at the end of each initial load through billsync, after
	// verification and before the emulators close: FILE for Bulk ingest
	// on, FILE.collections for off.
	MemProfile string
	Data       string
	Keep       bool
	Skip       []string
	// Billing is the billing platform the workloads write to: "" or
	// "contract" (the default), "stripe" (the Stripe emulator, written
	// through Stripe's API as its users write it) or "m3ter" (the m3ter
	// emulator, written as a person in m3ter's console writes it).
	Billing string
	// StripeRate is billsync's pacing of Stripe requests per second
	// (billing.options.rateLimit); 0 keeps billsync's default.
	StripeRate float64
	// M3terRate is billsync's pacing of m3ter requests per second
	// (billing.options.rateLimit); 0 keeps billsync's default.
	M3terRate float64
	// InitialAccounts is the initial-load workload's size: this many
	// accounts with a balance and two transactions each, loaded into an
	// empty org at SFLatency through collections and through Bulk API 2.0
	// (the clients directly), then through billsync (resync --initial)
	// with Bulk ingest on and off.
	InitialAccounts int
	// DrainTimeout bounds the wait for a workload to reach Salesforce; 0
	// picks one from the workload's size.
	DrainTimeout time.Duration
}

// Phases are the workloads, in the order they run.
var Phases = []string{"ingest", "burst", "latency", "realistic", "backlog", "initial"}

// InitialLegs are parts of the initial workload --skip also takes, so a
// large load can run only the leg being measured: the transport figures
// (the clients called directly) and the load through billsync with Bulk
// ingest off.
var InitialLegs = []string{"initial-transport", "initial-collections"}

// DefaultOptions are the full-size workloads.
func DefaultOptions() Options {
	return Options{
		Records: 1000, Rate: 1000, Duration: 10 * time.Second, SFLatency: 50 * time.Millisecond,
		Backlog: []int{10_000, 100_000, 1_000_000}, BacklogWindow: 5 * time.Second, BacklogOps: 1000,
		IngestClients: 32, IngestDuration: 10 * time.Second,
		Shape:           Shape{Accounts: 100, Balances: 2, Transactions: 5, Rounds: 2, Clients: 8},
		InitialAccounts: 10_000,
	}
}

// ApplyQuick shrinks every size the caller did not set, so CI can run the
// whole bench in well under a minute.
func (o *Options) ApplyQuick(changed func(string) bool) {
	set := func(flag string, apply func()) {
		if !changed(flag) {
			apply()
		}
	}
	set("records", func() { o.Records = 200 })
	set("rate", func() { o.Rate = 200 })
	set("duration", func() { o.Duration = 3 * time.Second })
	set("backlog", func() { o.Backlog = []int{1_000, 10_000} })
	set("backlog-window", func() { o.BacklogWindow = 2 * time.Second })
	set("backlog-ops", func() { o.BacklogOps = 200 })
	set("ingest-duration", func() { o.IngestDuration = 2 * time.Second })
	set("real-accounts", func() { o.Shape.Accounts = 20 })
	set("initial-accounts", func() { o.InitialAccounts = 1_000 })
}

// Validate says what is wrong with the options, naming their flags.
func (o Options) Validate() error {
	var errs []error
	if o.Records < 1 {
		errs = append(errs, errors.New("--records must be at least 1"))
	}
	if o.Rate < 1 {
		errs = append(errs, errors.New("--rate must be at least 1"))
	}
	if o.Duration <= 0 || o.BacklogWindow <= 0 || o.IngestDuration <= 0 {
		errs = append(errs, errors.New("--duration, --backlog-window and --ingest-duration must be positive"))
	}
	if o.SFLatency < 0 {
		errs = append(errs, errors.New("--sf-latency must not be negative"))
	}
	if o.IngestClients < 1 || o.BacklogOps < 1 {
		errs = append(errs, errors.New("--ingest-clients and --backlog-ops must be at least 1"))
	}
	if s := o.Shape; s.Accounts < 1 || s.Clients < 1 || s.Balances < 0 || s.Transactions < 0 || s.Rounds < 0 {
		errs = append(errs, errors.New("--real-accounts and --real-clients must be at least 1, --real-balances, --real-transactions and --real-rounds at least 0"))
	}
	if o.InitialAccounts < 1 {
		errs = append(errs, errors.New("--initial-accounts must be at least 1"))
	}
	if o.Workers < 0 {
		errs = append(errs, errors.New("--workers must not be negative"))
	}
	for _, n := range o.Backlog {
		if n < 1 {
			errs = append(errs, fmt.Errorf("--backlog: %d is not a positive size", n))
		}
	}
	if !slices.IsSorted(o.Backlog) {
		errs = append(errs, errors.New("--backlog sizes must ascend (each size tops up the previous store)"))
	}
	for _, p := range o.Skip {
		if !slices.Contains(Phases, p) && !slices.Contains(InitialLegs, p) {
			errs = append(errs, fmt.Errorf("--skip %q: want one of %s", p, strings.Join(append(slices.Clone(Phases), InitialLegs...), ", ")))
		}
	}
	if o.StripeRate < 0 || o.StripeRate > 0 && (!o.stripe() || o.InProcess) {
		errs = append(errs, errors.New("--stripe-rate needs --billing stripe and billsync as a child (not --in-process), and must not be negative"))
	}
	if o.M3terRate < 0 || o.M3terRate > 10000 || o.M3terRate > 0 && !o.m3ter() {
		errs = append(errs, errors.New("--m3ter-rate needs --billing m3ter, and must be between 0 and 10000"))
	}
	switch o.Billing {
	case "", billsync.PlatformContract, billsync.PlatformStripe, billsync.PlatformM3ter:
	default:
		errs = append(errs, fmt.Errorf("--billing %q: want %s, %s or %s", o.Billing, billsync.PlatformContract, billsync.PlatformStripe, billsync.PlatformM3ter))
	}
	return errors.Join(errs...)
}

// contractOnly are the workloads that exercise the billing contract's
// own parts (its webhook format, queued contract changes) and so run
// only with it.
var contractOnly = []string{"ingest", "backlog"}

func (o Options) stripe() bool { return o.Billing == billsync.PlatformStripe }
func (o Options) m3ter() bool  { return o.Billing == billsync.PlatformM3ter }

func (o Options) runs(phase string) bool {
	return !slices.Contains(o.Skip, phase) && !((o.stripe() || o.m3ter()) && slices.Contains(contractOnly, phase))
}

// Run runs every workload not skipped. A workload that fails is
// reported in the result's Errors and the others still run; the returned
// error joins those failures. A missed target is not an error.
func Run(ctx context.Context, opts Options, bs Billsync, log *slog.Logger, command string) (*Report, error) {
	if (opts.InProcess && bs.Start == nil) || (!opts.InProcess && bs.Command == nil) {
		return nil, errors.New("bench: Billsync has no way to start billsync in this mode")
	}
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	rep := &Report{
		Version: bs.Version, Command: command, Machine: benchMachine(), Quick: opts.Quick,
		Mode: "child", Workers: opts.Workers, StartedAt: time.Now().UTC(), Billing: billsync.PlatformContract,
	}
	if opts.stripe() || opts.m3ter() {
		rep.Billing = opts.Billing
	}
	if opts.InProcess {
		rep.Mode = "in-process"
	}
	dir := opts.Data
	if dir == "" {
		tmp, err := os.MkdirTemp("", "billsync-bench-")
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		dir = tmp
		if !opts.Keep {
			defer os.RemoveAll(tmp)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("bench: --data: %w", err)
	}
	log.Info("bench starting", "data", dir, "quick", opts.Quick, "mode", rep.Mode)

	var errs []error
	fail := func(phase string, err error) {
		if err == nil {
			return
		}
		err = fmt.Errorf("%s: %w", phase, err)
		log.Error("bench workload failed", "workload", phase, "err", err)
		rep.Errors = append(rep.Errors, err.Error())
		errs = append(errs, err)
	}
	if opts.runs("ingest") && ctx.Err() == nil {
		log.Info("bench: ingest", "clients", opts.IngestClients, "duration", opts.IngestDuration)
		res, err := benchIngest(ctx, dir, opts, log)
		rep.Ingest = res
		fail("ingest", err)
	}
	if (opts.runs("burst") || opts.runs("latency") || opts.runs("realistic") || opts.runs("backlog")) && ctx.Err() == nil {
		fail("sync", benchSync(ctx, dir, opts, bs, log, rep))
	}
	if opts.runs("initial") && ctx.Err() == nil {
		res := &InitialLoadResult{Accounts: opts.InitialAccounts, Records: initialRecords * opts.InitialAccounts, SFLatencyMs: ms(opts.SFLatency)}
		var err error
		if opts.runs("initial-transport") {
			res, err = benchInitialLoad(ctx, opts.InitialAccounts, opts.SFLatency, log)
			fail("initial", err)
		}
		rep.Initial = res
		// Through billsync, the load comes from the contract's billing
		// emulator: it runs with the contract only.
		if res != nil && ctx.Err() == nil && !opts.stripe() && !opts.m3ter() {
			res.Billsync, err = benchInitialThroughBillsync(ctx, dir, opts, bs, log)
			fail("initial", err)
		}
	}
	if err := ctx.Err(); err != nil {
		fail("bench", err)
	}
	rep.Elapsed = time.Since(rep.StartedAt).Round(time.Millisecond).Seconds()
	rep.Targets = benchTargets(rep, opts)
	return rep, errors.Join(errs...)
}

// benchSync starts the emulators once, then runs the workloads that need
// them: burst, latency and realistic against one billsync, backlog against a fresh
// billsync per size.
func benchSync(ctx context.Context, dir string, opts Options, bs Billsync, log *slog.Logger, rep *Report) error {
	sbLog := log.With("bench", "sandbox")
	sb, err := sandbox.Start(ctx, sandbox.Options{
		Addr: "127.0.0.1:0", SalesforceAddr: "127.0.0.1:0", BillingAddr: "127.0.0.1:0",
		Data: dir + "/sandbox", NoApp: true, Workers: opts.Workers, Billing: opts.Billing,
	}, sbLog)
	if err != nil {
		return fmt.Errorf("starting the emulators: %w", err)
	}
	defer sb.Close()
	sb.SFFaults.SetLogger(sbLog)
	env := &benchEnv{sb: sb, opts: opts, bs: bs, log: log, dir: dir}
	if sb.Stripe != nil {
		side := newStripeSide(sb.Stripe, sb.BillingURL, sandbox.StripeKey)
		defer side.install()()
		env.side, env.stripe = side, side
	} else if sb.M3ter != nil {
		side, err := newM3terSide(sb.M3ter, sb.BillingURL)
		if err != nil {
			return err
		}
		stop, err := side.install(sb.BillingURL)
		if err != nil {
			return err
		}
		defer stop()
		env.side, env.m3ter = side, side
	} else {
		env.side = &contractSide{emu: sb.Billing, api: billingapi.New(sb.BillingURL, sandbox.BillingToken, nil)}
	}

	var errs []error
	if opts.runs("burst") || opts.runs("latency") || opts.runs("realistic") {
		errs = append(errs, env.runSyncWorkloads(ctx, rep))
	}
	if opts.runs("backlog") && ctx.Err() == nil {
		res, err := env.runBacklog(ctx)
		rep.Backlog = res
		errs = append(errs, err)
	}
	for _, b := range rep.Backlog {
		rep.PeakRSSBytes = max(rep.PeakRSSBytes, b.AppPeakRSSBytes)
	}
	return errors.Join(errs...)
}

// Report is every figure of one run; --json prints it as one line.
type Report struct {
	Version   string             `json:"version"`
	Command   string             `json:"command"`
	Machine   Machine            `json:"machine"`
	Quick     bool               `json:"quick"`
	Mode      string             `json:"mode"`    // "child" or "in-process": whose RSS is measured
	Billing   string             `json:"billing"` // the billing platform: contract, stripe or m3ter
	Workers   int                `json:"workers"` // 0: billsync's default
	StartedAt time.Time          `json:"startedAt"`
	Elapsed   float64            `json:"elapsedSeconds"`
	Ingest    *IngestResult      `json:"ingest,omitempty"`
	Burst     *BurstResult       `json:"burst,omitempty"`
	Update    *BurstResult       `json:"update,omitempty"`
	Latency   *LatencyResult     `json:"latency,omitempty"`
	Realistic *RealisticResult   `json:"realistic,omitempty"`
	Backlog   []BacklogResult    `json:"backlog,omitempty"`
	Initial   *InitialLoadResult `json:"initialLoad,omitempty"`
	// PeakRSSBytes is billsync's highest VmHWM over every workload.
	PeakRSSBytes int64          `json:"peakRssBytes"`
	Targets      []TargetResult `json:"targets"`
	Errors       []string       `json:"errors,omitempty"`
}

// Machine says where the figures come from.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	MemBytes  int64  `json:"memBytes,omitempty"`
	GoVersion string `json:"goVersion"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
}

func benchMachine() Machine {
	m := Machine{CPU: "unknown", Cores: runtime.NumCPU(), GoVersion: runtime.Version(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if kb, ok := procField("/proc/meminfo", "MemTotal"); ok {
		m.MemBytes = kb
	}
	return m
}

// TargetResult is one target with the measured value. Judged is false
// when the run could not say (the workload was skipped or too small).
type TargetResult struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	Value  string `json:"value"`
	Judged bool   `json:"judged"`
	Pass   bool   `json:"pass"`
	Note   string `json:"note,omitempty"`
}

// Status is PASS, MISS or n/a.
func (t TargetResult) Status() string {
	switch {
	case !t.Judged:
		return "n/a"
	case t.Pass:
		return "PASS"
	}
	return "MISS"
}

// WriteReport prints the report: a table, then one JSON line with every
// figure, or only that line when jsonOnly.
func WriteReport(w io.Writer, rep *Report, jsonOnly bool) error {
	line, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("bench: encoding the report: %w", err)
	}
	if !jsonOnly {
		if err := printBenchTable(w, rep); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(w, "%s\n", line)
	return err
}
