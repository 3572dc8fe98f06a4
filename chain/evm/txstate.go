package evm

import (
	"context"
	"fmt"
	"strings"

	"github.com/payd/payd/chain"
)

var _ chain.TxStater = (*Backend)(nil)

// TxStates asks the node where each transaction stands (chain.TxStater),
// with one batch of eth_getTransactionByHash: null is unknown (anvil_reorg
// and a dropped transaction), no blockHash is pending in the node's pool,
// and a blockHash is mined when that block is the best chain's block at
// its height (a node may still answer for a block it reorged away).
func (b *Backend) TxStates(ctx context.Context, txids []string) (map[string]chain.TxState, error) {
	type txInfo struct {
		Hash        string  `json:"hash"`
		BlockHash   *string `json:"blockHash"`
		BlockNumber *u64    `json:"blockNumber"`
	}
	infos := make([]txInfo, len(txids))
	calls := make([]batchCall, len(txids))
	for i, id := range txids {
		calls[i] = batchCall{Method: "eth_getTransactionByHash", Params: []any{id}, Out: &infos[i]}
	}
	if err := b.rpc.batch(ctx, calls); err != nil {
		return nil, fmt.Errorf("transaction states: %w", err)
	}
	out := make(map[string]chain.TxState, len(txids))
	for i, id := range txids {
		in := infos[i]
		switch {
		case in.Hash == "": // null: the node does not know it
			out[id] = chain.TxUnknown
		case in.BlockHash == nil || in.BlockNumber == nil:
			out[id] = chain.TxInMempool
		default:
			ref, err := b.header(ctx, fmt.Sprintf("0x%x", uint64(*in.BlockNumber)))
			if err != nil {
				return nil, fmt.Errorf("transaction %s: %w", id, err)
			}
			if strings.EqualFold(ref.Hash, *in.BlockHash) {
				out[id] = chain.TxMined
			} else {
				out[id] = chain.TxUnknown
			}
		}
	}
	return out, nil
}
