package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync/bench"
)

// benchChildCommand builds the command that runs billsync with args. The
// bench re-executes its own binary; tests replace this to re-execute the
// test binary.
var benchChildCommand = func(args ...string) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the billsync binary: %w", err)
	}
	return exec.Command(exe, args...), nil
}

func newBenchCmd(g *globals) *cobra.Command {
	opts := bench.DefaultOptions()
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure throughput, Salesforce API calls, latency, webhook ingest, memory and backlog growth",
		Long: `Start the Salesforce and billing emulators in this process and billsync as a
child process (so its memory is measured alone), drive six workloads and
print a table of figures against billsync's targets, then one JSON line
with every figure (--json prints only that line).

  ingest   signed webhooks POSTed by many clients to billsync's webhook
           handler and store, with no sync running: durable requests/s
  burst    --records accounts created in billing at once, then each updated:
           records/s until all are in Salesforce, and API calls per 1,000
  latency  --rate new accounts per second for --duration with every
           Salesforce call delayed by --sf-latency: p50/p95/p99 from webhook
           accepted to Salesforce written
  realistic
           --real-accounts accounts, each written through the billing API
           as a client writes it (the account, --real-balances balances,
           --real-transactions transactions each, then --real-rounds rounds
           updating all of them), --real-clients accounts at once, with
           Salesforce at --sf-latency; then the same through a per-record
           integration for comparison: API calls per 1,000 changes,
           records/s, convergence, write→Salesforce p50/p99, billsync's CPU
  backlog  for each --backlog size, a store holding that many queued
           changes: enqueue and claim+complete cost, file size, and
           billsync's start time, drain rate and peak RSS on it
  initial  --initial-accounts accounts with a balance and two transactions
           each loaded into an empty Salesforce emulator at --sf-latency:
           first the transport alone (the REST and Bulk clients called
           directly), through sObject Collections and through Bulk API 2.0
           ingest jobs; then through billsync itself (resync --initial of
           the billing emulator holding them, every record verified) with
           Bulk ingest on and off, with the contract's billing only:
           records/s, API calls (total and per 1,000), Bulk jobs used and
           billsync's peak RSS

--billing stripe runs the Stripe emulator instead of the contract's and
writes burst, latency and realistic through Stripe's API (customers,
customer balance transactions); the realistic figures add billsync's
Stripe calls per 1,000 changes. --billing m3ter does the same with the
m3ter emulator, written as a person in m3ter's console (accounts,
balances, balance transactions; m3ter's transactions cannot be edited,
so each update round adds new ones), and adds billsync's m3ter calls per
1,000 changes. The per-record comparison, ingest and backlog are the
contract's and do not run with either.

Targets are printed, not asserted: a missed one shows MISS. --quick runs
small sizes (CI). --cpuprofile profiles this process; add --in-process to
run billsync inside it, so the profile covers the sync itself.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opts.Quick {
				opts.ApplyQuick(cmd.Flags().Changed)
			}
			if err := opts.Validate(); err != nil {
				return err
			}
			bs := bench.Billsync{Version: version, Command: benchChildCommand, Start: startSandboxApp}
			rep, err := bench.Run(cmd.Context(), opts, bs, benchLogger(cmd, g), "billsync "+strings.Join(os.Args[1:], " "))
			if rep != nil {
				if werr := bench.WriteReport(g.out, rep, asJSON); werr != nil {
					return errors.Join(err, werr)
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&opts.Records, "records", opts.Records, "accounts in the create burst (and the update burst that follows)")
	f.IntVar(&opts.InitialAccounts, "initial-accounts", opts.InitialAccounts, "accounts (each with a balance and two transactions) in the initial-load workload")
	f.IntVar(&opts.Rate, "rate", opts.Rate, "events per second in the latency workload")
	f.DurationVar(&opts.Duration, "duration", opts.Duration, "length of the latency workload")
	f.DurationVar(&opts.SFLatency, "sf-latency", opts.SFLatency, "latency the Salesforce emulator adds to every data API call in the latency, realistic and initial-load workloads")
	f.IntSliceVar(&opts.Backlog, "backlog", opts.Backlog, "queued-change counts for the backlog growth figures, ascending")
	f.DurationVar(&opts.BacklogWindow, "backlog-window", opts.BacklogWindow, "how long billsync runs on each backlog")
	f.IntVar(&opts.BacklogOps, "backlog-ops", opts.BacklogOps, "timed enqueues and claims per backlog size")
	f.IntVar(&opts.IngestClients, "ingest-clients", opts.IngestClients, "concurrent webhook senders in the ingest workload")
	f.DurationVar(&opts.IngestDuration, "ingest-duration", opts.IngestDuration, "length of the ingest workload")
	f.IntVar(&opts.Shape.Accounts, "real-accounts", opts.Shape.Accounts, "accounts in the realistic workload")
	f.IntVar(&opts.Shape.Balances, "real-balances", opts.Shape.Balances, "balances per account in the realistic workload")
	f.IntVar(&opts.Shape.Transactions, "real-transactions", opts.Shape.Transactions, "transactions per balance in the realistic workload")
	f.IntVar(&opts.Shape.Rounds, "real-rounds", opts.Shape.Rounds, "update rounds in the realistic workload (each updates every record of the account)")
	f.IntVar(&opts.Shape.Clients, "real-clients", opts.Shape.Clients, "accounts written at once in the realistic workload")
	f.IntVar(&opts.Workers, "workers", opts.Workers, "billsync's workers (partitions synced in parallel); 0 = billsync's default")
	f.BoolVar(&opts.Quick, "quick", false, "small sizes for CI: 200 records, 3 s at 200 events/s, 20 realistic accounts, backlogs of 1k and 10k")
	f.BoolVar(&asJSON, "json", false, "print only one JSON line with every figure")
	f.BoolVar(&opts.InProcess, "in-process", false, "run billsync in this process instead of a child (RSS is then the whole process's)")
	f.StringVar(&opts.CPUProfile, "cpuprofile", "", "write a CPU profile of this process to FILE (go tool pprof FILE)")
	f.StringVar(&opts.MemProfile, "memprofile", "", "write a heap profile of this process (the emulators) to FILE at the end of the initial load through billsync, before the emulators close (FILE.collections for Bulk ingest off); go tool pprof -inuse_space FILE")
	f.StringVar(&opts.Data, "data", "", "directory for all state (default: a temporary directory, removed afterwards)")
	f.BoolVar(&opts.Keep, "keep", false, "keep the temporary state directory")
	f.StringSliceVar(&opts.Skip, "skip", nil, "workloads to skip: "+strings.Join(bench.Phases, ", ")+
		"; initial-transport skips the initial load's transport figures, initial-collections its load through billsync with Bulk ingest off")
	f.StringVar(&opts.Billing, "billing", "contract", "billing platform the workloads write to: contract, stripe (the Stripe emulator, written through Stripe's API) or m3ter (the m3ter emulator, written as a person in m3ter's console); with stripe or m3ter the ingest and backlog workloads, which are the contract's, do not run")
	f.Float64Var(&opts.StripeRate, "stripe-rate", 0, "with --billing stripe: billsync's pace of Stripe requests per second (billing.options.rateLimit; default billsync's own)")
	f.Float64Var(&opts.M3terRate, "m3ter-rate", 0, "with --billing m3ter: billsync's pace of m3ter requests per second (billing.options.rateLimit; default billsync's own)")
	f.DurationVar(&opts.DrainTimeout, "drain-timeout", 0, "longest wait for a workload to reach Salesforce (default: from its size)")
	return cmd
}

// benchLogger is the bench's logger: at warn unless --log-level (or
// BILLSYNC_LOG_LEVEL) asks for another level, so the figures are not lost
// among billsync's info lines.
func benchLogger(cmd *cobra.Command, g *globals) *slog.Logger {
	if !cmd.Flags().Changed("log-level") && os.Getenv("BILLSYNC_LOG_LEVEL") == "" {
		quiet := *g
		quiet.logLevel = "warn"
		return quiet.logger()
	}
	return g.logger()
}
