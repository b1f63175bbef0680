package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync/adminclient"
	"github.com/billsync/billsync/adminview"
)

func newDeadLettersCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "deadletters",
		Short: "List, retry or discard changes that failed for good",
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
	cmd.AddCommand(list,
		deadLetterCmd(g, af, "retry", "Put dead letters back in the queue", "retried", (*adminclient.Client).RetryDeadLetters),
		deadLetterCmd(g, af, "discard", "Delete dead letters for good (each is noted in the sync log)", "discarded", (*adminclient.Client).DiscardDeadLetters))
	return cmd
}

// deadLetterCmd is `deadletters retry|discard`: the ids named, all or
// none, or every dead letter with --all; it prints what was done.
func deadLetterCmd(g *globals, af *adminFlags, name, short, done string,
	call func(*adminclient.Client, context.Context, adminclient.DeadLetterSelection) ([]int64, error)) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   name + " (ID... | --all)",
		Short: short + " (the ids named, or every one with --all)",
		RunE: func(cmd *cobra.Command, args []string) error {
			sel, err := adminclient.SelectDeadLetters(all, args)
			if err != nil {
				return err
			}
			ids, err := call(af.client(), cmd.Context(), sel)
			if err != nil {
				return err
			}
			if af.json {
				return adminview.JSON(g.out, map[string]any{done: ids})
			}
			fmt.Fprintf(g.out, "%s %d dead letters: %v\n", done, len(ids), ids)
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, name+" every dead letter")
	return cmd
}
