package store

import (
	"context"
	"fmt"
	"time"
)

// EachWatchedAddress calls fn with each of a chain's addresses still watched
// at now (those WatchedAddresses returns), streaming the rows: with
// 1,000,000 open invoices a []string of every address would be a ~50 MB
// startup peak the watch set does not need. fn runs while the read
// connection is held; an error from fn stops the scan and is returned.
func (db *DB) EachWatchedAddress(ctx context.Context, chainName string, now time.Time, fn func(addr string) error) error {
	rows, err := db.r.QueryContext(ctx, `SELECT address FROM addresses WHERE chain = ? AND watch_until > ?`, chainName, unix(now))
	if err != nil {
		return fmt.Errorf("store: watched addresses: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return fmt.Errorf("store: watched addresses: %w", err)
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: watched addresses: %w", err)
	}
	return nil
}
