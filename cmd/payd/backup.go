package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/payd/payd/store"
)

func init() {
	register(func(g *globals) *cobra.Command {
		return &cobra.Command{
			Use:   "backup FILE",
			Short: "Write a consistent copy of the database to FILE (safe while payd runs)",
			Long: `backup writes a consistent snapshot of the database (SQLite VACUUM INTO) to FILE,
which must not exist. It is safe while payd runs. To restore, stop payd and point
database.path at the copy (or copy it over the old file); payd migrates it if needed.`,
			Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				cfg, err := g.loadConfigLoose()
				if err != nil {
					return err
				}
				if cfg.Database.Postgres() {
					return &exitError{code: 1, err: errors.New("backup: database.driver is postgres: back it up with pg_dump or a streaming replica (docs/production.md)")}
				}
				if _, err := os.Stat(cfg.Database.Path); err != nil {
					return &exitError{code: 1, err: fmt.Errorf("database.path: %s: %w", cfg.Database.Path, err)}
				}
				db, err := store.Open(cmd.Context(), cfg.Database.Path, store.Options{})
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("database.path: %w", err)}
				}
				defer db.Close()
				if err := db.Backup(cmd.Context(), args[0]); err != nil {
					return &exitError{code: 1, err: err}
				}
				// The copy holds webhook secrets: owner-only, like the database.
				if err := os.Chmod(args[0], 0o600); err != nil {
					return &exitError{code: 1, err: fmt.Errorf("backup: %w", err)}
				}
				st, err := os.Stat(args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "backed up %s to %s (%d bytes)\n", cfg.Database.Path, args[0], st.Size())
				return nil
			},
		}
	})
}
