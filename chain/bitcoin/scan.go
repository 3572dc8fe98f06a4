package bitcoin

import (
	"bytes"
	"fmt"

	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/wire"
)

// Output is one transaction output paying a watched script.
type Output struct {
	TxID    chainhash.Hash
	Vout    uint32
	Address string
	Value   int64
	// RBF: the transaction signals BIP125 replaceability explicitly (an
	// input's sequence is below 0xfffffffe).
	RBF bool
}

// Spend is a block or mempool transaction input that spends an outpoint the
// caller asked about.
type Spend struct {
	OutPoint wire.OutPoint
	TxID     chainhash.Hash // the spending transaction
}

// ScanResult is what a scan found in one block.
type ScanResult struct {
	Hash    chainhash.Hash
	Header  wire.BlockHeader
	TxCount int
	// Outputs pay watched scripts, in block order.
	Outputs []Output
	// Spends are inputs spending an outpoint of the spends set given to
	// the scan, in block order.
	Spends []Spend
}

// SignalsRBF reports whether tx opts in to replacement per BIP125: any
// input with a sequence number below 0xfffffffe. (Inherited signalling
// from unconfirmed parents is not considered.)
func SignalsRBF(tx *wire.MsgTx) bool {
	for _, in := range tx.TxIn {
		if in.Sequence < wire.MaxTxInSequenceNum-1 {
			return true
		}
	}
	return false
}

// ScanRawBlock decodes a serialized block (as getblock <hash> 0 returns it,
// hex-decoded) and returns every output paying a script in ws.
func ScanRawBlock(raw []byte, ws *WatchSet) (*ScanResult, error) {
	return scanRawBlock(raw, ws, nil)
}

// ScanBlockResponse is ScanRawBlock for a whole getblock <hash> 0 JSON-RPC
// reply body: the hex is sliced out of the body, not JSON-decoded.
func ScanBlockResponse(body []byte, ws *WatchSet) (*ScanResult, error) {
	return scanBlockResponse(body, ws, nil)
}

func scanBlockResponse(body []byte, ws *WatchSet, spends map[wire.OutPoint]chainhash.Hash) (*ScanResult, error) {
	h, err := hexResult(body)
	if err != nil {
		return nil, err
	}
	buf := getBuf()
	defer putBuf(buf)
	if err := decodeHexInto(buf, h); err != nil {
		return nil, err
	}
	return scanRawBlock(*buf, ws, spends)
}

// scanRawBlock decodes raw and matches outputs against ws and inputs
// against spends (either may be nil). Nothing of raw is retained.
func scanRawBlock(raw []byte, ws *WatchSet, spends map[wire.OutPoint]chainhash.Hash) (*ScanResult, error) {
	var blk wire.MsgBlock
	r := bytes.NewReader(raw)
	if err := blk.Deserialize(r); err != nil {
		return nil, fmt.Errorf("%w: decode block: %v", ErrMalformed, err)
	}
	if r.Len() != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after block", ErrMalformed, r.Len())
	}
	res := &ScanResult{Hash: blk.BlockHash(), Header: blk.Header, TxCount: len(blk.Transactions)}
	if ws != nil {
		ws.mu.RLock()
		defer ws.mu.RUnlock()
	}
	for i, tx := range blk.Transactions {
		var txid chainhash.Hash
		haveID := false
		id := func() chainhash.Hash {
			if !haveID {
				txid, haveID = tx.TxHash(), true
			}
			return txid
		}
		if len(spends) > 0 && i > 0 {
			for _, in := range tx.TxIn {
				if _, ok := spends[in.PreviousOutPoint]; ok {
					res.Spends = append(res.Spends, Spend{OutPoint: in.PreviousOutPoint, TxID: id()})
				}
			}
		}
		if ws == nil {
			continue
		}
		for vout, out := range tx.TxOut {
			addr, ok := ws.lookup(out.PkScript)
			if !ok {
				continue
			}
			res.Outputs = append(res.Outputs, Output{
				TxID: id(), Vout: uint32(vout), Address: addr, Value: out.Value, RBF: SignalsRBF(tx),
			})
		}
	}
	return res, nil
}

// scanTx matches one (mempool) transaction's outputs against ws.
func scanTx(tx *wire.MsgTx, txid chainhash.Hash, ws *WatchSet) []Output {
	var outs []Output
	ws.mu.RLock()
	defer ws.mu.RUnlock()
	for vout, out := range tx.TxOut {
		if addr, ok := ws.lookup(out.PkScript); ok {
			outs = append(outs, Output{TxID: txid, Vout: uint32(vout), Address: addr, Value: out.Value, RBF: SignalsRBF(tx)})
		}
	}
	return outs
}
