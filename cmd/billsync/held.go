package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/adminview"
)

func newHeldCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	var (
		state  string
		limit  int
		sample int
	)
	cmd := &cobra.Command{
		Use:   "held",
		Short: "List the runs the mass-change guard held, and approve or discard them",
		Long: `A resync or initial load that would delete, or overwrite, more of one
object's records than its guard.deletes.<object> or guard.overwrites.<object>
setting allows (default: 10 % or 500 records, whichever is smaller) is not
applied: its repairs are held until an admin approves them (they are queued
and applied, each record read afresh) or discards them (nothing is written).
Deletes arriving as live changes (webhooks, Salesforce events) past the
guard.deletes.<object> count within 10 minutes are held the same way, in
one burst run per object. So are live overwrites past both the count and the
share of guard.overwrites.<object> within 10 minutes: an overwrite changes a
field already holding a different non-empty value on the side written
(filling an empty field is not one), of a record billsync had not synced
within those 10 minutes (records being created and edited right now do not
count), and a record counts once however often it changes.

Without a subcommand, held lists the pending runs with their counts and a
sample of the records they would delete or overwrite.`,
		Example: `  billsync held
  billsync held --state approved
  billsync held show 3
  billsync held approve 3
  billsync held discard 3`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 1 || limit > 1000 {
				return billsync.Errorf(billsync.EINVALID, "--limit %d: want 1 to 1000", limit)
			}
			f := billsync.HeldRunFilter{State: strings.TrimSpace(state), Limit: limit}
			if f.State == "all" {
				f.State = ""
			}
			runs, err := af.client().HeldRuns(cmd.Context(), f)
			if err != nil {
				return err
			}
			if af.json {
				if runs == nil {
					runs = []billsync.HeldRun{}
				}
				return adminview.JSON(g.out, runs)
			}
			if len(runs) == 0 {
				if f.State == "" {
					fmt.Fprintln(g.out, "no held runs")
				} else {
					fmt.Fprintf(g.out, "no %s held runs\n", f.State)
				}
				return nil
			}
			for i, r := range runs {
				if i > 0 {
					fmt.Fprintln(g.out)
				}
				if err := printHeldRun(g.out, &r, sample); err != nil {
					return err
				}
			}
			return nil
		},
	}
	af.register(cmd)
	fl := cmd.Flags()
	fl.StringVar(&state, "state", billsync.HeldPending, "pending, approved, discarded or all")
	fl.IntVar(&limit, "limit", 50, "runs to list, newest first (at most 1000)")
	fl.IntVar(&sample, "sample", 5, "sample records to print per run")
	cmd.AddCommand(newHeldShowCmd(g, af),
		newHeldDecideCmd(g, af, "approve", "Approve a held run: its repairs are queued and applied",
			(*adminclient.Client).ApproveHeldRun),
		newHeldDecideCmd(g, af, "discard", "Discard a held run: nothing of it is written to either side",
			(*adminclient.Client).DiscardHeldRun))
	return cmd
}

func newHeldShowCmd(g *globals, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one held run with its whole sample",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseHeldID(args[0])
			if err != nil {
				return err
			}
			r, err := af.client().HeldRun(cmd.Context(), id)
			if err != nil {
				return err
			}
			if af.json {
				return adminview.JSON(g.out, r)
			}
			return printHeldRun(g.out, r, len(r.Sample))
		},
	}
}

func newHeldDecideCmd(g *globals, af *adminFlags, verb, short string,
	call func(*adminclient.Client, context.Context, int64) (*billsync.HeldRun, error)) *cobra.Command {
	return &cobra.Command{
		Use:   verb + " ID",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseHeldID(args[0])
			if err != nil {
				return err
			}
			r, err := call(af.client(), cmd.Context(), id)
			if err != nil {
				return err
			}
			if af.json {
				return adminview.JSON(g.out, r)
			}
			switch r.State {
			case billsync.HeldApproved:
				fmt.Fprintf(g.out, "held run %d approved: %d %s of %s queued; follow them with billsync logs\n", r.ID, r.Changes, heldNoun(r), r.Object)
			default:
				fmt.Fprintf(g.out, "held run %d discarded: none of its %d %s of %s was applied\n", r.ID, r.Changes, heldNoun(r), r.Object)
			}
			return nil
		},
	}
}

// heldNoun is what a run holds: a resync's repairs, or live changes.
func heldNoun(r *billsync.HeldRun) string {
	if r.Kind == billsync.HeldKindBurst {
		return "changes"
	}
	return "repairs"
}

func parseHeldID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || id < 1 {
		return 0, billsync.Errorf(billsync.EINVALID, "%q is not a held run id", s)
	}
	return id, nil
}

// printHeldRun prints a run's counts, why it was held, what to do and up
// to max sample records.
func printHeldRun(w io.Writer, r *billsync.HeldRun, max int) error {
	g := r.Guard
	what := fmt.Sprintf("%s of %s (resync %s)", r.Kind, r.Object, r.Job)
	if r.Kind == billsync.HeldKindBurst {
		what = fmt.Sprintf("burst of %s %s from live changes", r.Object, burstOps(g))
	}
	fmt.Fprintf(w, "held run %d: %s, %s, held %s\n", r.ID, r.State, what, r.Created.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORDS\tDELETES\tOVERWRITES\tCHANGES HELD\tDELETE LIMIT\tOVERWRITE LIMIT")
	fmt.Fprintf(tw, "%d\t%d\t%d\t%d\t%s\t%s\n", g.Total, g.Deletes, g.Overwrites, r.Changes, g.DeleteLimit, g.OverwriteLimit)
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, why := range g.Reasons {
		fmt.Fprintf(w, "  %s\n", why)
	}
	if r.State != billsync.HeldPending {
		fmt.Fprintf(w, "%s by %s at %s\n", r.State, r.DecidedBy, r.DecidedAt.UTC().Format(time.RFC3339))
	}
	if n := min(max, len(r.Sample)); n > 0 {
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "OP\tBILLING ID\tSALESFORCE ID\tCHANGE")
		for _, s := range r.Sample[:n] {
			change := s.Action
			if len(s.Fields) > 0 {
				var parts []string
				for _, f := range s.Fields {
					side := "conflict policy decides"
					if f.Side != "" {
						side = "in " + string(f.Side)
					}
					parts = append(parts, fmt.Sprintf("%s %q → %q (%s)", f.Field, f.Old, f.New, side))
				}
				change = strings.Join(parts, "; ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Op, dashIfEmpty(s.BillingID), dashIfEmpty(s.SalesforceID), change)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if shown := g.Deletes + g.Overwrites; shown > n {
			fmt.Fprintf(w, "(%d of %d records shown)\n", n, shown)
		}
	}
	if r.State == billsync.HeldPending {
		fmt.Fprintf(w, "approve: billsync held approve %d    discard: billsync held discard %d\n", r.ID, r.ID)
	}
	return nil
}

// burstOps names what a burst run holds: deletes, overwrites or both.
func burstOps(g billsync.GuardCheck) string {
	switch {
	case g.Overwrites > 0 && g.Deletes > 0:
		return "deletes and overwrites"
	case g.Overwrites > 0:
		return "overwrites"
	}
	return "deletes"
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
