package bitcoin

import (
	"context"
	"errors"
	"fmt"

	"github.com/payd/payd/chain"
)

var _ chain.TxStater = (*Backend)(nil)

// TxStates asks the node where each transaction stands
// (chain.TxStater), with getrawtransaction <txid> 1: a reply without
// confirmations is in the mempool, one with confirmations is on the best
// chain (btcd and Core find mined transactions only with -txindex; without
// it a mined transaction is reported unknown), and -5 is unknown. Asked
// when a block is disconnected: btcd and Core put the block's transactions
// back into the mempool, or the new branch already holds them.
func (b *Backend) TxStates(ctx context.Context, txids []string) (map[string]chain.TxState, error) {
	out := make(map[string]chain.TxState, len(txids))
	for _, id := range txids {
		var res struct {
			Confirmations int64  `json:"confirmations"`
			BlockHash     string `json:"blockhash"`
		}
		err := b.rpc.callInto(ctx, &res, "getrawtransaction", id, 1)
		var re *RPCError
		switch {
		case errors.As(err, &re) && re.Code == codeNoTx:
			out[id] = chain.TxUnknown
		case err != nil:
			return nil, fmt.Errorf("getrawtransaction %s: %w", id, err)
		case res.Confirmations > 0 && res.BlockHash != "":
			out[id] = chain.TxMined
		case res.BlockHash != "":
			// Core answers for a transaction of a stale block it still has
			// (with -txindex or a blockhash argument) with confirmations 0:
			// not on the best chain, not waiting in the mempool.
			out[id] = chain.TxUnknown
		default:
			out[id] = chain.TxInMempool
		}
	}
	return out, nil
}
