package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminview"
)

func newLogsCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	var (
		since, object, record, outcome string
		limit                          int
		all                            bool
	)
	cmd := &cobra.Command{
		Use:   "logs",
		Short: "Query the sync log (one entry per sync attempt), newest first",
		Example: `  billsync logs --since 15m
  billsync logs --object balance_transaction --outcome failed
  billsync logs --outcome rejected
  billsync logs --record acc_01H... --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := billsync.LogFilter{Record: record, Limit: limit}
			if since != "" {
				t, err := parseSince(since, time.Now())
				if err != nil {
					return err
				}
				f.Since = t
			}
			if object != "" {
				t, err := billsync.ParseObjectType(object)
				if err != nil {
					return err
				}
				f.Object = t
			}
			if outcome != "" {
				o, err := billsync.ParseOutcome(outcome)
				if err != nil {
					return err
				}
				f.Outcome = o
			}
			var entries []billsync.LogEntry
			for {
				page, next, err := af.client().Logs(cmd.Context(), f)
				if err != nil {
					return err
				}
				entries = append(entries, page...)
				if !all || next == "" {
					break
				}
				f.Cursor = next
			}
			if af.json {
				return adminview.JSON(g.out, entries)
			}
			return adminview.Logs(g.out, entries)
		},
	}
	af.register(cmd)
	f := cmd.Flags()
	f.StringVar(&since, "since", "", "only entries after this time: RFC 3339 or a duration ago (15m, 2h)")
	f.StringVar(&object, "object", "", "account, balance, balance_transaction or quote")
	f.StringVar(&record, "record", "", "a billing id or Salesforce id")
	f.StringVar(&outcome, "outcome", "", "success, failed, skipped, conflict, retrying, dead or rejected (a signed webhook refused as invalid)")
	f.IntVar(&limit, "limit", 50, "entries per page (at most 1000)")
	f.BoolVar(&all, "all", false, "follow pages to the end")
	return cmd
}

func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, billsync.Errorf(billsync.EINVALID, "--since %q: want RFC 3339 or a duration such as 15m", s)
	}
	return t, nil
}
