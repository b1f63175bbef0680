package main

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminview"
)

func newResyncCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	var (
		object, record, follow, progress string
		dryRun, initial                  bool
		poll, every                      time.Duration
	)
	cmd := &cobra.Command{
		Use:   "resync",
		Short: "Compare both sides and repair drift, with progress",
		Long: `Resync lists records on both sides, compares them, and queues the changes
that repair every difference: the way back after switches were off or
events were lost. It runs in the billsync server; this command starts it and
follows its progress until it ends, then prints what it found.

--initial is the first load of an existing org: records already on both
sides are linked (by BillingId__c, crmAccountId, code) before any is
created. Run it with --dry-run first: a dry run lists the differences and
the API calls a repair would spend, and changes nothing.`,
		Example: `  billsync resync --initial --dry-run
  billsync resync --object account
  billsync resync --object balance --record bal_01H... --dry-run
  billsync resync --follow 3f6c...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if poll <= 0 || every <= 0 {
				return billsync.Errorf(billsync.EINVALID, "--poll-interval and --progress-interval must be positive")
			}
			// With --json, stdout carries only the final report.
			pw := g.out
			if af.json {
				pw = g.err
			}
			pr, err := adminview.NewProgress(pw, progress, every)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c := af.client()
			var rep *billsync.ResyncReport
			if follow != "" {
				if object != "" || record != "" || dryRun || initial {
					return billsync.Errorf(billsync.EINVALID, "--follow takes no other resync flags: the resync was started with its own")
				}
				rep, err = c.Resync(ctx, follow)
			} else {
				var req billsync.ResyncRequest
				req, err = resyncRequest(object, record, dryRun, initial)
				if err != nil {
					return err
				}
				rep, err = c.StartResync(ctx, req)
			}
			if err != nil {
				return err
			}
			rep, err = adminview.FollowResync(ctx, c, rep, poll, pr)
			pr.End()
			if err != nil {
				return err
			}
			if af.json {
				if err := adminview.JSON(g.out, rep); err != nil {
					return err
				}
			} else if err := adminview.ResyncSummary(g.out, rep); err != nil {
				return err
			}
			return adminview.ResyncError(rep)
		},
	}
	af.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&object, "object", "", "only this object type: account, balance, balance_transaction or quote (default: every two-way object)")
	fl.StringVar(&record, "record", "", "only this record, by billing or Salesforce id (needs --object)")
	fl.BoolVar(&dryRun, "dry-run", false, "list the differences and the API calls a repair would spend; change nothing")
	fl.BoolVar(&initial, "initial", false, "first load: link records that exist on both sides before creating any")
	fl.StringVar(&follow, "follow", "", "follow a resync already started (by its id) instead of starting one")
	fl.StringVar(&progress, "progress", "auto", "progress display: auto (a bar on a terminal, else a line every 2 s), bar, plain or none")
	fl.DurationVar(&poll, "poll-interval", time.Second, "how often to ask billsync for the resync's progress")
	fl.DurationVar(&every, "progress-interval", 2*time.Second, "how often to print a progress line when not drawing a bar")
	_ = fl.MarkHidden("poll-interval")
	_ = fl.MarkHidden("progress-interval")
	return cmd
}

func resyncRequest(object, record string, dryRun, initial bool) (billsync.ResyncRequest, error) {
	req := billsync.ResyncRequest{Record: strings.TrimSpace(record), DryRun: dryRun, Initial: initial}
	if object != "" {
		t, err := billsync.ParseObjectType(strings.TrimSpace(object))
		if err != nil {
			return req, err
		}
		req.Object = t
	}
	if req.Record != "" && req.Object == "" {
		return req, billsync.Errorf(billsync.EINVALID, "--record needs --object (the type of the record)")
	}
	return req, nil
}
