package evm

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// ErrMalformed: the node answered something that is not a quantity.
var ErrMalformed = errors.New("evm: malformed node answer")

func parseQuantity(s string) (*big.Int, error) {
	v, ok := new(big.Int).SetString(strings.TrimPrefix(s, "0x"), 16)
	if !ok || !strings.HasPrefix(s, "0x") {
		return nil, fmt.Errorf("%w: quantity %q", ErrMalformed, s)
	}
	return v, nil
}

// Nonce returns an address's next nonce, pending transactions included
// (eth_getTransactionCount "pending").
func (b *Backend) Nonce(ctx context.Context, addr string) (uint64, error) {
	var s string
	if err := b.rpc.call(ctx, &s, "eth_getTransactionCount", addr, "pending"); err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: nonce %q", ErrMalformed, s)
	}
	return n, nil
}

// Fees suggests EIP-1559 fees: the node's priority fee
// (eth_maxPriorityFeePerGas) and a max fee of twice the latest base fee plus
// that tip, so the transaction stays valid through several full blocks.
func (b *Backend) Fees(ctx context.Context) (maxFee, tip *big.Int, err error) {
	var ts string
	if err := b.rpc.call(ctx, &ts, "eth_maxPriorityFeePerGas"); err != nil {
		return nil, nil, err
	}
	if tip, err = parseQuantity(ts); err != nil {
		return nil, nil, err
	}
	var blk struct {
		BaseFee string `json:"baseFeePerGas"`
	}
	if err := b.rpc.call(ctx, &blk, "eth_getBlockByNumber", "latest", false); err != nil {
		return nil, nil, err
	}
	base := new(big.Int)
	if blk.BaseFee != "" {
		if base, err = parseQuantity(blk.BaseFee); err != nil {
			return nil, nil, err
		}
	}
	maxFee = new(big.Int).Add(new(big.Int).Lsh(base, 1), tip)
	return maxFee, tip, nil
}

// EstimateGas asks the node for a call's gas (eth_estimateGas).
func (b *Backend) EstimateGas(ctx context.Context, from, to string, value *big.Int, data []byte) (uint64, error) {
	call := map[string]string{"from": from, "to": to, "value": "0x" + value.Text(16), "data": fmt.Sprintf("0x%x", data)}
	var s string
	if err := b.rpc.call(ctx, &s, "eth_estimateGas", call); err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: gas %q", ErrMalformed, s)
	}
	return n, nil
}

// Balance returns an address's native balance in wei at the latest block
// (eth_getBalance).
func (b *Backend) Balance(ctx context.Context, addr string) (*big.Int, error) {
	var s string
	if err := b.rpc.call(ctx, &s, "eth_getBalance", addr, "latest"); err != nil {
		return nil, err
	}
	return parseQuantity(s)
}

// TokenBalance returns an address's ERC-20 balance in token units at the
// latest block (eth_call balanceOf(address)).
func (b *Backend) TokenBalance(ctx context.Context, token, addr string) (*big.Int, error) {
	a := strings.ToLower(strings.TrimPrefix(addr, "0x"))
	if len(a) != 40 {
		return nil, fmt.Errorf("evm: balanceOf: bad address %q", addr)
	}
	var s string
	if err := b.rpc.call(ctx, &s, "eth_call", map[string]string{"to": token, "data": "0x70a08231" + strings.Repeat("0", 24) + a}, "latest"); err != nil {
		return nil, err
	}
	if len(s) != 66 {
		return nil, fmt.Errorf("%w: balanceOf returned %q", ErrMalformed, s)
	}
	return parseQuantity(s)
}
