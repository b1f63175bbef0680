package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
)

func newConflictsCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "List conflicts and resolve held ones (D3)",
		Long: `A conflict is a field both sides changed since they last agreed. Every
conflict is recorded with both values; under the manual policy
(settings conflicts.<object> = manual) it is held until someone picks the
side whose values win.`,
	}
	af.register(cmd)
	cmd.AddCommand(newConflictsListCmd(g, af), newConflictsShowCmd(g, af), newConflictsResolveCmd(g, af))
	return cmd
}

func newConflictsListCmd(g *globals, af *adminFlags) *cobra.Command {
	var (
		held           bool
		object, record string
		limit          int
		all            bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List conflicts, newest first",
		Example: `  billsync conflicts list --held
  billsync conflicts list --object account --record acc_01H...`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := billsync.ConflictFilter{Record: strings.TrimSpace(record), Limit: limit}
			if held {
				f.Status = billsync.ConflictHeld
			}
			if object != "" {
				t, err := billsync.ParseObjectType(object)
				if err != nil {
					return err
				}
				f.Object = t
			}
			if limit < 1 || limit > 1000 {
				return billsync.Errorf(billsync.EINVALID, "--limit %d: want 1 to 1000", limit)
			}
			c := af.client()
			var list []billsync.Conflict
			for {
				page, next, err := c.Conflicts(cmd.Context(), f)
				if err != nil {
					return err
				}
				list = append(list, page...)
				if !all || next == "" {
					break
				}
				f.Cursor = next
			}
			if af.json {
				if list == nil {
					list = []billsync.Conflict{}
				}
				return writeJSON(g.out, list)
			}
			tw := tabwriter.NewWriter(g.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTIME\tOBJECT\tBILLING ID\tSALESFORCE ID\tFIELDS\tPOLICY\tSTATUS\tWINNER\tRESOLVED BY")
			for _, x := range list {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.ID, fmtTime(x.Time), x.Object, dash(x.BillingID), dash(x.SalesforceID),
					dash(oneLine(conflictFieldNames(x.Fields))), dash(x.Policy), x.Status, dash(string(x.Winner)), dash(x.ResolvedBy))
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&held, "held", false, "only conflicts waiting for a decision")
	fl.StringVar(&object, "object", "", "account, balance, balance_transaction or quote")
	fl.StringVar(&record, "record", "", "a billing id or Salesforce id")
	fl.IntVar(&limit, "limit", 50, "conflicts per page (at most 1000)")
	fl.BoolVar(&all, "all", false, "follow pages to the end")
	return cmd
}

func newConflictsShowCmd(g *globals, af *adminFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show one conflict with both sides' values",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseConflictID(args[0])
			if err != nil {
				return err
			}
			c, err := af.client().Conflict(cmd.Context(), id)
			if err != nil {
				return err
			}
			if af.json {
				return writeJSON(g.out, c)
			}
			return printConflict(g, c)
		},
	}
}

func newConflictsResolveCmd(g *globals, af *adminFlags) *cobra.Command {
	var winner string
	cmd := &cobra.Command{
		Use:   "resolve ID --winner billing|salesforce",
		Short: "Resolve a held conflict: the winner's values are written to the other side",
		Example: `  billsync conflicts resolve 42 --winner billing
  billsync conflicts resolve 42 --winner salesforce`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseConflictID(args[0])
			if err != nil {
				return err
			}
			side := billsync.Side(strings.ToLower(strings.TrimSpace(winner)))
			if side != billsync.SideBilling && side != billsync.SideSalesforce {
				return billsync.Errorf(billsync.EINVALID, "--winner %q: want billing or salesforce", winner)
			}
			c, err := af.client().ResolveConflict(cmd.Context(), id, side)
			if err != nil {
				return err
			}
			if af.json {
				return writeJSON(g.out, c)
			}
			// The engine applies the decision in the record's queue
			// partition, so it lands after the call returns.
			fmt.Fprintf(g.out, "conflict %d: %s wins; the resolution is queued behind the record's other changes (follow it with billsync logs --record %s)\n", c.ID, winner, conflictRecord(c))
			return nil
		},
	}
	cmd.Flags().StringVar(&winner, "winner", "", "the side whose values are kept: billing or salesforce")
	_ = cmd.MarkFlagRequired("winner")
	return cmd
}

func printConflict(g *globals, c *billsync.Conflict) error {
	tw := tabwriter.NewWriter(g.out, 2, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", strconv.FormatInt(c.ID, 10))
	row("Time", fmtTime(c.Time))
	row("Object", string(c.Object))
	row("Billing ID", dash(c.BillingID))
	row("Salesforce ID", dash(c.SalesforceID))
	row("Policy", dash(c.Policy))
	row("Status", c.Status)
	row("Billing changed", fmtTime(c.BillingChangedAt))
	row("Salesforce changed", fmtTime(c.SalesforceChangedAt))
	if c.Status == billsync.ConflictResolved {
		row("Winner", dash(string(c.Winner)))
		row("Resolved at", fmtTime(c.ResolvedAt))
		row("Resolved by", dash(c.ResolvedBy))
	}
	if c.EventID != "" {
		row("Event", c.EventID)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(g.out)
	tw = tabwriter.NewWriter(g.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FIELD\tAGREED\tBILLING\tSALESFORCE")
	for _, f := range c.Fields {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", f.Field, quoted(f.Agreed), quoted(f.Billing), quoted(f.Salesforce))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if c.Status == billsync.ConflictHeld {
		fmt.Fprintf(g.out, "\nheld: resolve it with billsync conflicts resolve %d --winner billing|salesforce\n", c.ID)
	}
	return nil
}

// quoted shows a value so that an empty one, or one with spaces at its
// ends, is visible as such.
func quoted(s string) string {
	q := []rune(strconv.Quote(s))
	if len(q) > 60 {
		return string(q[:57]) + "..."
	}
	return string(q)
}

func conflictFieldNames(fs []billsync.ConflictField) string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.Field
	}
	return strings.Join(names, ",")
}

func conflictRecord(c *billsync.Conflict) string {
	if c.BillingID != "" {
		return c.BillingID
	}
	return dash(c.SalesforceID)
}

func parseConflictID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, billsync.Errorf(billsync.EINVALID, "%q is not a conflict id", s)
	}
	return id, nil
}
