package testnode

import (
	"bytes"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

//go:embed testdata/TestToken.bin
var tokenBin string

// TokenBytecode returns the creation bytecode of the test ERC-20 (without the
// constructor argument).
func TokenBytecode() []byte {
	b, err := hex.DecodeString(strings.TrimSpace(tokenBin))
	if err != nil {
		panic("testnode: bad embedded TestToken.bin: " + err.Error())
	}
	return b
}

// Function selectors and event topics of the test token.
const (
	selTransfer = "a9059cbb" // transfer(address,uint256)
	selMint     = "40c10f19" // mint(address,uint256)
	// TransferTopic is keccak256("Transfer(address,address,uint256)").
	TransferTopic = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
)

// EVMNode is a running local EVM node (anvil or geth --dev) with unlocked,
// funded accounts, and helpers that pay, deploy, mine and reorg through it.
// Every helper fails the test on error.
type EVMNode struct {
	// Kind is "anvil" or "geth".
	Kind string
	// HTTPURL is the JSON-RPC endpoint, e.g. http://127.0.0.1:8545.
	HTTPURL string
	// WSURL is the websocket JSON-RPC endpoint, e.g. ws://127.0.0.1:8546.
	WSURL string
	// ChainID is what eth_chainId reports (anvil 31337, geth --dev 1337).
	ChainID uint64

	t      TB
	client *http.Client
	id     atomic.Uint64
	from   string
	// mine mines one block; reorg replaces the last depth blocks.
	mine  func(n int)
	reorg func(depth int)
}

func newEVMNode(t TB, kind, httpURL, wsURL string, chainID uint64) *EVMNode {
	n := &EVMNode{Kind: kind, HTTPURL: httpURL, WSURL: wsURL, ChainID: chainID, t: t,
		client: &http.Client{Timeout: 30 * time.Second}}
	return n
}

// Call makes one JSON-RPC call and decodes its result into result (may be nil).
func (n *EVMNode) Call(result any, method string, params ...any) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": n.id.Add(1), "method": method, "params": params})
	if err != nil {
		return err
	}
	resp, err := n.client.Post(n.HTTPURL, "application/json", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fmt.Errorf("%s: http %d: %w", method, resp.StatusCode, err)
	}
	if r.Error != nil {
		return fmt.Errorf("%s: rpc error %d: %s", method, r.Error.Code, r.Error.Message)
	}
	if result != nil {
		if err := json.Unmarshal(r.Result, result); err != nil {
			return fmt.Errorf("%s: decode %s: %w", method, r.Result, err)
		}
	}
	return nil
}

// MustCall is Call that fails the test.
func (n *EVMNode) MustCall(result any, method string, params ...any) {
	n.t.Helper()
	if err := n.Call(result, method, params...); err != nil {
		n.t.Fatalf("testnode %s: %v", n.Kind, err)
	}
}

// Accounts returns the node's unlocked accounts; the first is funded and is
// the sender of SendETH, DeployToken and TransferToken.
func (n *EVMNode) Accounts() []string {
	n.t.Helper()
	var accts []string
	n.MustCall(&accts, "eth_accounts")
	if len(accts) == 0 {
		n.t.Fatalf("testnode %s: no unlocked accounts", n.Kind)
	}
	return accts
}

// BlockNumber returns the node's best height.
func (n *EVMNode) BlockNumber() uint64 {
	n.t.Helper()
	var h string
	n.MustCall(&h, "eth_blockNumber")
	return parseHexUint(n.t, h)
}

// BlockHash returns the hash of the best chain's block at height h.
func (n *EVMNode) BlockHash(h uint64) string {
	n.t.Helper()
	var b struct {
		Hash string `json:"hash"`
	}
	n.MustCall(&b, "eth_getBlockByNumber", fmt.Sprintf("0x%x", h), false)
	return b.Hash
}

// Receipt is the part of a transaction receipt tests look at.
type Receipt struct {
	Status          string `json:"status"`
	BlockNumber     string `json:"blockNumber"`
	BlockHash       string `json:"blockHash"`
	ContractAddress string `json:"contractAddress"`
}

// Height returns the receipt's block number.
func (r Receipt) Height() uint64 {
	v, _ := new(big.Int).SetString(strings.TrimPrefix(r.BlockNumber, "0x"), 16)
	if v == nil {
		return 0
	}
	return v.Uint64()
}

// WaitReceipt waits until tx is mined and returns its receipt.
func (n *EVMNode) WaitReceipt(tx string) Receipt {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var r *Receipt
		err := n.Call(&r, "eth_getTransactionReceipt", tx)
		if err != nil && !strings.Contains(err.Error(), "indexing is in progress") { // geth just after start
			n.t.Fatalf("testnode %s: %v", n.Kind, err)
		}
		if err == nil && r != nil && r.BlockHash != "" {
			return *r
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("testnode %s: tx %s not mined after 30s", n.Kind, tx)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SendTx sends tx (eth_sendTransaction fields; "from" defaults to the first
// account), waits until it is mined and returns its hash.
func (n *EVMNode) SendTx(tx map[string]any) string {
	n.t.Helper()
	if n.from == "" {
		n.from = n.Accounts()[0]
	}
	if _, ok := tx["from"]; !ok {
		tx["from"] = n.from
	}
	var hash string
	n.MustCall(&hash, "eth_sendTransaction", tx)
	n.WaitReceipt(hash)
	return hash
}

// SendETH sends wei from the first account to to and returns the mined tx hash.
func (n *EVMNode) SendETH(to string, wei *big.Int) string {
	n.t.Helper()
	return n.SendTx(map[string]any{"to": to, "value": hexBig(wei)})
}

// DeployToken deploys the test ERC-20 with the given decimals, mints 10^12
// whole tokens to the first account and returns the contract address.
func (n *EVMNode) DeployToken(decimals uint8) string {
	n.t.Helper()
	data := hex.EncodeToString(TokenBytecode()) + word(new(big.Int).SetUint64(uint64(decimals)))
	hash := n.SendTx(map[string]any{"data": "0x" + data, "gas": "0x200000"})
	r := n.WaitReceipt(hash)
	if r.Status != "0x1" || r.ContractAddress == "" {
		n.t.Fatalf("testnode %s: token deploy failed: %+v", n.Kind, r)
	}
	supply := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)+12), nil)
	n.callToken(r.ContractAddress, selMint, n.Accounts()[0], supply, "")
	return r.ContractAddress
}

// DeployForwarder deploys a contract that forwards any ETH sent to it to to
// with an internal CALL (what an exchange or multisig payout looks like), and
// returns its address. Hand-written bytecode, no compiler:
// CALL(gas, to, callvalue, 0, 0, 0, 0); STOP.
func (n *EVMNode) DeployForwarder(to string) string {
	n.t.Helper()
	a := fmt.Sprintf("%040x", addrBig(n.t, to))
	runtime := "6000600060006000" + "34" + "73" + a + "5a" + "f1" + "00" // 33 bytes
	initCode := "6021" + "80" + "600b" + "6000" + "39" + "6000" + "f3"   // copy 33 bytes from offset 11, return them
	hash := n.SendTx(map[string]any{"data": "0x" + initCode + runtime, "gas": "0x100000"})
	r := n.WaitReceipt(hash)
	if r.Status != "0x1" || r.ContractAddress == "" {
		n.t.Fatalf("testnode %s: forwarder deploy failed: %+v", n.Kind, r)
	}
	return r.ContractAddress
}

// MintToken mints units of contract to to and returns the mined tx hash.
func (n *EVMNode) MintToken(contract, to string, units *big.Int) string {
	n.t.Helper()
	return n.callToken(contract, selMint, to, units, "")
}

// TransferToken transfers units of contract from the first account to to and
// returns the mined tx hash.
func (n *EVMNode) TransferToken(contract, to string, units *big.Int) string {
	n.t.Helper()
	return n.callToken(contract, selTransfer, to, units, "")
}

// SendFailingTx sends a token transfer of more than the sender holds, with a
// manual gas limit so that it is mined and reverts (receipt status 0). from
// must be an unlocked account holding none of contract's tokens (e.g.
// Accounts()[1] on anvil, or any account after spending). It returns the hash.
func (n *EVMNode) SendFailingTx(contract, from, to string, units *big.Int) string {
	n.t.Helper()
	hash := n.callToken(contract, selTransfer, to, units, from)
	if r := n.WaitReceipt(hash); r.Status != "0x0" {
		n.t.Fatalf("testnode %s: tx %s was meant to fail but has status %s", n.Kind, hash, r.Status)
	}
	return hash
}

func (n *EVMNode) callToken(contract, sel, to string, units *big.Int, from string) string {
	n.t.Helper()
	tx := map[string]any{
		"to":   contract,
		"data": "0x" + sel + word(addrBig(n.t, to)) + word(units),
		"gas":  "0x30000",
	}
	if from != "" {
		tx["from"] = from
	}
	hash := n.SendTx(tx)
	if from == "" {
		if r := n.WaitReceipt(hash); r.Status != "0x1" {
			n.t.Fatalf("testnode %s: token call %s on %s failed: %+v", n.Kind, sel, contract, r)
		}
	}
	return hash
}

// Mine mines n empty blocks.
func (n *EVMNode) Mine(blocks int) {
	n.t.Helper()
	n.mine(blocks)
}

// Reorg replaces the last depth blocks with a different branch of at least the
// same length (anvil: same height, the transactions in them dropped; geth:
// debug_setHead then new blocks, dropped transactions may be re-mined).
func (n *EVMNode) Reorg(depth int) {
	n.t.Helper()
	n.reorg(depth)
}

// waitHeight waits until the node's best height is at least h.
func (n *EVMNode) waitHeight(h uint64) {
	n.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for n.BlockNumber() < h {
		if time.Now().After(deadline) {
			n.t.Fatalf("testnode %s: height %d not reached after 30s", n.Kind, h)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func hexBig(v *big.Int) string { return "0x" + v.Text(16) }

func word(v *big.Int) string { return fmt.Sprintf("%064x", v) }

func addrBig(t TB, a string) *big.Int {
	v, ok := new(big.Int).SetString(strings.TrimPrefix(strings.ToLower(a), "0x"), 16)
	if !ok || len(strings.TrimPrefix(a, "0x")) != 40 {
		t.Fatalf("testnode: bad address %q", a)
	}
	return v
}

func parseHexUint(t TB, s string) uint64 {
	v, ok := new(big.Int).SetString(strings.TrimPrefix(s, "0x"), 16)
	if !ok || !v.IsUint64() {
		t.Fatalf("testnode: bad hex quantity %q", s)
	}
	return v.Uint64()
}

// Snapshot takes an anvil snapshot of the chain (evm_snapshot) and returns
// its id for Revert.
func (n *EVMNode) Snapshot() string {
	n.t.Helper()
	var id string
	n.MustCall(&id, "evm_snapshot")
	return id
}

// Revert rewinds the chain to a Snapshot (evm_revert): the blocks after it
// leave the chain and their transactions are gone from the node.
func (n *EVMNode) Revert(id string) {
	n.t.Helper()
	var ok bool
	n.MustCall(&ok, "evm_revert", id)
	if !ok {
		n.t.Fatalf("testnode %s: evm_revert %s refused", n.Kind, id)
	}
}

// SetAutomine turns anvil's mining of a block per transaction on or off.
func (n *EVMNode) SetAutomine(on bool) {
	n.t.Helper()
	n.MustCall(nil, "evm_setAutomine", on)
}

// RawTx returns the signed bytes of a known transaction (0x hex).
func (n *EVMNode) RawTx(hash string) string {
	n.t.Helper()
	var raw string
	n.MustCall(&raw, "eth_getRawTransactionByHash", hash)
	if raw == "" || raw == "0x" {
		n.t.Fatalf("testnode %s: no raw transaction %s", n.Kind, hash)
	}
	return raw
}

// SendRaw broadcasts signed transaction bytes and returns the hash.
func (n *EVMNode) SendRaw(raw string) string {
	n.t.Helper()
	var hash string
	n.MustCall(&hash, "eth_sendRawTransaction", raw)
	return hash
}

// Pending reports whether the node holds the transaction unmined in its pool.
func (n *EVMNode) Pending(hash string) bool {
	n.t.Helper()
	var tx *struct {
		BlockHash *string `json:"blockHash"`
	}
	n.MustCall(&tx, "eth_getTransactionByHash", hash)
	return tx != nil && tx.BlockHash == nil
}
