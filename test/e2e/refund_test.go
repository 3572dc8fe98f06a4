package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/btcutil/psbt"
	"github.com/btcsuite/btcd/wire"

	"github.com/payd/payd/client"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
)

// wallet is the merchant's seed, held by the test so it can sign what payd
// (watch-only) prepares.
type wallet struct {
	*testnode.Wallet
	btc string // the descriptor payd gets: wpkh([fp/84h/1h/0h]tpub…/0/*)
	evm string // the EVM account xpub m/44'/60'/0'
}

func newWallet(t *testing.T) *wallet {
	t.Helper()
	w, err := testnode.NewWallet()
	if err != nil {
		t.Fatal(err)
	}
	return &wallet{Wallet: w, btc: w.BTC, evm: w.EVM}
}

// sign signs every input of p (as Sparrow or walletprocesspsbt would),
// finalizes it and returns the network transaction.
func (w *wallet) sign(t *testing.T, p *psbt.Packet) *wire.MsgTx {
	t.Helper()
	tx, err := w.SignPSBT(p)
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

func (w *wallet) evmPriv(t *testing.T, index uint32) *btcec.PrivateKey {
	t.Helper()
	priv, err := w.EVMPriv(index)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func txHex(t *testing.T, tx *wire.MsgTx) string {
	var b bytes.Buffer
	if err := tx.Serialize(&b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b.Bytes())
}

// jsDecoded is testdata/psbt-decode.js's output.
type jsDecoded struct {
	Inputs []struct {
		TxID         string `json:"txid"`
		Vout         uint32 `json:"vout"`
		WitnessValue int64  `json:"witness_value"`
		NonWitness   bool   `json:"has_non_witness_utxo"`
		Derivations  []jsDer
	} `json:"inputs"`
	Outputs []struct {
		Script      string `json:"script"`
		Value       int64  `json:"value"`
		Derivations []jsDer
	} `json:"outputs"`
}

type jsDer struct {
	Fingerprint string `json:"fingerprint"`
	Path        string `json:"path"`
	PubKey      string `json:"pubkey"`
}

func pathString(p []uint32) string {
	s := "m"
	for _, x := range p {
		if x >= hdkeychain.HardenedKeyStart {
			s += fmt.Sprintf("/%d'", x-hdkeychain.HardenedKeyStart)
		} else {
			s += fmt.Sprintf("/%d", x)
		}
	}
	return s
}

// checkWithBitcoinJS decodes b64 with bitcoinjs-lib (installed into
// $PAYD_CACHE/npm by scripts/install-tools.sh npm) and compares its inputs,
// outputs and derivation paths with btcd's decoding. A missing node or
// library fails the test.
func checkWithBitcoinJS(t *testing.T, b64 string, p *psbt.Packet) {
	t.Helper()
	cache, err := testnode.CacheDir()
	if err != nil {
		t.Fatal(err)
	}
	mods := filepath.Join(cache, "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(mods, "bitcoinjs-lib")); err != nil {
		t.Fatalf("bitcoinjs-lib is not installed in %s: run scripts/install-tools.sh npm (%v)", mods, err)
	}
	cmd := exec.Command("node", "testdata/psbt-decode.js")
	cmd.Env = append(os.Environ(), "NODE_PATH="+mods)
	cmd.Stdin = strings.NewReader(b64)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node psbt-decode.js: %v\n%s", err, stderr.String())
	}
	var js jsDecoded
	if err := json.Unmarshal(out, &js); err != nil {
		t.Fatalf("decode node output: %v: %s", err, out)
	}
	if len(js.Inputs) != len(p.Inputs) || len(js.Outputs) != len(p.Outputs) {
		t.Fatalf("bitcoinjs sees %d inputs / %d outputs, btcd %d / %d", len(js.Inputs), len(js.Outputs), len(p.Inputs), len(p.Outputs))
	}
	der := func(ds []*psbt.Bip32Derivation) []jsDer {
		var out []jsDer
		for _, d := range ds {
			fp := []byte{byte(d.MasterKeyFingerprint), byte(d.MasterKeyFingerprint >> 8), byte(d.MasterKeyFingerprint >> 16), byte(d.MasterKeyFingerprint >> 24)}
			out = append(out, jsDer{Fingerprint: hex.EncodeToString(fp), Path: pathString(d.Bip32Path), PubKey: hex.EncodeToString(d.PubKey)})
		}
		return out
	}
	for i, in := range js.Inputs {
		op := p.UnsignedTx.TxIn[i].PreviousOutPoint
		if in.TxID != op.Hash.String() || in.Vout != op.Index || in.WitnessValue != p.Inputs[i].WitnessUtxo.Value {
			t.Errorf("input %d: bitcoinjs %+v, btcd %s value %d", i, in, op, p.Inputs[i].WitnessUtxo.Value)
		}
		if !slices.Equal(in.Derivations, der(p.Inputs[i].Bip32Derivation)) {
			t.Errorf("input %d derivations: bitcoinjs %+v, btcd %+v", i, in.Derivations, der(p.Inputs[i].Bip32Derivation))
		}
	}
	for i, o := range js.Outputs {
		txo := p.UnsignedTx.TxOut[i]
		if o.Script != hex.EncodeToString(txo.PkScript) || o.Value != txo.Value {
			t.Errorf("output %d: bitcoinjs %+v, btcd %x %d", i, o, txo.PkScript, txo.Value)
		}
		if !slices.Equal(o.Derivations, der(p.Outputs[i].Bip32Derivation)) {
			t.Errorf("output %d derivations: bitcoinjs %+v, btcd %+v", i, o.Derivations, der(p.Outputs[i].Bip32Derivation))
		}
	}
}

// waitRefund polls a refund (or sweep) until it has status.
func (e *env) waitRefund(id string, status refund.Status, timeout time.Duration) *refund.View {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last *refund.View
	for {
		v, err := e.c.GetRefund(context.Background(), id)
		if err == nil {
			last = v
			if v.Status == status {
				return v
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s did not become %s within %s; last: %+v (%v)\nlog:\n%s", id, status, timeout, last, err, e.payd.Tail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// eventIDs returns the ids of the events of the given types, oldest first.
func (e *env) eventIDs(types ...invoice.EventType) []string {
	e.t.Helper()
	var ids []string
	after := ""
	for {
		page, more, err := e.c.ListEvents(context.Background(), after, 200)
		if err != nil {
			e.t.Fatal(err)
		}
		for _, ev := range page {
			if slices.Contains(types, ev.Type) {
				ids = append(ids, ev.ID)
			}
			after = ev.ID
		}
		if !more {
			return ids
		}
	}
}

// waitDelivered waits until the receiver got every id.
func waitDelivered(t *testing.T, rc *hookReceiver, ids []string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		missing, _ := rc.missing(ids)
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("webhooks %v not delivered within %s", missing, timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wantCode(t *testing.T, err error, status int, code string) {
	t.Helper()
	ce, ok := err.(*client.Error)
	if !ok || ce.Status != status || ce.Code != code {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

// TestBitcoinRefundAndSweep pays an invoice on btcd regtest, refunds part
// of it through a PSBT the test signs with the merchant's seed (btcd's psbt
// package), broadcasts it through payd and mines it: the refund completes
// and its webhooks arrive. Bad requests are refused with nothing stored.
// Then three invoices are swept to cold storage the same way. bitcoinjs-lib
// decodes each PSBT independently.
func TestBitcoinRefundAndSweep(t *testing.T) {
	stack := testnode.StartStack(t)
	w := newWallet(t)
	rc := newHookReceiver(t)
	e := newEnv(t, stack, testnode.PaydOptions{BTCKey: w.btc, EVMKey: w.evm, ExtraYAML: rc.yaml()})
	ctx := context.Background()

	v := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
	unpaid := e.create(client.CreateInvoiceRequest{Amount: "0.001", Currency: "BTC", Methods: []string{"bitcoin/btc"}})
	e.payBTC(v, 100_000)
	stack.BTC.Generate(1)
	e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
	to := testnode.MustRegtestAddress(t, "p2wpkh")

	t.Run("bad input is refused and nothing is stored", func(t *testing.T) {
		_, err := e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.0004", Address: "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"}, "")
		wantCode(t, err, 400, "invalid_field") // mainnet address on regtest
		bad := []byte(to)
		bad[len(bad)-1] ^= 1
		_, err = e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.0004", Address: string(bad)}, "")
		wantCode(t, err, 400, "invalid_field") // bad bech32 checksum
		_, err = e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.00100001", Address: to}, "")
		wantCode(t, err, 422, "invalid_amount")
		_, err = e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.000000001", Address: to}, "")
		wantCode(t, err, 400, "invalid_amount")
		_, err = e.c.CreateRefund(ctx, unpaid.ID, client.RefundRequest{Amount: "0.0001", Address: to}, "")
		wantCode(t, err, 409, "conflict")
		_, err = e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.0001", Address: method(t, unpaid, "bitcoin/btc").Address}, "")
		wantCode(t, err, 400, "invalid_field") // one of payd's own deposit addresses
		if rs, err := e.c.InvoiceRefunds(ctx, v.ID); err != nil || len(rs) != 0 {
			t.Fatalf("refunds after bad requests: %v %+v", err, rs)
		}
	})

	var rf *refund.View
	t.Run("refund: PSBT, sign, broadcast, mine, completed", func(t *testing.T) {
		var err error
		rf, err = e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.0004", Address: to, Reason: "returned item", FeeRate: ptr(int64(3))}, "refund-1")
		if err != nil {
			t.Fatalf("create refund: %v\n%s", err, e.payd.Tail(20))
		}
		if rf.Status != refund.StatusReady || rf.Amount != "0.0004" || rf.AmountSent != "0.0004" || rf.Change == nil {
			t.Fatalf("refund: %+v", rf)
		}
		again, err := e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.0004", Address: to, Reason: "returned item", FeeRate: ptr(int64(3))}, "refund-1")
		if err != nil || again.ID != rf.ID {
			t.Fatalf("idempotent repeat: %v %+v", err, again)
		}
		b64, err := e.c.RefundPSBT(ctx, rf.ID)
		if err != nil {
			t.Fatal(err)
		}
		bin, err := e.c.RefundPSBTBinary(ctx, rf.ID)
		if err != nil || base64.StdEncoding.EncodeToString(bin) != b64 {
			t.Fatalf("binary PSBT differs from base64 (%v)", err)
		}
		p, err := refund.Decode([]byte(b64))
		if err != nil {
			t.Fatal(err)
		}
		in := p.Inputs[0]
		want := fmt.Sprintf("m/84'/1'/0'/0/%d", 0)
		if len(p.Inputs) != 1 || in.WitnessUtxo == nil || in.NonWitnessUtxo == nil || pathString(in.Bip32Derivation[0].Bip32Path) != want {
			t.Fatalf("PSBT input: %+v (path want %s)", in, want)
		}
		if pathString(p.Outputs[1].Bip32Derivation[0].Bip32Path) != "m/84'/1'/0'/1/0" {
			t.Fatalf("change derivation: %s", pathString(p.Outputs[1].Bip32Derivation[0].Bip32Path))
		}
		checkWithBitcoinJS(t, b64, p)

		tx := w.sign(t, p)
		// A transaction that pays the address less, or someone else, is refused.
		less := tx.Copy()
		less.TxOut[0].Value--
		_, err = e.c.BroadcastRefund(ctx, rf.ID, txHex(t, less))
		wantCode(t, err, 422, "invalid_transaction")
		other := tx.Copy()
		other.TxOut[0].PkScript = other.TxOut[1].PkScript
		_, err = e.c.BroadcastRefund(ctx, rf.ID, txHex(t, other))
		wantCode(t, err, 422, "invalid_transaction")

		got, err := e.c.BroadcastRefund(ctx, rf.ID, txHex(t, tx))
		if err != nil || got.Status != refund.StatusBroadcast || got.TxID == nil || *got.TxID != tx.TxHash().String() {
			t.Fatalf("broadcast: %v %+v", err, got)
		}
		if !stack.BTC.InMempool(tx.TxHash().String()) {
			t.Fatal("the refund is not in the node's mempool")
		}
		stack.BTC.Generate(1)
		done := e.waitRefund(rf.ID, refund.StatusCompleted, 20*time.Second)
		if done.Confirmations < 1 || done.CompletedAt == nil {
			t.Fatalf("completed: %+v", done)
		}
		waitDelivered(t, rc, e.eventIDs(refund.EventCreated, refund.EventCompleted), 20*time.Second)
		// What is left: 0.0006; the next refund spends this one's change.
		_, err = e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.00060001", Address: to}, "")
		wantCode(t, err, 422, "invalid_amount")
		rest, err := e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.0006", Address: to, FeeRate: ptr(int64(2))}, "")
		if err != nil {
			t.Fatalf("refund the rest: %v", err)
		}
		if len(rest.Inputs) != 1 || rest.Inputs[0].TxID != tx.TxHash().String() || rest.AmountSent >= "0.0006" {
			t.Fatalf("the rest: %+v", rest)
		}
		if _, err := e.c.CancelRefund(ctx, rest.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("CLI: payd refund create, get, psbt", func(t *testing.T) {
		out, err := e.payd.Run("refund", "create", v.ID, "--amount", "0.0001", "--address", to, "--fee-rate", "2")
		if err != nil {
			t.Fatalf("payd refund create: %v\n%s", err, out)
		}
		var cv refund.View
		if err := json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &cv); err != nil || cv.Status != refund.StatusReady {
			t.Fatalf("payd refund create printed %q (%v)", out, err)
		}
		if out, err := e.payd.Run("refund", "get", cv.ID); err != nil || !strings.Contains(out, `"status": "ready"`) {
			t.Fatalf("payd refund get: %v\n%s", err, out)
		}
		out, err = e.payd.Run("refund", "psbt", cv.ID)
		if err != nil {
			t.Fatalf("payd refund psbt: %v\n%s", err, out)
		}
		if _, err := refund.Decode([]byte(strings.TrimSpace(out))); err != nil {
			t.Fatalf("payd refund psbt printed no PSBT: %v\n%s", err, out)
		}
		if _, err := e.c.CancelRefund(ctx, cv.ID); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("sweep of three invoices", func(t *testing.T) {
		var ids []string
		for i := range 3 {
			inv := e.create(client.CreateInvoiceRequest{Amount: fmt.Sprintf("0.00%d", i+2), Currency: "BTC", Methods: []string{"bitcoin/btc"}})
			e.payBTC(inv, int64(i+2)*100_000)
			ids = append(ids, inv.ID)
		}
		stack.BTC.Generate(1)
		for _, id := range ids {
			e.wait(id, invoice.StatusSettled, "", 20*time.Second)
		}
		cold := testnode.MustRegtestAddress(t, "p2wpkh")
		sw, err := e.c.CreateSweep(ctx, client.SweepRequest{Chain: "bitcoin", ToAddress: cold, MinConfirmations: ptr(1), FeeRate: ptr(int64(2))}, "")
		if err != nil {
			t.Fatalf("sweep: %v\n%s", err, e.payd.Tail(20))
		}
		slices.Sort(ids)
		got := slices.Clone(sw.Invoices)
		slices.Sort(got)
		if len(sw.Inputs) != 3 || !slices.Equal(got, ids) || sw.Status != refund.StatusReady {
			t.Fatalf("sweep: %+v (want the 3 invoices %v; the refunded invoice's output is spent)", sw, ids)
		}
		b64, err := e.c.RefundPSBT(ctx, sw.ID)
		if err != nil {
			t.Fatal(err)
		}
		p, err := refund.Decode([]byte(b64))
		if err != nil {
			t.Fatal(err)
		}
		checkWithBitcoinJS(t, b64, p)
		w.sign(t, p)
		signed, err := p.B64Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.c.BroadcastRefund(ctx, sw.ID, signed); err != nil {
			t.Fatalf("broadcast sweep (signed PSBT): %v", err)
		}
		stack.BTC.Generate(1)
		e.waitRefund(sw.ID, refund.StatusCompleted, 20*time.Second)
		waitDelivered(t, rc, e.eventIDs(refund.EventSweepCompleted), 20*time.Second)
		if again, err := e.c.CreateSweep(ctx, client.SweepRequest{Chain: "bitcoin", ToAddress: cold}, ""); err == nil {
			t.Fatalf("a second sweep found outputs again: %+v", again)
		}
	})
}

func ptr[T any](v T) *T { return &v }
