package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/payd/payd/config"
	"github.com/payd/payd/store"
)

func init() {
	register(func(g *globals) *cobra.Command {
		var from, to string
		cmd := &cobra.Command{
			Use:   "migrate [--from sqlite:PATH --to postgres:URL]",
			Short: "Create or upgrade the database schema (also done by run); with --from/--to, copy a SQLite shop into PostgreSQL",
			Long: `Without flags, migrate creates or upgrades the schema of the configured database.

With --from sqlite:PATH --to postgres:URL it copies every invoice, payment,
event, webhook endpoint and delivery, API key, payment link, refund, chain
cursor and derivation counter of the SQLite database at PATH into the empty
PostgreSQL database at URL (creating its schema), in one transaction, then
checks the row count of every table. The SQLite file is read as one snapshot,
so payd may still be running on it, but what it writes after the snapshot is
not copied: stop payd first (docs/production.md, "Moving from SQLite to
PostgreSQL"). The password may be left out of URL and given as PGPASSWORD.`,
			Args: cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				if from != "" || to != "" {
					return copyDatabase(cmd, from, to)
				}
				cfg, err := g.loadConfigLoose()
				if err != nil {
					return err
				}
				db, err := openStore(cmd.Context(), cfg, false)
				if err != nil {
					return &exitError{code: 1, err: err}
				}
				defer db.Close()
				cur, latest, err := db.SchemaVersion(cmd.Context())
				if err != nil {
					return &exitError{code: 1, err: fmt.Errorf("database: %s: %w", db.Path(), err)}
				}
				if _, err := db.Migrate(cmd.Context()); err != nil {
					return &exitError{code: 1, err: err}
				}
				if cur == latest {
					fmt.Fprintf(cmd.OutOrStdout(), "database %s is up to date (schema version %d)\n", db.Path(), cur)
				} else {
					fmt.Fprintf(cmd.OutOrStdout(), "database %s migrated from schema version %d to %d\n", db.Path(), cur, latest)
				}
				return nil
			},
		}
		cmd.Flags().StringVar(&from, "from", "", "copy from this SQLite database: sqlite:PATH (with --to)")
		cmd.Flags().StringVar(&to, "to", "", "copy into this empty PostgreSQL database: postgres:URL (with --from)")
		return cmd
	})
}

// openDB opens and migrates the database.
func openDB(ctx context.Context, cfg *config.Config, exclusive bool) (*store.DB, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	db, err := openStore(ctx, cfg, exclusive)
	if err != nil {
		return nil, &exitError{code: 1, err: err}
	}
	if _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, &exitError{code: 1, err: err}
	}
	return db, nil
}
