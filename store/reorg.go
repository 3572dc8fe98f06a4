package store

import (
	"context"
	"fmt"
)

// TxIDsInBlock lists the transactions of a chain's payments recorded in
// block hash (read pool; the watcher asks the node about them before it
// commits the block's disconnect).
func (db *DB) TxIDsInBlock(ctx context.Context, chainName, hash string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT txid FROM payments WHERE chain = ? AND block_hash = ?`, chainName, hash)
	if err != nil {
		return nil, fmt.Errorf("store: payments in block %s: %w", hash, err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("store: payments in block %s: %w", hash, err)
	}
	return ids, nil
}
