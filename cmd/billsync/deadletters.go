package main

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync/adminview"
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
				return adminview.JSON(g.out, dls)
			}
			return adminview.DeadLetters(g.out, dls)
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
