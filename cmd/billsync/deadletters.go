package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newDeadLettersCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "List and replay changes that failed for good (H3)",
	}
	af.register(cmd)
	list := &cobra.Command{
		Use:   "list",
		Short: "List dead letters, oldest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dls, err := af.client().DeadLetters(cmd.Context())
			if err != nil {
				return err
			}
			if af.json {
				return writeJSON(g.out, dls)
			}
			tw := tabwriter.NewWriter(g.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tDEAD AT\tSOURCE\tOBJECT\tRECORD\tATTEMPTS\tERROR CODE\tERROR")
			for _, d := range dls {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, fmtTime(d.DeadAt), d.Source, d.Object, d.RecordID, d.Attempt, dash(d.ErrorCode), oneLine(d.Error))
			}
			return tw.Flush()
		},
	}
	var all bool
	retry := &cobra.Command{
		Use:   "retry [ID...]",
		Short: "Put dead letters back in the queue (all of them with --all)",
		RunE: func(cmd *cobra.Command, args []string) error {
			c := af.client()
			if all {
				n, err := c.RetryAllDeadLetters(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(g.out, "requeued %d dead letters\n", n)
				return nil
			}
			if len(args) == 0 {
				return fmt.Errorf("name dead letter ids, or use --all")
			}
			for _, a := range args {
				id, err := strconv.ParseInt(a, 10, 64)
				if err != nil {
					return fmt.Errorf("%q is not a dead letter id", a)
				}
				if err := c.RetryDeadLetter(cmd.Context(), id); err != nil {
					return err
				}
				fmt.Fprintf(g.out, "requeued %d\n", id)
			}
			return nil
		},
	}
	retry.Flags().BoolVar(&all, "all", false, "requeue every dead letter")
	cmd.AddCommand(list, retry)
	return cmd
}
