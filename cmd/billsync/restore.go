package main

import (
	"time"

	"fmt"
	"github.com/billsync/billsync"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync/sqlitestore"
)

func newRestoreCmd(g *globals) *cobra.Command {
	sf := &storeFlags{}
	cmd := &cobra.Command{
		Use:   "restore FILE",
		Short: "Replace the embedded store with a backup (serve must be stopped)",
		Long: `Restore replaces billsync's SQLite store with FILE, a file written by
'billsync backup'. It refuses while serve (or any billsync) has the store
open, and no billsync can open the store while it runs. FILE is checked
before anything is replaced; the replaced store is kept beside it, renamed
with a .replaced-<time> suffix, until you delete it.

After a restore, start serve as usual: Salesforce events since the backup
are replayed from its stored position, and what was applied already is
recognised and not applied twice. Billing webhooks accepted after the
backup and not yet synced are not in it: the first start after a restore
runs a resync by itself, comparing both sides and repairing the
difference.`,
		Example: `  billsync restore /var/backups/billsync/20260101T020000.db --data /var/lib/billsync`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := sf.storePath(cmd, "restore")
			if err != nil {
				return err
			}
			c, err := sqlitestore.Restore(cmd.Context(), args[0], path)
			if err != nil {
				return err
			}
			g.logger().Info("store restored", "store", c.Path, "from", args[0], "schema_version", c.SchemaVersion, "replaced", c.Replaced)
			fmt.Fprintf(g.out, "restored %s from %s (schema version %d)\n", c.Path, args[0], c.SchemaVersion)
			if c.Replaced != "" {
				fmt.Fprintf(g.out, "the replaced store is kept at %s\n", c.Replaced)
			}
			// The next start resyncs: what billing sent after the backup is
			// in no store now.
			st, err := sqlitestore.Open(cmd.Context(), c.Path, sqlitestore.Options{Logger: g.logger()})
			if err != nil {
				return fmt.Errorf("restored, but could not mark the store for a resync (run 'billsync resync' once serve is up): %w", err)
			}
			defer st.Close()
			if err := st.SetMeta(cmd.Context(), billsync.MetaRestored, time.Now().UTC().Format(time.RFC3339)); err != nil {
				return fmt.Errorf("restored, but could not mark the store for a resync (run 'billsync resync' once serve is up): %w", err)
			}
			fmt.Fprintln(g.out, "next: start billsync; its first start resyncs to repair what changed after the backup")
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
