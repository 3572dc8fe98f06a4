package evm

import (
	"context"
	"fmt"
	"strings"

	"github.com/payd/payd/chain"
)

// InternalIndexBase is added to the ordinal of an internal (contract-sent)
// native transfer within its transaction to make its Transfer.Index, so that
// txid:index never collides with the top-level transfer (index 0).
const InternalIndexBase = 1 << 31

// callFrame is a callTracer frame as payd needs it.
type callFrame struct {
	Type  string      `json:"type"`
	To    addr20      `json:"to"`
	Value *quantity   `json:"value"`
	Error string      `json:"error"`
	Calls []callFrame `json:"calls"`
}

// traceResult is one transaction of debug_traceBlockByHash.
type traceResult struct {
	TxHash hash32    `json:"txHash"`
	Result callFrame `json:"result"`
}

// traceInternal finds native value sent by contracts to watched addresses in
// block ref, with debug_traceBlockByHash and the callTracer.
func (b *Backend) traceInternal(ctx context.Context, ref chain.BlockRef) ([]match, error) {
	body, err := b.rpc.callRaw(ctx, "debug_traceBlockByHash", ref.Hash, map[string]string{"tracer": "callTracer"})
	if err != nil {
		return nil, err
	}
	var res []traceResult
	if err := decodeResponse(body, &res); err != nil {
		return nil, fmt.Errorf("debug_traceBlockByHash %s: %w", ref.Hash, err)
	}
	return b.scan.internalMatches(res), nil
}

// internalMatches walks traces for successful CALLs carrying value to watched
// addresses below the top level (the top level is the transaction itself,
// already seen by the block scan). A frame that failed reverts its subtree.
func (s *Scanner) internalMatches(res []traceResult) []match {
	var out []match
	s.watch.mu.RLock()
	defer s.watch.mu.RUnlock()
	for i := range res {
		top := &res[i].Result
		if top.Error != "" {
			continue
		}
		n := uint32(0)
		var walk func(f *callFrame)
		walk = func(f *callFrame) {
			for j := range f.Calls {
				c := &f.Calls[j]
				if c.Error != "" {
					continue
				}
				t := strings.ToUpper(c.Type)
				if (t == "CALL" || t == "SELFDESTRUCT") && c.To.OK && c.Value != nil && !c.Value.isZero() {
					if addr, ok := s.watch.lookup(c.To.A); ok {
						out = append(out, match{tx: uint64(i), T: chain.Transfer{
							Chain: s.chainName, Asset: s.native, TxID: strings.ToLower(res[i].TxHash.String()),
							Index: InternalIndexBase + n, Address: addr, Amount: c.Value.Big(),
						}})
						n++
					}
				}
				walk(c)
			}
		}
		walk(top)
	}
	return out
}
