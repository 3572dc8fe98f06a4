package store

import (
	"context"
	"fmt"
	"time"

	"github.com/payd/payd/chain"
)

// RecentBlocks returns the last n processed blocks of a chain, oldest first
// (empty when the chain was never processed).
func (db *DB) RecentBlocks(ctx context.Context, chainName string, n int) ([]chain.BlockRef, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT height, hash, parent, time FROM chain_blocks WHERE chain = ? ORDER BY height DESC LIMIT ?`, chainName, n)
	if err != nil {
		return nil, fmt.Errorf("store: recent blocks: %w", err)
	}
	defer rows.Close()
	var out []chain.BlockRef
	for rows.Next() {
		var b chain.BlockRef
		var t int64
		if err := rows.Scan(&b.Height, &b.Hash, &b.Parent, &t); err != nil {
			return nil, err
		}
		if t > 0 {
			b.Time = time.Unix(t, 0).UTC()
		}
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// ConnectBlock records b as the chain's new tip inside tx and forgets blocks
// more than keep below it.
func (tx *Tx) ConnectBlock(ctx context.Context, chainName string, b chain.BlockRef, keep int) error {
	var t int64
	if !b.Time.IsZero() {
		t = b.Time.Unix()
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO chain_blocks (chain, height, hash, parent, time) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (chain, height) DO UPDATE SET hash = excluded.hash, parent = excluded.parent, time = excluded.time`,
		chainName, b.Height, b.Hash, b.Parent, t); err != nil {
		return fmt.Errorf("store: connect block %s: %w", b, err)
	}
	if keep > 0 && b.Height > uint64(keep) {
		if _, err := tx.ExecContext(ctx, `DELETE FROM chain_blocks WHERE chain = ? AND height <= ?`, chainName, b.Height-uint64(keep)); err != nil {
			return fmt.Errorf("store: prune blocks: %w", err)
		}
	}
	return nil
}

// DisconnectBlock removes b (the chain's tip) inside tx.
func (tx *Tx) DisconnectBlock(ctx context.Context, chainName string, b chain.BlockRef) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM chain_blocks WHERE chain = ? AND height >= ?`, chainName, b.Height); err != nil {
		return fmt.Errorf("store: disconnect block %s: %w", b, err)
	}
	return nil
}
