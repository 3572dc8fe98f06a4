package main

import (
	"context"
	"fmt"
	"io"

	"github.com/payd/payd/config"
	"github.com/payd/payd/store"
)

// openStore opens the configured database without migrating it: the SQLite
// file at database.path (exclusive: with its lock file, for the daemon) or
// the PostgreSQL database at database.url, which several payd may share.
func openStore(ctx context.Context, cfg *config.Config, exclusive bool) (*store.DB, error) {
	if cfg.Database.Postgres() {
		db, err := store.OpenPostgres(ctx, cfg.Database.URL.Reveal(), store.PostgresOptions{MaxConns: cfg.Database.MaxConns})
		if err != nil {
			return nil, fmt.Errorf("database.url: %w", err)
		}
		return db, nil
	}
	db, err := store.Open(ctx, cfg.Database.Path, store.Options{Synchronous: cfg.Database.Synchronous, Exclusive: exclusive})
	if err != nil {
		return nil, fmt.Errorf("database.path: %w", err)
	}
	return db, nil
}

// checkDatabase reaches the configured PostgreSQL database for payd check:
// connect, then read the schema version (it does not migrate).
func checkDatabase(ctx context.Context, cfg *config.Config, out io.Writer) error {
	db, err := openStore(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	cur, latest, err := db.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("database.url: %s: %w", db.Path(), err)
	}
	state := "up to date"
	switch {
	case cur < latest:
		state = fmt.Sprintf("%d migrations pending (payd run or payd migrate applies them)", latest-cur)
	case cur > latest:
		return fmt.Errorf("database.url: %s: %w: schema version %d, this payd knows up to %d", db.Path(), store.ErrTooNew, cur, latest)
	}
	fmt.Fprintf(out, "database: ok, %s, schema version %d (%s)\n", db.Path(), cur, state)
	return nil
}
