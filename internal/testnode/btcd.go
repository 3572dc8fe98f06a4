package testnode

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/txscript"
	"github.com/btcsuite/btcd/wire"
)

// Btcd is a running btcd --regtest node plus a tiny wallet the test harness
// holds: btcd has no wallet, so the harness mines to its own P2PKH key and
// pays by signing transactions itself.
//
// Replacement (BIP125): btcd v0.26 accepts replacements into its mempool
// unless started with --rejectreplacement (it is not), so Replace builds a
// real fee-bumped double spend of a Pay(…, rbf=true) transaction.
//
// The harness funds itself with P2PKH coinbases and spends only P2PKH
// outputs: segwit is a BIP9 deployment on btcd's regtest and is not active
// at the low heights tests run at, so witness spends would be rejected.
// Paying TO segwit/taproot addresses is fine.
type Btcd struct {
	// RPCURL is the HTTP JSON-RPC endpoint, http://127.0.0.1:P.
	RPCURL string
	// WSURL is the websocket endpoint, ws://127.0.0.1:P/ws.
	WSURL string
	// User and Pass are the RPC credentials.
	User, Pass string
	// P2PAddr is the peer-to-peer listen address.
	P2PAddr string
	// DataDir is the node's data directory.
	DataDir string
	// RPCCert is the PEM file of the RPC server's certificate (TLS only).
	RPCCert string
	// Params are the regtest chain parameters.
	Params *chaincfg.Params

	t      TB
	key    *btcec.PrivateKey
	addr   btcutil.Address // P2PKH of key, the mining address
	script []byte          // its pkScript
	client *http.Client

	id   atomic.Int64
	opts BtcdOptions

	mu    sync.Mutex // guards utxos and sent
	utxos []harnessUTXO
	sent  map[string]sentTx
}

type harnessUTXO struct {
	op  wire.OutPoint
	rbf bool // change of an RBF-signalling tx: only spend once confirmed
}

type sentTx struct {
	in      wire.OutPoint
	inValue int64
	to      []byte
	amount  int64
	fee     int64
}

// Fee is what every harness payment pays (a 1-in 2-out P2PKH tx is ~226 vB,
// btcd's minimum relay fee is 1 sat/vB).
const harnessFee = 2000

// StartBtcd installs (if needed) and starts btcd --regtest on free loopback
// ports, mines 101+ blocks to the harness key and splits a matured coinbase
// into many outputs so tests can make many payments. The node stops at test
// cleanup.
func StartBtcd(t TB) *Btcd { return StartBtcdWith(t, BtcdOptions{}) }

// BtcdOptions tune StartBtcdWith.
type BtcdOptions struct {
	// TLS serves RPC over TLS with a generated certificate (RPCCert) instead
	// of --notls: lnd's btcd backend only connects over TLS.
	TLS bool
	// Blocks is how many blocks to mine before the harness splits its
	// coinbase (default 110). lnd needs segwit active, which btcd's regtest
	// activates by BIP9 signalling at height 432: use 500 for lnd.
	Blocks int
}

// StartBtcdWith is StartBtcd with options.
func StartBtcdWith(t TB, o BtcdOptions) *Btcd {
	t.Helper()
	bin := MustBin(t, "btcd")
	key, err := btcec.NewPrivateKey()
	if err != nil {
		t.Fatalf("testnode: %v", err)
	}
	params := &chaincfg.RegressionNetParams
	addr, err := btcutil.NewAddressPubKeyHash(btcutil.Hash160(key.PubKey().SerializeCompressed()), params)
	if err != nil {
		t.Fatalf("testnode: %v", err)
	}
	script, err := txscript.PayToAddrScript(addr)
	if err != nil {
		t.Fatalf("testnode: %v", err)
	}
	b := &Btcd{
		User:   "payd",
		Pass:   "paydtest",
		Params: params,
		t:      t,
		key:    key,
		addr:   addr,
		script: script,
		client: &http.Client{Timeout: 60 * time.Second},
		sent:   map[string]sentTx{},
		opts:   o,
	}
	// Other tests on this machine pick free ports too: a port taken between
	// FreePort and btcd binding it means a retry on fresh ports.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = b.start(bin, t.TempDir()); lastErr == nil {
			b.fund()
			return b
		}
		t.Logf("testnode: btcd start attempt %d: %v", attempt+1, lastErr)
	}
	t.Fatalf("testnode: btcd did not start: %v", lastErr)
	return nil
}

// start runs one btcd in dir and waits until it answers RPC with our
// credentials; on failure the process is stopped and an error returned.
func (b *Btcd) start(bin, dir string) error {
	rpcPort, err := FreePort()
	if err != nil {
		return err
	}
	p2pPort, err := FreePort()
	if err != nil {
		return err
	}
	b.RPCURL = fmt.Sprintf("http://127.0.0.1:%d", rpcPort)
	b.WSURL = fmt.Sprintf("ws://127.0.0.1:%d/ws", rpcPort)
	tlsArgs := []string{"--notls"}
	b.client.Transport = nil
	if b.opts.TLS {
		b.RPCURL = fmt.Sprintf("https://127.0.0.1:%d", rpcPort)
		b.WSURL = fmt.Sprintf("wss://127.0.0.1:%d/ws", rpcPort)
		b.RPCCert = filepath.Join(dir, "rpc.cert")
		tlsArgs = []string{"--rpccert=" + b.RPCCert, "--rpckey=" + filepath.Join(dir, "rpc.key")}
	}
	b.P2PAddr = fmt.Sprintf("127.0.0.1:%d", p2pPort)
	b.DataDir = filepath.Join(dir, "data")
	conf := filepath.Join(dir, "btcd.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(dir, "btcd.out")
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin,
		append(append([]string{"--regtest"}, tlsArgs...),
			"--rpcuser="+b.User, "--rpcpass="+b.Pass,
			fmt.Sprintf("--rpclisten=127.0.0.1:%d", rpcPort),
			"--listen="+b.P2PAddr,
			"--miningaddr="+b.addr.EncodeAddress(),
			"--txindex", "--nostalldetect",
			"--datadir="+b.DataDir,
			"--logdir="+filepath.Join(dir, "logs"),
			"--configfile="+conf,
		)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("start %s: %w", bin, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); f.Close(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b.opts.TLS && b.client.Transport == nil {
			// btcd writes its certificate at start; trust only it.
			if pem, err := os.ReadFile(b.RPCCert); err == nil && len(pem) > 0 {
				pool := x509.NewCertPool()
				if pool.AppendCertsFromPEM(pem) {
					b.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
				}
			}
		}
		_, err := b.RPC("getblockcount")
		if err == nil {
			break
		}
		select {
		case <-done:
			out, _ := os.ReadFile(logPath)
			return fmt.Errorf("btcd exited: %s", truncate(out))
		default:
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("rpc not answering at %s (log %s): %w", b.RPCURL, logPath, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Cleanup(stop)
	return nil
}

// fund mines 110 blocks (blocks 1..10 mature) and splits the first
// coinbase into 50 confirmed outputs.
func (b *Btcd) fund() {
	b.t.Helper()
	blocks := b.opts.Blocks
	if blocks < 110 {
		blocks = 110
	}
	b.Generate(blocks)
	b.mu.Lock()
	u, value := b.pickLocked(45 * btcutil.SatoshiPerBitcoin)
	if value == 0 {
		b.t.Fatalf("testnode: no matured coinbase after 110 blocks")
	}
	tx := wire.NewMsgTx(2)
	tx.AddTxIn(wire.NewTxIn(&u.op, nil, nil))
	const n = 50
	each := (value - 10*harnessFee) / n
	for i := 0; i < n; i++ {
		tx.AddTxOut(wire.NewTxOut(each, b.script))
	}
	txid := b.signAndSendLocked(tx)
	h, _ := chainhash.NewHashFromStr(txid)
	for i := 0; i < n; i++ {
		b.utxos = append(b.utxos, harnessUTXO{op: wire.OutPoint{Hash: *h, Index: uint32(i)}})
	}
	b.mu.Unlock()
	b.Generate(1)
}

// Address is the harness's own (mining) address.
func (b *Btcd) Address() string { return b.addr.EncodeAddress() }

// RPC calls method with positional params and returns the raw result.
func (b *Btcd) RPC(method string, params ...any) (json.RawMessage, error) {
	id := b.id.Add(1)
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(map[string]any{"jsonrpc": "1.0", "id": id, "method": method, "params": params})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, b.RPCURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(b.User, b.Pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	var r struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("%s: http %d: %q", method, resp.StatusCode, truncate(raw))
	}
	if r.Error != nil {
		return nil, fmt.Errorf("%s: rpc error %d: %s", method, r.Error.Code, r.Error.Message)
	}
	return r.Result, nil
}

func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "…"
	}
	return string(b)
}

// mustRPC is RPC that fails the test, decoding the result into v (if non-nil).
func (b *Btcd) mustRPC(v any, method string, params ...any) {
	b.t.Helper()
	raw, err := b.RPC(method, params...)
	if err != nil {
		b.t.Fatalf("testnode: btcd %v", err)
	}
	if v != nil {
		if err := json.Unmarshal(raw, v); err != nil {
			b.t.Fatalf("testnode: btcd %s: decode %s: %v", method, truncate(raw), err)
		}
	}
}

// Generate mines n blocks and returns their hashes, oldest first. Each
// coinbase pays the harness and joins its spendable outputs once mature.
func (b *Btcd) Generate(n int) []string {
	b.t.Helper()
	var hashes []string
	b.mustRPC(&hashes, "generate", n)
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range hashes {
		var blk struct {
			Tx []string `json:"tx"`
		}
		b.mustRPC(&blk, "getblock", h, 1)
		if len(blk.Tx) == 0 {
			continue
		}
		cb, err := chainhash.NewHashFromStr(blk.Tx[0])
		if err != nil {
			b.t.Fatalf("testnode: %v", err)
		}
		b.utxos = append(b.utxos, harnessUTXO{op: wire.OutPoint{Hash: *cb, Index: 0}})
	}
	return hashes
}

// BestHash returns the node's best block hash.
func (b *Btcd) BestHash() string {
	b.t.Helper()
	var h string
	b.mustRPC(&h, "getbestblockhash")
	return h
}

// Height returns the node's best height.
func (b *Btcd) Height() uint64 {
	b.t.Helper()
	var h uint64
	b.mustRPC(&h, "getblockcount")
	return h
}

// BlockHash returns the best chain's block hash at height h.
func (b *Btcd) BlockHash(h uint64) string {
	b.t.Helper()
	var s string
	b.mustRPC(&s, "getblockhash", h)
	return s
}

// InvalidateBlock marks hash invalid: it and its descendants leave the best
// chain and their transactions return to the mempool.
func (b *Btcd) InvalidateBlock(hash string) {
	b.t.Helper()
	b.mustRPC(nil, "invalidateblock", hash)
}

// ReconsiderBlock undoes InvalidateBlock.
func (b *Btcd) ReconsiderBlock(hash string) {
	b.t.Helper()
	b.mustRPC(nil, "reconsiderblock", hash)
}

// Mempool returns the txids in the node's mempool.
func (b *Btcd) Mempool() []string {
	b.t.Helper()
	var ids []string
	b.mustRPC(&ids, "getrawmempool")
	return ids
}

// InMempool reports whether txid is in the mempool.
func (b *Btcd) InMempool(txid string) bool {
	for _, id := range b.Mempool() {
		if id == txid {
			return true
		}
	}
	return false
}

// pickLocked finds a spendable harness output worth at least min sats,
// removes it from the list and returns it with its value (0 if none).
// Outputs that no longer exist (spent, replaced, reorged away) are dropped.
func (b *Btcd) pickLocked(min int64) (harnessUTXO, int64) {
	b.t.Helper()
	for i := 0; i < len(b.utxos); i++ {
		u := b.utxos[i]
		var out *struct {
			Confirmations int64   `json:"confirmations"`
			Value         float64 `json:"value"`
			Coinbase      bool    `json:"coinbase"`
		}
		b.mustRPC(&out, "gettxout", u.op.Hash.String(), u.op.Index, true)
		if out == nil {
			b.utxos = append(b.utxos[:i], b.utxos[i+1:]...)
			i--
			continue
		}
		if out.Coinbase && out.Confirmations < 100 {
			continue
		}
		if u.rbf && out.Confirmations == 0 {
			continue
		}
		amt, err := btcutil.NewAmount(out.Value)
		if err != nil || int64(amt) < min {
			continue
		}
		b.utxos = append(b.utxos[:i], b.utxos[i+1:]...)
		return u, int64(amt)
	}
	return harnessUTXO{}, 0
}

// signAndSendLocked signs every input of tx (all harness P2PKH outputs) and
// sends it; it returns the txid.
func (b *Btcd) signAndSendLocked(tx *wire.MsgTx) string {
	b.t.Helper()
	for i := range tx.TxIn {
		sig, err := txscript.SignatureScript(tx, i, b.script, txscript.SigHashAll, b.key, true)
		if err != nil {
			b.t.Fatalf("testnode: sign: %v", err)
		}
		tx.TxIn[i].SignatureScript = sig
	}
	var buf bytes.Buffer
	if err := tx.Serialize(&buf); err != nil {
		b.t.Fatalf("testnode: serialize: %v", err)
	}
	var txid string
	raw, err := b.RPC("sendrawtransaction", hex.EncodeToString(buf.Bytes()))
	if err != nil {
		b.t.Fatalf("testnode: btcd %v", err)
	}
	if err := json.Unmarshal(raw, &txid); err != nil {
		b.t.Fatalf("testnode: sendrawtransaction: %v", err)
	}
	if want := tx.TxHash().String(); txid != want {
		b.t.Fatalf("testnode: sendrawtransaction returned %s, want %s", txid, want)
	}
	return txid
}

// Pay sends sats to addr from the harness's funds, change back to itself,
// and returns the txid. With rbf the input signals BIP125 replaceability
// (sequence 0xfffffffd) so Replace can double-spend it.
func (b *Btcd) Pay(addr string, sats int64, rbf bool) string {
	b.t.Helper()
	to := b.decode(addr)
	b.mu.Lock()
	u, value := b.pickLocked(sats + 3*harnessFee + 1000)
	if value == 0 {
		b.mu.Unlock()
		b.Generate(1) // one more coinbase matures
		b.mu.Lock()
		if u, value = b.pickLocked(sats + 3*harnessFee + 1000); value == 0 {
			b.mu.Unlock()
			b.t.Fatalf("testnode: harness has no output worth %d sats", sats)
		}
	}
	defer b.mu.Unlock()
	return b.payLocked(u.op, value, to, sats, harnessFee, rbf)
}

func (b *Btcd) payLocked(in wire.OutPoint, value int64, to []byte, sats, fee int64, rbf bool) string {
	b.t.Helper()
	tx := wire.NewMsgTx(2)
	txin := wire.NewTxIn(&in, nil, nil)
	if rbf {
		txin.Sequence = wire.MaxTxInSequenceNum - 2
	}
	tx.AddTxIn(txin)
	tx.AddTxOut(wire.NewTxOut(sats, to))
	change := value - sats - fee
	if change > 1000 {
		tx.AddTxOut(wire.NewTxOut(change, b.script))
	}
	txid := b.signAndSendLocked(tx)
	if change > 1000 {
		h := tx.TxHash()
		b.utxos = append(b.utxos, harnessUTXO{op: wire.OutPoint{Hash: h, Index: 1}, rbf: rbf})
	}
	b.sent[txid] = sentTx{in: in, inValue: value, to: to, amount: sats, fee: fee}
	return txid
}

// Replace double-spends txid (sent by Pay with rbf=true and still
// unconfirmed) with a transaction paying the same amount to toAddr with a
// higher fee — a BIP125 replacement btcd's mempool accepts in place of the
// original. It returns the replacement's txid; mine a block to confirm it.
func (b *Btcd) Replace(txid, toAddr string) string {
	b.t.Helper()
	to := b.decode(toAddr)
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.sent[txid]
	if !ok {
		b.t.Fatalf("testnode: Replace: %s was not sent by Pay", txid)
	}
	// Remove the original's change from the spendable list: it is about to vanish.
	h, _ := chainhash.NewHashFromStr(txid)
	for i := 0; i < len(b.utxos); i++ {
		if b.utxos[i].op.Hash == *h {
			b.utxos = append(b.utxos[:i], b.utxos[i+1:]...)
			i--
		}
	}
	return b.payLocked(s.in, s.inValue, to, s.amount, s.fee+10*harnessFee, true)
}

func (b *Btcd) decode(addr string) []byte {
	b.t.Helper()
	a, err := btcutil.DecodeAddress(addr, b.Params)
	if err != nil {
		b.t.Fatalf("testnode: decode address %q: %v", addr, err)
	}
	s, err := txscript.PayToAddrScript(a)
	if err != nil {
		b.t.Fatalf("testnode: script for %q: %v", addr, err)
	}
	return s
}

// NewRegtestAddress returns a fresh random regtest address of kind p2pkh,
// p2sh (a 1-of-1 multisig), p2wpkh or p2tr (key-path only), for tests to
// watch. Nobody keeps the key.
func NewRegtestAddress(kind string) (string, error) {
	key, err := btcec.NewPrivateKey()
	if err != nil {
		return "", err
	}
	params := &chaincfg.RegressionNetParams
	pub := key.PubKey().SerializeCompressed()
	var a btcutil.Address
	switch strings.ToLower(kind) {
	case "p2pkh":
		a, err = btcutil.NewAddressPubKeyHash(btcutil.Hash160(pub), params)
	case "p2wpkh":
		a, err = btcutil.NewAddressWitnessPubKeyHash(btcutil.Hash160(pub), params)
	case "p2sh":
		var redeem []byte
		redeem, err = txscript.NewScriptBuilder().AddOp(txscript.OP_1).AddData(pub).
			AddOp(txscript.OP_1).AddOp(txscript.OP_CHECKMULTISIG).Script()
		if err == nil {
			a, err = btcutil.NewAddressScriptHash(redeem, params)
		}
	case "p2tr":
		tweaked := txscript.ComputeTaprootKeyNoScript(key.PubKey())
		a, err = btcutil.NewAddressTaproot(schnorr.SerializePubKey(tweaked), params)
	default:
		return "", fmt.Errorf("testnode: unknown address kind %q", kind)
	}
	if err != nil {
		return "", err
	}
	return a.EncodeAddress(), nil
}

// MustRegtestAddress is NewRegtestAddress that fails the test.
func MustRegtestAddress(t TB, kind string) string {
	t.Helper()
	a, err := NewRegtestAddress(kind)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return a
}
