// Package chain declares what payd needs from a blockchain node: a Backend that
// follows the best chain and reports payments to watched addresses, the events it
// emits, and a pure Tracker that turns "the node has a new tip" into "disconnect
// down to the fork point, then connect forward".
//
// It imports nothing of payd's. Concrete backends live in chain/bitcoin and
// chain/evm; chain/chaintest holds a scripted fake.
package chain

import (
	"context"
	"fmt"
	"math/big"
	"time"
)

// BlockRef identifies one block of a chain. Hashes are lower-case hex as the
// node prints them (Bitcoin: byte-reversed display order; EVM: 0x-prefixed).
type BlockRef struct {
	Height uint64
	Hash   string
	Parent string
	Time   time.Time
}

// String returns "height/hash" for logs.
func (b BlockRef) String() string { return fmt.Sprintf("%d/%s", b.Height, b.Hash) }

// Transfer is value sent to a watched address: a Bitcoin output, a native EVM
// transfer or an ERC-20 Transfer log.
type Transfer struct {
	// Chain is the configured chain name ("bitcoin", "ethereum", "polygon").
	Chain string
	// Asset is the configured asset code ("BTC", "ETH", "USDC").
	Asset string
	// Token is the ERC-20 contract (EIP-55) or "" for the chain's native coin.
	Token string
	// TxID is the transaction id / hash as the node prints it.
	TxID string
	// Index is the vout for Bitcoin, the log index for ERC-20, 0 for native EVM.
	Index uint32
	// Address is the watched address exactly as it was passed to Watch.
	Address string
	// Amount in base units (sats, wei, token units). Never nil.
	Amount *big.Int
	// Block is the block that holds the transaction; nil while in the mempool.
	Block *BlockRef
	// RBF is true when the Bitcoin transaction signals replace-by-fee (BIP125).
	RBF bool
}

// Key returns the identity of the transfer on its chain: txid:index.
func (t Transfer) Key() string { return fmt.Sprintf("%s:%d", t.TxID, t.Index) }

// EventType says what happened on a chain.
type EventType uint8

// The chain events, in the order a Backend may emit them.
const (
	// BlockConnected: Block became the new tip; Transfers holds every transfer
	// to a watched address in it, in block order (possibly none).
	BlockConnected EventType = iota + 1
	// BlockDisconnected: Block left the best chain (a reorg); the new tip is its
	// parent. Disconnections come tip-first, down to the fork point.
	BlockDisconnected
	// MempoolTransfers: Transfers were seen unconfirmed.
	MempoolTransfers
	// TxReplaced: the unconfirmed transaction TxID was double-spent by
	// ReplacedBy, which confirmed (or was dropped in favour of it).
	TxReplaced
)

var eventTypeNames = map[EventType]string{
	BlockConnected:    "block_connected",
	BlockDisconnected: "block_disconnected",
	MempoolTransfers:  "mempool_transfers",
	TxReplaced:        "tx_replaced",
}

// String returns the event type's name.
func (t EventType) String() string {
	if s, ok := eventTypeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("EventType(%d)", uint8(t))
}

// Event is one change a Backend reports. Events of one chain are delivered in
// order on one channel; the consumer handles each completely (and durably)
// before reading the next.
type Event struct {
	Type       EventType
	Chain      string
	Block      BlockRef   // BlockConnected, BlockDisconnected
	Transfers  []Transfer // BlockConnected, MempoolTransfers
	TxID       string     // TxReplaced
	ReplacedBy string     // TxReplaced
}

// Status is a backend's health, for /readyz and metrics.
type Status struct {
	Ready     bool
	Reason    string // why not ready; "" when ready
	TipHeight uint64 // the node's best height as last seen
	Processed uint64 // the height payd has processed up to
	UpdatedAt time.Time
}

// Lag is how many blocks payd is behind the node's tip.
func (s Status) Lag() uint64 {
	if s.TipHeight > s.Processed {
		return s.TipHeight - s.Processed
	}
	return 0
}

// Backend follows one chain on one node. Implementations: chain/bitcoin,
// chain/evm, chain/chaintest (fake).
type Backend interface {
	// Name is the configured chain name.
	Name() string
	// Watch adds addresses to the watched set. It is safe to call concurrently
	// with Run and takes effect for every block and mempool transaction
	// processed after it returns.
	Watch(addrs ...string)
	// Unwatch removes addresses from the watched set.
	Unwatch(addrs ...string)
	// Run follows the best chain and sends events to out until ctx is done.
	// recent is the tail of the chain payd has already processed, oldest
	// first; Run resumes after its last block, first disconnecting any of it
	// that is no longer on the best chain. With recent empty, Run starts by
	// connecting the node's current tip. Node errors are retried with backoff
	// and reported through Status; Run returns only when ctx is done or on a
	// fault it cannot recover from (wrong network, reorg deeper than recent).
	Run(ctx context.Context, recent []BlockRef, out chan<- Event) error
	// Tip asks the node for its best block.
	Tip(ctx context.Context) (BlockRef, error)
	// Status reports health without blocking.
	Status() Status
}

// TxState is what a node knows of a transaction right now.
type TxState uint8

// The transaction states a TxStater reports.
const (
	// TxUnknown: neither in the node's mempool nor on its best chain (as far
	// as the node can tell: a Bitcoin node without -txindex cannot find a
	// mined transaction, see chain/bitcoin).
	TxUnknown TxState = iota
	// TxInMempool: waiting in the node's mempool to be mined.
	TxInMempool
	// TxMined: in a block of the node's best chain.
	TxMined
)

var txStateNames = map[TxState]string{TxUnknown: "unknown", TxInMempool: "mempool", TxMined: "mined"}

// String returns the state's name.
func (s TxState) String() string {
	if n, ok := txStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("TxState(%d)", uint8(s))
}

// TxStater is an optional interface of a Backend: it asks the node where
// transactions stand. The watcher asks it when a block is disconnected, in
// the same step and before committing, so that a payment whose transaction
// went back to the mempool (or is already in the new branch) stays pending
// instead of being reported orphaned for a moment.
type TxStater interface {
	// TxStates returns the state of each txid (missing = TxUnknown). An
	// error means the node could not be asked; the caller must not guess.
	TxStates(ctx context.Context, txids []string) (map[string]TxState, error)
}
