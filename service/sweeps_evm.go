package service

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
	"github.com/payd/payd/store"
)

// createEVMSweep lists, for every deposit address of a settled invoice on
// an EVM chain that holds anything, the unsigned transactions that move
// its tokens and then its native coin to the merchant's address: token
// transfers first (nonce n, n+1, …), the native transfer last, leaving
// exactly gas × max fee of every one of them in the account. A token
// transfer needs gas at the deposit address; without ETH there it is
// still listed (docs/refunds.md "Sweeps").
func (s *Service) createEVMSweep(ctx context.Context, c RefundChain, req SweepRequest, minConf, maxAddrs int) (*refund.Refund, error) {
	if c.EVM == nil {
		return nil, unprocessable("unknown_method", "chain", "chain %s has no node for sweeps", req.Chain)
	}
	if req.ToDescriptor != "" {
		return nil, invalid("to_descriptor", "EVM sweeps take to_address; to_descriptor is for Bitcoin")
	}
	if req.FeeRate != nil {
		return nil, invalid("fee_rate", "fee_rate (sat/vB) is for Bitcoin; EVM fees come from the node")
	}
	if req.ToAddress == "" {
		return nil, invalid("to_address", "to_address is required")
	}
	to, err := CheckAddress(c, req.Chain, req.ToAddress)
	if err != nil {
		return nil, err
	}
	if err := s.checkNotOurs(ctx, req.Chain, to); err != nil {
		return nil, err
	}
	native, tokens := s.chainAssets(req.Chain)
	addrs, err := s.d.DB.SettledAddresses(ctx, req.Chain, minConf, maxAddrs)
	if err != nil {
		return nil, err
	}
	busy, err := s.busyDeposits(ctx, req.Chain)
	if err != nil {
		return nil, err
	}
	qctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	maxFee, tip, err := c.EVM.Fees(qctx)
	if err != nil {
		return nil, fmt.Errorf("service: fees on %s: %w", req.Chain, err)
	}
	var transfers []refund.Transfer
	var invs []string
	total := new(big.Int)
	for _, a := range addrs {
		if busy[strings.ToLower(a.Address)] || strings.EqualFold(a.Address, to) {
			continue
		}
		ts, err := s.sweepAddress(qctx, c, req.Chain, a, to, native, tokens, maxFee, tip)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t.Token == "" {
				total.Add(total, t.Amount)
			}
		}
		if len(ts) > 0 {
			transfers = append(transfers, ts...)
			if !slices.Contains(invs, a.InvoiceID) {
				invs = append(invs, a.InvoiceID)
			}
		}
	}
	if len(transfers) == 0 {
		return nil, conflict("nothing to sweep: no deposit address of a settled invoice with at least %d confirmation(s) on %s holds more than the gas to move it", minConf, req.Chain)
	}
	now := s.d.Now().UTC().Truncate(time.Second)
	r := &refund.Refund{ID: invoice.NewID(refund.PrefixSweep, now), Kind: refund.KindSweep, Invoices: invs,
		Method: req.Chain + "/" + strings.ToLower(native.Code), Chain: req.Chain, ChainKind: invoice.KindEVM, ChainID: c.ChainID,
		Asset: native, Amount: total, Sent: new(big.Int).Set(total), Fee: new(big.Int), Currency: native, Requested: new(big.Int).Set(total),
		Status: refund.StatusReady, Address: to, Transfers: transfers, ConfirmationsRequired: c.Confirmations,
		CreatedAt: now, UpdatedAt: now, Sequence: 1}
	err = s.d.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SaveRefund(ctx, r); err != nil {
			return err
		}
		return s.saveIdem(ctx, tx, req.Idempotency, r, now)
	})
	if err != nil {
		return nil, refundErr(err)
	}
	s.d.Log.Info("sweep created", "sweep", r.ID, "chain", r.Chain, "transactions", len(transfers), "invoices", len(invs), "wei", total.String())
	s.afterRefund(r, nil)
	return r, nil
}

// chainAssets returns a chain's native asset and its tokens (contract →
// asset) from the enabled methods.
func (s *Service) chainAssets(chainName string) (invoice.Asset, map[string]invoice.Asset) {
	native := invoice.Asset{Code: "ETH", Decimals: 18}
	tokens := map[string]invoice.Asset{}
	for _, m := range s.cfg.Methods {
		if m.Chain != chainName {
			continue
		}
		if m.Token == "" {
			native = m.Asset
		} else {
			tokens[m.Token] = m.Asset
		}
	}
	return native, tokens
}

// busyDeposits are the deposit addresses an open refund or sweep sends
// from: a sweep leaves them alone (their nonce and funds are spoken for).
func (s *Service) busyDeposits(ctx context.Context, chainName string) (map[string]bool, error) {
	busy := map[string]bool{}
	sweeps, err := s.d.DB.OpenSweeps(ctx, chainName)
	if err != nil {
		return nil, err
	}
	for _, sw := range sweeps {
		for _, t := range sw.Transfers {
			busy[strings.ToLower(t.Tx.From)] = true
		}
	}
	open, err := s.d.DB.OpenRefundsFrom(ctx, chainName)
	if err != nil {
		return nil, err
	}
	for _, a := range open {
		busy[strings.ToLower(a)] = true
	}
	return busy, nil
}

// sweepAddress builds the transactions that empty one deposit address.
func (s *Service) sweepAddress(ctx context.Context, c RefundChain, chainName string, a store.SettledAddress, to string,
	native invoice.Asset, tokens map[string]invoice.Asset, maxFee, tip *big.Int) ([]refund.Transfer, error) {
	nonce, err := c.EVM.Nonce(ctx, a.Address)
	if err != nil {
		return nil, fmt.Errorf("service: nonce of %s: %w", a.Address, err)
	}
	base := refund.EVMTx{ChainID: c.ChainID, From: a.Address, MaxFeePerGas: maxFee.String(), MaxPriorityFeePerGas: tip.String()}
	var out []refund.Transfer
	gasCost := new(big.Int)
	contracts := make([]string, 0, len(tokens))
	for k := range tokens {
		contracts = append(contracts, k)
	}
	slices.Sort(contracts)
	for _, token := range contracts {
		bal, err := c.EVM.TokenBalance(ctx, token, a.Address)
		if err != nil {
			return nil, fmt.Errorf("service: %s balance of %s: %w", tokens[token].Code, a.Address, err)
		}
		if bal.Sign() <= 0 {
			continue
		}
		data := transferCall(to, bal)
		gas, err := c.EVM.EstimateGas(ctx, a.Address, token, new(big.Int), data)
		if err != nil {
			s.d.Log.Warn("gas estimate failed; suggesting 100000", "chain", chainName, "from", a.Address, "err", err)
			gas = 100_000
		} else {
			gas += gas / 5
		}
		t := base
		t.To, t.Value, t.Data, t.Nonce, t.Gas = token, "0", "0x"+hex.EncodeToString(data), nonce, gas
		t.URI = invoice.EIP681Token(token, c.ChainID, to, bal)
		out = append(out, refund.Transfer{InvoiceID: a.InvoiceID, Asset: tokens[token], Token: token, Amount: bal, Tx: t})
		gasCost.Add(gasCost, new(big.Int).Mul(new(big.Int).SetUint64(gas), maxFee))
		nonce++
	}
	bal, err := c.EVM.Balance(ctx, a.Address)
	if err != nil {
		return nil, fmt.Errorf("service: balance of %s: %w", a.Address, err)
	}
	const nativeGas = 21_000
	left := new(big.Int).Sub(bal, gasCost)
	left.Sub(left, new(big.Int).Mul(big.NewInt(nativeGas), maxFee))
	if left.Sign() > 0 {
		t := base
		t.To, t.Value, t.Data, t.Nonce, t.Gas = to, left.String(), "0x", nonce, nativeGas
		t.URI = invoice.EIP681Native(to, c.ChainID, left)
		out = append(out, refund.Transfer{InvoiceID: a.InvoiceID, Asset: native, Amount: left, Tx: t})
	}
	return out, nil
}
