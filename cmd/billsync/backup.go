package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/billsync/billsync"
	"github.com/billsync/billsync/sqlitestore"
)

// storeFlags say where the embedded store is, as serve reads it.
type storeFlags struct {
	configPath string
	data       string
}

func (s *storeFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.configPath, "config", envOr("BILLSYNC_CONFIG", ""), "YAML config file, as serve's (env BILLSYNC_CONFIG)")
	f.StringVar(&s.data, "data", "", "directory of the embedded store (default ./billsync-data; env BILLSYNC_DATA)")
}

// storePath is the SQLite store's path from the config, the environment
// and --data, in serve's precedence. A PostgreSQL store has none.
func (s *storeFlags) storePath(cmd *cobra.Command, verb string) (string, error) {
	cfg, err := LoadConfig(s.configPath)
	if err != nil {
		return "", err
	}
	if cmd.Flags().Changed("data") {
		cfg.Data = s.data
	}
	if cfg.Database != "" {
		return "", billsync.Errorf(billsync.EINVALID,
			"%s works on the embedded SQLite store; this configuration uses PostgreSQL (database is set): use PostgreSQL's own backups (pg_dump, or base backups with WAL archiving), see docs/operations.md", verb)
	}
	return cfg.StorePath(), nil
}

func newBackupCmd(g *globals) *cobra.Command {
	sf := &storeFlags{}
	cmd := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the embedded store to FILE, while serve runs",
		Long: `Backup copies billsync's SQLite store to FILE as one consistent snapshot. It
may run while serve is running: the copy is read in one transaction that
does not hold up serve's writes. FILE must not exist; it is written whole
or not at all, readable by this user only, and checked before the command
reports success. Restore it with 'billsync restore FILE'.

With PostgreSQL (database is set) use the database's own backups instead.`,
		Example: `  billsync backup /var/backups/billsync/$(date +%Y%m%dT%H%M%S).db --data /var/lib/billsync`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, err := sf.storePath(cmd, "backup")
			if err != nil {
				return err
			}
			c, err := sqlitestore.Backup(cmd.Context(), path, args[0])
			if err != nil {
				return err
			}
			g.logger().Info("backup written", "store", path, "file", c.Path, "bytes", c.Bytes, "schema_version", c.SchemaVersion)
			fmt.Fprintf(g.out, "backed up %s to %s (%d bytes, schema version %d)\n", path, c.Path, c.Bytes, c.SchemaVersion)
			return nil
		},
	}
	sf.register(cmd)
	return cmd
}
