package main

import (
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
)

func newSettingsCmd(g *globals) *cobra.Command {
	af := &adminFlags{}
	cmd := &cobra.Command{
		Use:   "settings",
		Short: "Show and change sync settings at run time (switches, policies, quote settings)",
		Long: `Show and change settings through the admin API of a running billsync. Changes
apply without a restart and are audited with the admin token's name.

Keys:
` + settingKeysHelp(),
	}
	af.register(cmd)
	list := &cobra.Command{
		Use:   "list",
		Short: "List every setting",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			all, err := af.client().Settings(cmd.Context())
			if err != nil {
				return err
			}
			if af.json {
				return writeJSON(g.out, all)
			}
			tw := tabwriter.NewWriter(g.out, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "KEY\tVALUE\tUPDATED BY\tUPDATED AT")
			for _, s := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Key, s.Value, s.UpdatedBy, fmtTime(s.UpdatedAt))
			}
			return tw.Flush()
		},
	}
	get := &cobra.Command{
		Use:   "get KEY",
		Short: "Show one setting",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := af.client().Setting(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if af.json {
				return writeJSON(g.out, s)
			}
			fmt.Fprintf(g.out, "%s = %s\n", s.Key, s.Value)
			return nil
		},
	}
	set := &cobra.Command{
		Use:   "set KEY VALUE",
		Short: "Change one setting (on/off for switches, comma lists, KEY=VALUE maps, or JSON)",
		Example: `  billsync settings set sync.accounts off
  billsync settings set conflicts.account billing-wins
  billsync settings set quotes.allowedStatuses APPROVED,ACCEPTED`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := billsync.ParseSettingText(args[0], args[1])
			if err != nil {
				return err
			}
			s, err := af.client().SetSetting(cmd.Context(), args[0], v)
			if err != nil {
				return err
			}
			if af.json {
				return writeJSON(g.out, s)
			}
			fmt.Fprintf(g.out, "%s = %s\n", s.Key, s.Value)
			return nil
		},
	}
	cmd.AddCommand(list, get, set)
	return cmd
}

func settingKeysHelp() string {
	out := ""
	for _, k := range billsync.SettingKeys() {
		out += fmt.Sprintf("  %-34s %s\n", k, billsync.SettingSummary(k))
	}
	return out
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}
