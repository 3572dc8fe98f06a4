package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/payd/payd/chain"
	"github.com/payd/payd/chain/bitcoin"
	"github.com/payd/payd/chain/evm"
	"github.com/payd/payd/config"
	"github.com/payd/payd/derive"
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

// newBackend builds the backend of one configured chain.
func newBackend(name string, ch config.Chain, log *slog.Logger) (node, error) {
	log = log.With("subsystem", "chain", "chain", name)
	switch ch.Type {
	case "bitcoin":
		b, err := bitcoin.New(bitcoin.Config{
			Name: name, Asset: "BTC", Network: ch.Network,
			RPCURL: ch.RPCURL, RPCUser: ch.RPCUser, RPCPassword: ch.RPCPassword.Reveal(), CookieFile: ch.CookieFile,
			PollInterval: ch.PollInterval, WebsocketURL: ch.WSURL,
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
			TraceInternal: ch.TraceInternal, MaxLogRange: ch.MaxLogRange,
		}, log)
		if err != nil {
			return nil, fmt.Errorf("chains.%s: %w", name, err)
		}
		return evmNode{b}, nil
	}
	return nil, fmt.Errorf("chains.%s.type: unknown type %q", name, ch.Type)
}

// newDeriver parses a chain's watch-only key.
func newDeriver(ch config.Chain) (derive.Deriver, error) {
	if ch.Type == "evm" {
		return derive.ParseEVM(ch.XPub)
	}
	return derive.ParseBitcoin(ch.XPub, ch.Network)
}
