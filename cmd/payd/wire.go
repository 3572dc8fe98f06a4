package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/chain/bitcoin"
	"github.com/payd/payd/chain/evm"
	"github.com/payd/payd/chain/lightning"
	"github.com/payd/payd/config"
	"github.com/payd/payd/derive"
	"github.com/payd/payd/service"
)

// node is a chain backend that can also check its node against the config.
type node interface {
	chain.Backend
	// check verifies network/chain id/tokens and returns the node's tip.
	check(ctx context.Context) (chain.BlockRef, error)
}

type btcNode struct{ *bitcoin.Backend }

func (n btcNode) check(ctx context.Context) (chain.BlockRef, error) { return n.Check(ctx) }

type evmNode struct{ *evm.Backend }

func (n evmNode) check(ctx context.Context) (chain.BlockRef, error) {
	if err := n.Check(ctx); err != nil {
		return chain.BlockRef{}, err
	}
	return n.Tip(ctx)
}

// lnNode is the merchant's LND behind the chain.Backend interface.
type lnNode struct{ *lightning.Backend }

func (n lnNode) check(ctx context.Context) (chain.BlockRef, error) {
	if _, _, err := n.Check(ctx); err != nil {
		return chain.BlockRef{}, err
	}
	return n.Tip(ctx)
}

// invoicer adapts the Lightning backend to service.Invoicer.
type invoicer struct{ b *lightning.Backend }

func (i invoicer) CreateInvoice(ctx context.Context, sats *big.Int, memo string, expiry time.Duration) (service.BOLT11, error) {
	inv, err := i.b.CreateInvoice(ctx, sats, memo, expiry)
	return service.BOLT11{PaymentRequest: inv.PaymentRequest, PaymentHash: inv.PaymentHash, AddIndex: inv.AddIndex}, err
}

// newBackend builds the backend of one configured chain. beforeBlock, if
// not nil, runs before each block is matched against the watched set.
func newBackend(name string, ch config.Chain, beforeBlock func(context.Context), log *slog.Logger) (node, error) {
	log = log.With("subsystem", "chain", "chain", name)
	switch ch.Type {
	case "bitcoin":
		b, err := bitcoin.New(bitcoin.Config{
			Name: name, Asset: "BTC", Network: ch.Network,
			RPCURL: ch.RPCURL, RPCUser: ch.RPCUser, RPCPassword: ch.RPCPassword.Reveal(), CookieFile: ch.CookieFile,
			PollInterval: ch.PollInterval, WebsocketURL: ch.WSURL, BeforeBlock: beforeBlock,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("chains.%s: %w", name, err)
		}
		return btcNode{b}, nil
	case "evm":
		var tokens []evm.Token
		for _, t := range ch.Tokens {
			tokens = append(tokens, evm.Token{Symbol: t.Symbol, Contract: t.Contract, Decimals: t.Decimals})
		}
		native := ch.Native.Symbol
		b, err := evm.New(evm.Config{
			Name: name, ChainID: ch.ChainID, RPCURL: ch.RPCURL, WSURL: ch.WSURL,
			PollInterval: ch.PollInterval, NativeAsset: native, Tokens: tokens,
			TraceInternal: ch.TraceInternal, MaxLogRange: ch.MaxLogRange, BeforeBlock: beforeBlock,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("chains.%s: %w", name, err)
		}
		return evmNode{b}, nil
	case "lightning":
		b, err := lightning.New(lightning.Config{
			Name: name, Asset: "BTC", Network: ch.Network, RESTURL: ch.RPCURL, TLSCertPath: ch.TLSCert,
			MacaroonPath: ch.Macaroon, ReadonlyMacaroonPath: ch.ReadonlyMacaroon, PollInterval: ch.PollInterval,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("chains.%s: %w", name, err)
		}
		return lnNode{b}, nil
	}
	return nil, fmt.Errorf("chains.%s.type: unknown type %q", name, ch.Type)
}

// newDeriver parses a chain's watch-only key (none for Lightning: the
// node's own wallet receives).
func newDeriver(ch config.Chain) (derive.Deriver, error) {
	if ch.Type == "lightning" {
		return nil, errors.New("a lightning chain has no addresses to derive: each invoice gets a BOLT11 from LND")
	}
	if ch.Type == "evm" {
		return derive.ParseEVM(ch.XPub)
	}
	return derive.ParseBitcoin(ch.XPub, ch.Network)
}
