package main

import (
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminview"
)

func newConflictsCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "conflicts",
		Short: "List conflicts and resolve held ones",
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
				return adminview.JSON(g.out, list)
			}
			return adminview.Conflicts(g.out, list)
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
				return adminview.JSON(g.out, c)
			}
			return adminview.Conflict(g.out, c)
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
				return adminview.JSON(g.out, c)
			}
			adminview.ConflictResolved(g.out, c, winner)
			return nil
		},
	}
	cmd.Flags().StringVar(&winner, "winner", "", "the side whose values are kept: billing or salesforce")
	_ = cmd.MarkFlagRequired("winner")
	return cmd
}

func parseConflictID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 {
		return 0, billsync.Errorf(billsync.EINVALID, "%q is not a conflict id", s)
	}
	return id, nil
}
