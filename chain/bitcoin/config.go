package bitcoin

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/btcsuite/btcd/chaincfg"
)

// Config configures one Bitcoin backend.
type Config struct {
	// Name is the chain name events carry; default "bitcoin".
	Name string
	// Asset is the asset code transfers carry; default "BTC".
	Asset string
	// Network is mainnet, testnet, signet or regtest.
	Network string
	// RPCURL is the node's JSON-RPC endpoint, e.g. http://127.0.0.1:8332.
	RPCURL string
	// RPCUser and RPCPassword authenticate with HTTP basic auth.
	RPCUser, RPCPassword string
	// CookieFile is Bitcoin Core's .cookie; used when RPCUser is empty. It
	// is re-read when the node answers 401 (Core rewrites it on restart).
	CookieFile string
	// PollInterval is how often the tip and the mempool are polled; default 1s.
	PollInterval time.Duration
	// WebsocketURL is btcd's websocket endpoint (ws://host:port/ws). When
	// set, block and transaction notifications wake the poller early;
	// polling remains the source of truth. Empty: poll only.
	WebsocketURL string
	// Depth is how many recent blocks are tracked for reorgs; default 100.
	Depth int
	// RequestTimeout bounds one RPC call; default 30s.
	RequestTimeout time.Duration
	// BeforeBlock, if set, runs before each block is matched against the
	// watched set, so that addresses handed out elsewhere (another payd on
	// the same database) can be watched first. Mempool transactions are not
	// waited for: one missed there is found in its block.
	BeforeBlock func(ctx context.Context)
}

func (c *Config) setDefaults() {
	if c.Name == "" {
		c.Name = "bitcoin"
	}
	if c.Asset == "" {
		c.Asset = "BTC"
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.Depth <= 0 {
		c.Depth = 100
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 30 * time.Second
	}
}

// validate checks the config after defaults were applied.
func (c *Config) validate() error {
	if _, err := networkParams(c.Network); err != nil {
		return err
	}
	u, err := url.Parse(c.RPCURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: rpc_url %q must be http(s)://host:port", ErrConfig, c.RPCURL)
	}
	if c.RPCUser == "" && c.CookieFile == "" {
		return fmt.Errorf("%w: set rpc_user/rpc_password or cookie_file", ErrConfig)
	}
	if c.WebsocketURL != "" {
		w, err := url.Parse(c.WebsocketURL)
		if err != nil || (w.Scheme != "ws" && w.Scheme != "wss") || w.Host == "" {
			return fmt.Errorf("%w: websocket_url %q must be ws(s)://host:port/ws (btcd only)", ErrConfig, c.WebsocketURL)
		}
	}
	if c.Depth < 2 {
		return fmt.Errorf("%w: depth %d must be at least 2", ErrConfig, c.Depth)
	}
	return nil
}

// networkParams maps the configured network to btcd's chain parameters.
func networkParams(network string) (*chaincfg.Params, error) {
	switch network {
	case "mainnet":
		return &chaincfg.MainNetParams, nil
	case "testnet":
		return &chaincfg.TestNet3Params, nil
	case "signet":
		return &chaincfg.SigNetParams, nil
	case "regtest":
		return &chaincfg.RegressionNetParams, nil
	}
	return nil, fmt.Errorf("%w: network %q must be mainnet, testnet, signet or regtest", ErrConfig, network)
}

// nodeChainNames lists what getblockchaininfo's "chain" says for each
// network: Bitcoin Core's name first, then btcd's (its chaincfg Params.Name).
var nodeChainNames = map[string][]string{
	"mainnet": {"main", "mainnet"},
	"testnet": {"test", "testnet3"},
	"signet":  {"signet"},
	"regtest": {"regtest"},
}
