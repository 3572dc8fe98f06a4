package store

import (
	"context"
	"fmt"
)

// Gap is a chain's current run of unpaid deposit addresses. HD wallets stop
// scanning after a run of unused addresses (their gap limit, 20 by default),
// so a payment to an address past that run is on-chain but not shown by the
// merchant's wallet.
type Gap struct {
	// Unpaid counts the addresses handed out after the highest-index address
	// that received a payment (every address when none has).
	Unpaid int
	// LastPaid is the derivation index of that paid address, -1 when none.
	LastPaid int64
	// Highest is the highest derivation index handed out, -1 when none.
	Highest int64
}

// AddressGap returns chainName's run of unpaid addresses. An address counts
// as paid when a payment to it is pending or confirmed (an orphaned or
// replaced payment left nothing on-chain). The query walks the addresses
// from the highest index down and stops at the first paid one, so its cost
// grows with the gap, not with the number of addresses.
func (db *DB) AddressGap(ctx context.Context, chainName string) (Gap, error) {
	g := Gap{LastPaid: -1, Highest: -1}
	err := db.r.QueryRowContext(ctx, `
		WITH last AS (SELECT COALESCE((
			SELECT a.derive_index FROM addresses a
			WHERE a.chain = ? AND EXISTS (
				SELECT 1 FROM payments p
				WHERE p.invoice_id = a.invoice_id AND p.chain = a.chain AND p.address = a.address
				  AND p.status IN ('pending', 'confirmed'))
			ORDER BY a.derive_index DESC LIMIT 1), -1) AS idx)
		SELECT last.idx,
			(SELECT COUNT(*) FROM addresses WHERE chain = ? AND derive_index > last.idx),
			(SELECT COALESCE(MAX(derive_index), -1) FROM addresses WHERE chain = ?)
		FROM last`, chainName, chainName, chainName).Scan(&g.LastPaid, &g.Unpaid, &g.Highest)
	if err != nil {
		return Gap{LastPaid: -1, Highest: -1}, fmt.Errorf("store: address gap of %s: %w", chainName, err)
	}
	return g, nil
}
