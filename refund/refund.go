package refund

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/payd/payd/invoice"
)

// ID prefixes.
const (
	PrefixRefund = "rf_"
	PrefixSweep  = "sw_"
)

// Status is a refund's (or a sweep's) status.
type Status string

// Refund statuses (docs/refunds.md).
const (
	// StatusAwaitingAddress: created without an address; the shopper gives
	// one on the claim page /r/{id}.
	StatusAwaitingAddress Status = "awaiting_address"
	// StatusReady: the unsigned transaction (PSBT, EVM fields) is ready for
	// the merchant's wallet.
	StatusReady Status = "ready"
	// StatusBroadcast: the transaction was handed to the node or seen
	// paying the address; waiting for confirmations.
	StatusBroadcast Status = "broadcast"
	// StatusCompleted: the transaction has the configured confirmations. Final.
	StatusCompleted Status = "completed"
	// StatusCanceled: canceled by the merchant before anything was sent. Final.
	StatusCanceled Status = "canceled"
	// StatusExpired: the claim link was not used in time. Final.
	StatusExpired Status = "expired"
)

// Statuses lists every Status.
var Statuses = []Status{StatusAwaitingAddress, StatusReady, StatusBroadcast, StatusCompleted, StatusCanceled, StatusExpired}

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	for _, v := range Statuses {
		if s == v {
			return true
		}
	}
	return false
}

// Final reports whether the status can no longer change.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusCanceled || s == StatusExpired
}

// Holds reports whether a refund in this status counts against what is left
// to refund (and, for Bitcoin, holds the outputs its transaction spends).
func (s Status) Holds() bool { return s != StatusCanceled && s != StatusExpired }

// Kind says whether a record is a refund to a shopper or a sweep to the
// merchant's cold storage.
type Kind string

// Kinds.
const (
	KindRefund Kind = "refund"
	KindSweep  Kind = "sweep"
)

// RateMode says at which rate a refund in another currency than the
// method's asset is converted.
type RateMode string

// Rate modes.
const (
	// RateOriginal is the rate locked on the invoice at creation.
	RateOriginal RateMode = "original"
	// RateCurrent is the rate source's rate now.
	RateCurrent RateMode = "current"
)

// Input is an output a Bitcoin refund or sweep spends: one of an invoice's
// received outputs (Branch 0, the deposit address) or the change of an
// earlier refund (Branch 1).
type Input struct {
	TxID      string `json:"txid"`
	Vout      uint32 `json:"vout"`
	Amount    int64  `json:"amount"` // sats
	Address   string `json:"address"`
	Branch    uint32 `json:"branch"`
	Index     uint32 `json:"index"`
	InvoiceID string `json:"invoice_id"`
}

// Outpoint is "txid:vout".
func (in Input) Outpoint() string { return fmt.Sprintf("%s:%d", in.TxID, in.Vout) }

// Change is a Bitcoin refund's change output back to the merchant's change
// branch (/1/Index).
type Change struct {
	Address string `json:"address"`
	Amount  int64  `json:"amount"` // sats
	Index   uint32 `json:"index"`
	Vout    uint32 `json:"vout"`
}

// EVMTx is an unsigned EVM transaction for the merchant's wallet: native
// value or an ERC-20 transfer(to, amount) from the invoice's deposit address.
type EVMTx struct {
	ChainID              uint64 `json:"chain_id"`
	From                 string `json:"from"`
	To                   string `json:"to"`    // recipient, or the token contract
	Value                string `json:"value"` // wei, decimal
	Data                 string `json:"data"`  // 0x… calldata ("0x" for native)
	Nonce                uint64 `json:"nonce"`
	Gas                  uint64 `json:"gas"`
	MaxFeePerGas         string `json:"max_fee_per_gas"`          // wei, decimal
	MaxPriorityFeePerGas string `json:"max_priority_fee_per_gas"` // wei, decimal
	URI                  string `json:"uri"`                      // EIP-681
}

// Refund is one refund (or sweep).
type Refund struct {
	ID        string // rf_… / sw_…
	Kind      Kind
	InvoiceID string   // "" for a sweep
	Invoices  []string // the invoices a sweep moves
	Method    string   // "bitcoin/btc"
	Chain     string
	ChainKind invoice.ChainKind
	ChainID   uint64
	Asset     invoice.Asset
	Token     string
	// Amount is what the refund takes from the invoice, in Asset base units.
	Amount *big.Int
	// Sent is what the transaction pays the address: Amount, or Amount less
	// the network fee when a full Bitcoin refund pays its own fee.
	Sent *big.Int
	// Fee is the Bitcoin network fee of the PSBT (sats); 0 for EVM.
	Fee *big.Int
	// Currency and Requested are the amount as asked ("10.00" USD).
	Currency  invoice.Asset
	Requested *big.Int
	RateMode  RateMode
	Rate      string // price of one Asset in Currency used ("" when Currency is the asset)
	Reason    string
	Status    Status
	Address   string // destination; "" while awaiting_address
	From      string // EVM: the deposit address that sends
	FeeRate   int64  // sat/vB (Bitcoin)
	Inputs    []Input
	Change    *Change
	PSBT      []byte // serialized PSBT (Bitcoin, once ready)
	EVM       *EVMTx // EVM, once ready
	// Transfers are an EVM sweep's transactions, one per deposit address
	// and asset.
	Transfers []Transfer
	TxID      string
	// BlockHeight and BlockHash: the block holding TxID (0/"" while unconfirmed).
	BlockHeight           uint64
	BlockHash             string
	Confirmations         int
	ConfirmationsRequired int
	CreatedAt             time.Time
	UpdatedAt             time.Time
	ExpiresAt             time.Time // claim link expiry (awaiting_address only)
	CompletedAt           *time.Time
	Sequence              int64
}

// Errors of the rules; the service maps them to API errors.
var (
	// ErrNotRefundable: the invoice is not settled (or paid late / overpaid).
	ErrNotRefundable = errors.New("invoice cannot be refunded")
	// ErrTooMuch: the amount is above what is left to refund.
	ErrTooMuch = errors.New("amount is above the refundable rest")
	// ErrState: the refund's status does not allow this.
	ErrState = errors.New("refund status does not allow this")
	// ErrInsufficient: the outputs the transaction may spend cannot pay the
	// amount and the fee.
	ErrInsufficient = errors.New("outputs cannot pay amount and fee")
)

// EventType names of refund and sweep events (they are invoice.EventType
// values, so the outbox, webhooks and filters treat them alike).
const (
	EventCreated         = invoice.EventRefundCreated
	EventAddressProvided = invoice.EventRefundAddressProvided
	EventCompleted       = invoice.EventRefundCompleted
	EventCanceled        = invoice.EventRefundCanceled
	EventSweepCompleted  = invoice.EventSweepCompleted
)

// Transfer is one transaction of an EVM sweep: the unsigned transaction
// that moves one asset (native or a token) out of one deposit address, and
// what the watcher saw of it.
type Transfer struct {
	InvoiceID   string        `json:"invoice_id"`
	Asset       invoice.Asset `json:"asset"`
	Token       string        `json:"token,omitempty"`
	Amount      *big.Int      `json:"amount"` // base units the transaction pays to the sweep's address
	Tx          EVMTx         `json:"tx"`
	TxID        string        `json:"txid,omitempty"`
	BlockHeight uint64        `json:"block_height,omitempty"`
	BlockHash   string        `json:"block_hash,omitempty"`
}

// SeenTransfer records a transfer to an EVM sweep's address: the first of
// the sweep's transfers of that token (native: "") and at most that amount
// not yet matched, or the one already matched to txid. Once every transfer
// is mined, the sweep's block is the latest of theirs, so Count completes
// it when the last one has the confirmations. It reports whether anything
// changed.
func SeenTransfer(r *Refund, token string, amount *big.Int, txid string, height uint64, hash string, now time.Time) bool {
	if r.Status != StatusReady && r.Status != StatusBroadcast {
		return false
	}
	pick := -1
	for i := range r.Transfers {
		t := &r.Transfers[i]
		if !strings.EqualFold(t.Token, token) {
			continue
		}
		if t.TxID == txid {
			pick = i
			break
		}
		if pick < 0 && t.TxID == "" && t.Amount != nil && amount.Cmp(t.Amount) >= 0 {
			pick = i
		}
	}
	if pick < 0 {
		return false
	}
	t := &r.Transfers[pick]
	if t.TxID == txid && t.BlockHash == hash && r.Status == StatusBroadcast {
		return false
	}
	t.TxID, t.BlockHeight, t.BlockHash = txid, height, hash
	r.Status, r.TxID = StatusBroadcast, txid
	sweepBlock(r)
	r.UpdatedAt = now
	r.Sequence++
	return true
}

// UnmineTransfers forgets the block hash of an EVM sweep's transfers after
// a reorg; it reports whether the sweep held one.
func UnmineTransfers(r *Refund, hash string, now time.Time) bool {
	if r.Status != StatusBroadcast {
		return false
	}
	changed := false
	for i := range r.Transfers {
		if t := &r.Transfers[i]; t.BlockHash == hash {
			t.BlockHeight, t.BlockHash = 0, ""
			changed = true
		}
	}
	if changed {
		sweepBlock(r)
		r.UpdatedAt = now
		r.Sequence++
	}
	return changed
}

// sweepBlock sets an EVM sweep's block: the latest of its transfers' once
// all are mined, none before.
func sweepBlock(r *Refund) {
	r.BlockHeight, r.BlockHash, r.Confirmations = 0, "", 0
	for _, t := range r.Transfers {
		if t.BlockHash == "" {
			r.BlockHeight, r.BlockHash = 0, ""
			return
		}
		if t.BlockHeight >= r.BlockHeight {
			r.BlockHeight, r.BlockHash = t.BlockHeight, t.BlockHash
		}
	}
}
