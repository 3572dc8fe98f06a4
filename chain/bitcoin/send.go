package bitcoin

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/wire"
)

// Params returns the network's parameters (address encoding).
func (b *Backend) Params() *chaincfg.Params { return b.params }

// ErrNoEstimate means the node has no fee estimate yet (a fresh regtest
// node, a node that has seen too few blocks).
var ErrNoEstimate = errors.New("node has no fee estimate")

// FeeRate asks the node for a fee rate in sat/vB to confirm within target
// blocks: Bitcoin Core's estimatesmartfee, or btcd's estimatefee (which
// has no target-based smart estimate). Both answer BTC per kvB.
func (b *Backend) FeeRate(ctx context.Context, target int) (int64, error) {
	var smart struct {
		FeeRate *float64 `json:"feerate"`
		Errors  []string `json:"errors"`
	}
	perKvB := -1.0
	err := b.rpc.callInto(ctx, &smart, "estimatesmartfee", target)
	var re *RPCError
	switch {
	case err == nil && smart.FeeRate != nil:
		perKvB = *smart.FeeRate
	case err == nil:
		return 0, fmt.Errorf("%w: estimatesmartfee: %v", ErrNoEstimate, smart.Errors)
	case errors.As(err, &re) && re.Code == -32601: // method not found: btcd
		var v float64
		if err := b.rpc.callInto(ctx, &v, "estimatefee", target); err != nil {
			return 0, fmt.Errorf("estimatefee: %w", err)
		}
		perKvB = v
	default:
		return 0, err
	}
	if perKvB <= 0 || math.IsNaN(perKvB) || math.IsInf(perKvB, 0) {
		return 0, ErrNoEstimate
	}
	// BTC/kvB → sat/vB, rounded up (the estimate is a float by the RPC's
	// definition; the result is an integer rate from here on).
	rate := int64(math.Ceil(perKvB * 1e8 / 1000))
	return max(rate, 1), nil
}

// RawTransaction returns a transaction by txid (getrawtransaction: the
// mempool, or any block with -txindex).
func (b *Backend) RawTransaction(ctx context.Context, txid string) (*wire.MsgTx, error) {
	var body bytes.Buffer
	var raw []byte
	return b.rawTx(ctx, &body, &raw, txid)
}

// SendRawTransaction hands a signed transaction to the node and returns
// its txid.
func (b *Backend) SendRawTransaction(ctx context.Context, tx *wire.MsgTx) (string, error) {
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		return "", err
	}
	raw, err := b.rpc.call(ctx, "sendrawtransaction", hex.EncodeToString(buf.Bytes()))
	if err != nil {
		return "", fmt.Errorf("sendrawtransaction: %w", err)
	}
	var txid string
	if err := json.Unmarshal(raw, &txid); err != nil {
		return "", fmt.Errorf("sendrawtransaction: %w: %q", ErrMalformed, snippet(raw))
	}
	return txid, nil
}
