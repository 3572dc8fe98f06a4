package evm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ethereum/go-ethereum/common"
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultPollInterval = time.Second
	DefaultDepth        = 100
	DefaultMaxLogRange  = 1000
)

// Token is one ERC-20 watched on a chain.
type Token struct {
	// Symbol is the asset code ("USDC").
	Symbol string
	// Contract is the token contract address (0x + 40 hex digits).
	Contract string
	// Decimals must match what the contract's decimals() reports.
	Decimals int
}

// Config is one EVM chain on one node.
type Config struct {
	// Name is the configured chain name ("ethereum", "polygon").
	Name string
	// ChainID must match eth_chainId.
	ChainID uint64
	// RPCURL is the node's HTTP(S) JSON-RPC endpoint. It may hold an API key;
	// payd logs only its host.
	RPCURL string
	// WSURL is the node's websocket endpoint for newHeads; "" polls only.
	WSURL string
	// PollInterval is how often the tip is polled when there is no websocket
	// (default 1s). With a websocket, polling continues at 10× this as a safety net.
	PollInterval time.Duration
	// NativeAsset is the native coin's asset code ("ETH", "POL").
	NativeAsset string
	// Tokens are the ERC-20s to watch.
	Tokens []Token
	// Depth is how many recent blocks are remembered for reorgs (default 100).
	Depth int
	// TraceInternal also detects native value sent by contracts (internal
	// transactions) with debug_traceBlockByHash's callTracer. Off by default:
	// it needs the debug API and costs a trace per block.
	TraceInternal bool
	// MaxLogRange is the largest eth_getLogs block range asked for while
	// catching up (default 1000); ranges a node refuses are split.
	MaxLogRange uint64
	// BeforeBlock, if set, runs before each block is matched against the
	// watched set, so that addresses handed out elsewhere (another payd on
	// the same database) can be watched first.
	BeforeBlock func(ctx context.Context)
}

// CheckError is a configuration that does not match the node. Key names the
// configuration key ("chains.polygon.chain_id").
type CheckError struct {
	Key     string
	Problem string
}

func (e *CheckError) Error() string { return e.Key + ": " + e.Problem }

// ErrConfig is wrapped by New's validation errors.
var ErrConfig = errors.New("evm: invalid config")

func (c *Config) key(parts ...string) string {
	return "chains." + c.Name + "." + strings.Join(parts, ".")
}

// withDefaults fills zero fields and validates c.
func (c Config) withDefaults() (Config, error) {
	if c.PollInterval <= 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.Depth <= 0 {
		c.Depth = DefaultDepth
	}
	if c.MaxLogRange == 0 {
		c.MaxLogRange = DefaultMaxLogRange
	}
	bad := func(key, problem string) (Config, error) {
		return c, fmt.Errorf("%w: %w", ErrConfig, &CheckError{Key: key, Problem: problem})
	}
	if c.Name == "" {
		return bad("chains.<name>", "chain name is empty")
	}
	if c.ChainID == 0 {
		return bad(c.key("chain_id"), "must be set (1 for Ethereum, 137 for Polygon, …)")
	}
	if c.RPCURL == "" {
		return bad(c.key("rpc_url"), "must be set to the node's http(s) JSON-RPC URL")
	}
	if c.WSURL != "" && !strings.HasPrefix(c.WSURL, "ws://") && !strings.HasPrefix(c.WSURL, "wss://") {
		return bad(c.key("ws_url"), "must start with ws:// or wss://")
	}
	if c.NativeAsset == "" {
		return bad(c.key("native_asset"), "must be set (ETH, POL, …)")
	}
	seen := map[common.Address]bool{}
	for _, t := range c.Tokens {
		if t.Symbol == "" {
			return bad(c.key("tokens"), "a token has no symbol")
		}
		if !common.IsHexAddress(t.Contract) || !strings.HasPrefix(strings.ToLower(t.Contract), "0x") {
			return bad(c.key("tokens", t.Symbol, "contract"), fmt.Sprintf("%q is not a 0x address", t.Contract))
		}
		a := common.HexToAddress(t.Contract)
		if seen[a] {
			return bad(c.key("tokens", t.Symbol, "contract"), "contract listed twice")
		}
		seen[a] = true
		if t.Decimals < 0 || t.Decimals > 77 {
			return bad(c.key("tokens", t.Symbol, "decimals"), fmt.Sprintf("%d is out of range 0..77", t.Decimals))
		}
	}
	return c, nil
}
