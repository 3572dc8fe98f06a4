package evm

import (
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/payd/payd/chain"
)

// The lean types below decode only what payd needs from JSON-RPC answers:
// fixed-size hex straight into arrays, no big.Int or string per field, every
// other field skipped (PERF.md: go-ethereum's full types cost 2–4× this).

var errBadHex = errors.New("bad hex")

// transferTopic is keccak256("Transfer(address,address,uint256)").
var transferTopic = common.HexToHash("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef")

// hexVal maps a hex digit to its value and anything else to 0xff.
var hexVal = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
		t[c-'a'+'A'] = byte(c-'a') + 10
	}
	return t
}()

func unhex(c byte) (byte, bool) {
	v := hexVal[c]
	return v, v != 0xff
}

// hexBody strips the quotes and 0x of a JSON hex string.
func hexBody(b []byte) ([]byte, error) {
	if len(b) < 4 || b[0] != '"' || b[len(b)-1] != '"' || b[1] != '0' || (b[2] != 'x' && b[2] != 'X') {
		return nil, fmt.Errorf("%w: %.80s", errBadHex, b)
	}
	return b[3 : len(b)-1], nil
}

// decodeFixed decodes a quoted 0x string of exactly len(dst) bytes.
func decodeFixed(dst []byte, b []byte) error {
	h, err := hexBody(b)
	if err != nil {
		return err
	}
	if len(h) != 2*len(dst) {
		return fmt.Errorf("%w: want %d bytes: %.80s", errBadHex, len(dst), b)
	}
	var bad byte
	for i := range dst {
		hi, lo := hexVal[h[2*i]], hexVal[h[2*i+1]]
		bad |= hi | lo
		dst[i] = hi<<4 | lo&0x0f
	}
	if bad&0xf0 != 0 {
		return fmt.Errorf("%w: %.80s", errBadHex, b)
	}
	return nil
}

// hash32 is a 32-byte hash decoded from 0x hex.
type hash32 [32]byte

func (h *hash32) UnmarshalJSON(b []byte) error { return decodeFixed(h[:], b) }

func (h hash32) String() string { return common.Hash(h).Hex() }

// addr20 is an address that may be JSON null (a contract creation's "to").
type addr20 struct {
	A  common.Address
	OK bool
}

func (a *addr20) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*a = addr20{}
		return nil
	}
	if err := decodeFixed(a.A[:], b); err != nil {
		return err
	}
	a.OK = true
	return nil
}

// quantity is a hex quantity of up to 256 bits, big-endian in a fixed array.
type quantity [32]byte

func (q *quantity) UnmarshalJSON(b []byte) error {
	h, err := hexBody(b)
	if err != nil {
		return err
	}
	if len(h) == 0 || len(h) > 64 {
		return fmt.Errorf("%w: quantity %.80s", errBadHex, b)
	}
	*q = quantity{}
	// Fill from the right, two hex digits per byte.
	j := 31
	for i := len(h); i > 0; i -= 2 {
		lo, ok := unhex(h[i-1])
		if !ok {
			return fmt.Errorf("%w: quantity %.80s", errBadHex, b)
		}
		var hi byte
		if i >= 2 {
			if hi, ok = unhex(h[i-2]); !ok {
				return fmt.Errorf("%w: quantity %.80s", errBadHex, b)
			}
		}
		q[j] = hi<<4 | lo
		j--
	}
	return nil
}

// Big returns q as a new big.Int.
func (q *quantity) Big() *big.Int { return new(big.Int).SetBytes(q[:]) }

func (q *quantity) isZero() bool { return *q == quantity{} }

// u64 is a hex quantity that fits 64 bits.
type u64 uint64

func (u *u64) UnmarshalJSON(b []byte) error {
	h, err := hexBody(b)
	if err != nil {
		return err
	}
	if len(h) == 0 || len(h) > 16 {
		return fmt.Errorf("%w: quantity %.80s", errBadHex, b)
	}
	var v uint64
	for _, c := range h {
		d, ok := unhex(c)
		if !ok {
			return fmt.Errorf("%w: quantity %.80s", errBadHex, b)
		}
		v = v<<4 | uint64(d)
	}
	*u = u64(v)
	return nil
}

// word is the 32-byte data of an ERC-20 Transfer log; OK is false when the
// data is not exactly one word (not an ERC-20 Transfer).
type word struct {
	V  quantity
	OK bool
}

func (w *word) UnmarshalJSON(b []byte) error {
	h, err := hexBody(b)
	if err != nil {
		if string(b) == `"0x"` || string(b) == `""` {
			*w = word{}
			return nil
		}
		return err
	}
	if len(h) != 64 {
		*w = word{}
		return nil
	}
	if err := decodeFixed(w.V[:], b); err != nil {
		return err
	}
	w.OK = true
	return nil
}

// leanHeader is a block header as payd needs it.
type leanHeader struct {
	Number     *u64    `json:"number"`
	Hash       *hash32 `json:"hash"`
	ParentHash *hash32 `json:"parentHash"`
	Timestamp  u64     `json:"timestamp"`
}

func (h *leanHeader) ref() (chain.BlockRef, error) {
	if h.Number == nil || h.Hash == nil || h.ParentHash == nil {
		return chain.BlockRef{}, errors.New("block without number, hash or parentHash (pending block?)")
	}
	return chain.BlockRef{
		Height: uint64(*h.Number),
		Hash:   strings.ToLower(h.Hash.String()),
		Parent: strings.ToLower(h.ParentHash.String()),
		Time:   time.Unix(int64(h.Timestamp), 0).UTC(),
	}, nil
}

// leanTx is a transaction as payd needs it.
type leanTx struct {
	Hash  hash32   `json:"hash"`
	To    addr20   `json:"to"`
	Value quantity `json:"value"`
}

// leanBlock is eth_getBlockBy*(…, true) as payd needs it.
type leanBlock struct {
	leanHeader
	LogsBloom    *types.Bloom `json:"logsBloom"`
	Transactions []leanTx     `json:"transactions"`
}

// leanLog is a log as payd needs it.
type leanLog struct {
	Address     common.Address `json:"address"`
	Topics      []hash32       `json:"topics"`
	Data        word           `json:"data"`
	BlockNumber u64            `json:"blockNumber"`
	BlockHash   hash32         `json:"blockHash"`
	TxHash      hash32         `json:"transactionHash"`
	TxIndex     u64            `json:"transactionIndex"`
	LogIndex    u64            `json:"logIndex"`
	Removed     bool           `json:"removed"`
}

// leanReceipt is a receipt as payd needs it.
type leanReceipt struct {
	TxHash    hash32 `json:"transactionHash"`
	BlockHash hash32 `json:"blockHash"`
	Status    *u64   `json:"status"`
}

// Watchlist is the set of watched addresses. Safe for concurrent use.
//
// An address is kept as its 20 bytes only, with no string: a match reports
// the EIP-55 spelling, encoded again (matches are rare), which is how payd
// derives and stores EVM addresses. Only an address watched in another
// spelling (all lower case, say) keeps its string, so a match always reports
// the address exactly as it was given to Add. 1,000,000 addresses take
// ~45 MB instead of ~110 MB as address → string.
type Watchlist struct {
	mu sync.RWMutex
	m  map[common.Address]struct{}
	// odd maps the addresses not watched in their EIP-55 spelling to the
	// spelling given. Usually empty.
	odd map[common.Address]string
}

// NewWatchlist returns an empty Watchlist.
func NewWatchlist() *Watchlist {
	return &Watchlist{m: make(map[common.Address]struct{}), odd: make(map[common.Address]string)}
}

// Add watches addrs (0x + 40 hex digits, any case) and returns those that are
// not addresses, which it ignores.
func (w *Watchlist) Add(addrs ...string) (invalid []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range addrs {
		if !common.IsHexAddress(s) || !strings.HasPrefix(strings.ToLower(s), "0x") {
			invalid = append(invalid, s)
			continue
		}
		a := common.HexToAddress(s)
		w.m[a] = struct{}{}
		if a.Hex() != s {
			w.odd[a] = s
		} else if len(w.odd) > 0 {
			delete(w.odd, a)
		}
	}
	return invalid
}

// Remove stops watching addrs.
func (w *Watchlist) Remove(addrs ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range addrs {
		if common.IsHexAddress(s) {
			a := common.HexToAddress(s)
			delete(w.m, a)
			delete(w.odd, a)
		}
	}
}

// lookup returns the address a was watched as; w.mu is held for reading.
// A miss allocates nothing.
func (w *Watchlist) lookup(a common.Address) (string, bool) {
	if _, ok := w.m[a]; !ok {
		return "", false
	}
	if len(w.odd) > 0 {
		if s, ok := w.odd[a]; ok {
			return s, true
		}
	}
	return a.Hex(), true
}

// Lookup returns the address a was watched as.
func (w *Watchlist) Lookup(a common.Address) (string, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.lookup(a)
}

// Len returns how many addresses are watched.
func (w *Watchlist) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return len(w.m)
}

// tokenInfo is a configured token by contract.
type tokenInfo struct {
	Symbol   string
	Contract string // EIP-55
}

// Scanner decodes blocks and logs from JSON-RPC responses and matches them
// against a Watchlist. It is what Backend runs per block, exported so that
// payd's benchmarks measure the real hot path.
type Scanner struct {
	chainName string
	native    string
	tokens    map[common.Address]tokenInfo
	watch     *Watchlist
}

// NewScanner returns a Scanner for cfg's chain, native asset and tokens.
func NewScanner(cfg Config, w *Watchlist) *Scanner {
	s := &Scanner{chainName: cfg.Name, native: cfg.NativeAsset, tokens: make(map[common.Address]tokenInfo), watch: w}
	for _, t := range cfg.Tokens {
		a := common.HexToAddress(t.Contract)
		s.tokens[a] = tokenInfo{Symbol: t.Symbol, Contract: a.Hex()}
	}
	return s
}

// decodeBlock decodes an eth_getBlockByHash/Number(…, true) response body.
func decodeBlock(body []byte) (*leanBlock, error) {
	var b *leanBlock
	null, err := streamResponse(body, func(dec *jsontext.Decoder) error {
		var err error
		b, err = streamBlock(dec)
		return err
	})
	if err != nil {
		return nil, err
	}
	if null {
		return nil, errNotFound
	}
	return b, nil
}

// decodeLogs decodes an eth_getLogs response body.
func decodeLogs(body []byte) ([]leanLog, error) {
	var logs []leanLog
	_, err := streamResponse(body, func(dec *jsontext.Decoder) error {
		var err error
		logs, err = streamLogs(dec)
		return err
	})
	if err != nil {
		return nil, err
	}
	return logs, nil
}

var errNotFound = errors.New("not found")

// nativeMatches returns the transactions of b paying a watched address, in
// block order, as transfers without Block set.
func (s *Scanner) nativeMatches(b *leanBlock) []match {
	var out []match
	s.watch.mu.RLock()
	defer s.watch.mu.RUnlock()
	for i := range b.Transactions {
		tx := &b.Transactions[i]
		if !tx.To.OK || tx.Value.isZero() {
			continue
		}
		if addr, ok := s.watch.lookup(tx.To.A); ok {
			out = append(out, match{tx: uint64(i), native: true, T: chain.Transfer{
				Chain: s.chainName, Asset: s.native, TxID: strings.ToLower(tx.Hash.String()),
				Address: addr, Amount: tx.Value.Big(),
			}})
		}
	}
	return out
}

// tokenMatches returns the ERC-20 Transfer logs paying a watched address, in
// log order, as transfers without Block set. Logs not of a configured token,
// not ERC-20 shaped, or removed are skipped.
func (s *Scanner) tokenMatches(logs []leanLog) []match {
	var out []match
	s.watch.mu.RLock()
	defer s.watch.mu.RUnlock()
	for i := range logs {
		l := &logs[i]
		if l.Removed || len(l.Topics) != 3 || l.Topics[0] != hash32(transferTopic) || !l.Data.OK {
			continue
		}
		tok, ok := s.tokens[l.Address]
		if !ok {
			continue
		}
		to := common.BytesToAddress(l.Topics[2][12:])
		addr, ok := s.watch.lookup(to)
		if !ok || l.LogIndex > u64(^uint32(0)) {
			continue
		}
		out = append(out, match{tx: uint64(l.TxIndex), T: chain.Transfer{
			Chain: s.chainName, Asset: tok.Symbol, Token: tok.Contract, TxID: strings.ToLower(l.TxHash.String()),
			Index: uint32(l.LogIndex), Address: addr, Amount: l.Data.V.Big(),
		}})
	}
	return out
}

// match is a transfer found in a block with its position.
type match struct {
	T      chain.Transfer
	tx     uint64 // transaction index in the block
	native bool   // a native transfer (comes before the tx's logs)
}

// inBlockOrder sorts matches by transaction, the native transfer before the
// transaction's logs, logs by index, and returns the transfers.
func inBlockOrder(ms []match) []chain.Transfer {
	sort.SliceStable(ms, func(i, j int) bool {
		a, b := &ms[i], &ms[j]
		if a.tx != b.tx {
			return a.tx < b.tx
		}
		if a.native != b.native {
			return a.native
		}
		return a.T.Index < b.T.Index
	})
	out := make([]chain.Transfer, len(ms))
	for i := range ms {
		out[i] = ms[i].T
	}
	return out
}

// Scan decodes one block response (eth_getBlockBy*(…, true)) and one
// eth_getLogs response for that block and returns the block and the transfers
// to watched addresses in block order. Native transfers still need their
// receipt status checked, which Scan cannot see; Backend does that.
func (s *Scanner) Scan(blockBody, logsBody []byte) (chain.BlockRef, []chain.Transfer, error) {
	b, err := decodeBlock(blockBody)
	if err != nil {
		return chain.BlockRef{}, nil, fmt.Errorf("block: %w", err)
	}
	ref, err := b.ref()
	if err != nil {
		return chain.BlockRef{}, nil, err
	}
	logs, err := decodeLogs(logsBody)
	if err != nil {
		return chain.BlockRef{}, nil, fmt.Errorf("logs: %w", err)
	}
	ms := s.nativeMatches(b)
	ms = append(ms, s.tokenMatches(logs)...)
	return ref, inBlockOrder(ms), nil
}
