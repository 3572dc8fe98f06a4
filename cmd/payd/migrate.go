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
		return &cobra.Command{
			Use:   "migrate",
			Short: "Create or upgrade the database schema (also done by run)",
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
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
