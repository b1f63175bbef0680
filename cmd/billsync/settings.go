package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/adminview"
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
				return adminview.JSON(g.out, all)
			}
			return adminview.Settings(g.out, all)
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
				return adminview.JSON(g.out, s)
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
				return adminview.JSON(g.out, s)
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
