package e2e

import (
	"context"
	"encoding/hex"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"

	"github.com/payd/payd/client"
	"github.com/payd/payd/derive"
	"github.com/payd/payd/internal/testnode"
	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
)

// signEVM signs the unsigned transaction payd gave with the deposit
// address's key (the test holds the seed) and sends it to anvil.
func signEVM(t *testing.T, w *wallet, stack *testnode.Stack, tx *refund.EVMTx) string {
	t.Helper()
	d, err := derive.ParseEVM(w.evm)
	if err != nil {
		t.Fatal(err)
	}
	idx := -1
	for i := range uint32(50) {
		if a, _, _ := d.Address(i); a == tx.From {
			idx = int(i)
			break
		}
	}
	if idx < 0 {
		t.Fatalf("from %s is not one of the wallet's first addresses", tx.From)
	}
	key, err := crypto.ToECDSA(w.evmPriv(t, uint32(idx)).Serialize())
	if err != nil {
		t.Fatal(err)
	}
	if got := crypto.PubkeyToAddress(key.PublicKey).Hex(); got != tx.From {
		t.Fatalf("key of index %d is %s, not %s", idx, got, tx.From)
	}
	num := func(s string) *big.Int {
		v, ok := new(big.Int).SetString(s, 10)
		if !ok {
			t.Fatalf("not a decimal: %q", s)
		}
		return v
	}
	data, err := hex.DecodeString(strings.TrimPrefix(tx.Data, "0x"))
	if err != nil {
		t.Fatal(err)
	}
	to := common.HexToAddress(tx.To)
	chainID := new(big.Int).SetUint64(tx.ChainID)
	signed, err := types.SignTx(types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: tx.Nonce, GasTipCap: num(tx.MaxPriorityFeePerGas),
		GasFeeCap: num(tx.MaxFeePerGas), Gas: tx.Gas, To: &to, Value: num(tx.Value), Data: data}), types.LatestSignerForChainID(chainID), key)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := signed.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return stack.EVM.SendRaw("0x" + hex.EncodeToString(raw))
}

// TestEVMRefunds refunds an ETH and a USDC invoice on anvil: payd gives the
// unsigned transaction from the deposit address, the test signs it with
// that address's key and sends it, payd sees the transfer and completes
// the refund. The token refund's deposit address first gets gas.
func TestEVMRefunds(t *testing.T) {
	stack := testnode.StartStack(t)
	w := newWallet(t)
	rc := newHookReceiver(t)
	e := newEnv(t, stack, testnode.PaydOptions{BTCKey: w.btc, EVMKey: w.evm, ExtraYAML: rc.yaml()})
	ctx := context.Background()
	shopper := stack.EVM.Accounts()[1]

	t.Run("ETH", func(t *testing.T) {
		v := e.create(client.CreateInvoiceRequest{Amount: "0.01", Currency: "ETH", Methods: []string{"ethereum/eth"}})
		stack.EVM.SendETH(method(t, v, "ethereum/eth").Address, big.NewInt(1e16))
		stack.EVM.Mine(1)
		e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
		_, err := e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.004", Address: "0x" + strings.Repeat("Ab", 20)}, "")
		wantCode(t, err, 400, "invalid_field") // bad EIP-55 checksum
		rf, err := e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "0.004", Address: strings.ToLower(shopper)}, "")
		if err != nil {
			t.Fatalf("create: %v\n%s", err, e.payd.Tail(20))
		}
		tx := rf.Transaction
		if rf.Status != refund.StatusReady || tx == nil || tx.From != method(t, v, "ethereum/eth").Address || tx.Value != "4000000000000000" ||
			tx.ChainID != stack.EVM.ChainID || tx.Gas != 21000 || !strings.HasPrefix(tx.URI, "ethereum:") {
			t.Fatalf("refund: %+v tx %+v", rf, tx)
		}
		signEVM(t, w, stack, tx)
		stack.EVM.Mine(1)
		e.waitRefund(rf.ID, refund.StatusCompleted, 20*time.Second)
	})

	t.Run("USDC", func(t *testing.T) {
		v := e.create(client.CreateInvoiceRequest{Amount: "12.00", Currency: "USD", Methods: []string{"ethereum/usdc"}})
		dep := method(t, v, "ethereum/usdc").Address
		stack.EVM.TransferToken(stack.USDC, dep, big.NewInt(12_000_000))
		stack.EVM.Mine(1)
		e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
		// The deposit address needs gas to send a token (docs/refunds.md).
		stack.EVM.MustCall(nil, "anvil_setBalance", dep, "0xde0b6b3a7640000")
		rf, err := e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "5.00", Currency: "USD", Address: shopper, Reason: "partial"}, "")
		if err != nil {
			t.Fatalf("create: %v\n%s", err, e.payd.Tail(20))
		}
		tx := rf.Transaction
		if rf.Amount != "5" || tx == nil || !strings.EqualFold(tx.To, stack.USDC) || !strings.HasPrefix(tx.Data, "0xa9059cbb") || tx.Value != "0" {
			t.Fatalf("refund: %+v tx %+v", rf, tx)
		}
		signEVM(t, w, stack, tx)
		stack.EVM.Mine(1)
		e.waitRefund(rf.ID, refund.StatusCompleted, 20*time.Second)
		_, err = e.c.CreateRefund(ctx, v.ID, client.RefundRequest{Amount: "7.000001", Currency: "USDC", Address: shopper}, "")
		wantCode(t, err, 422, "invalid_amount")
	})
	waitDelivered(t, rc, e.eventIDs(refund.EventCreated, refund.EventCompleted), 20*time.Second)
}

// evmBalance asks anvil for an address's wei (token "") or token units.
func evmBalance(t *testing.T, stack *testnode.Stack, token, addr string) *big.Int {
	t.Helper()
	var s string
	if token == "" {
		stack.EVM.MustCall(&s, "eth_getBalance", addr, "latest")
	} else {
		stack.EVM.MustCall(&s, "eth_call", map[string]string{"to": token, "data": "0x70a08231" + strings.Repeat("0", 24) + strings.ToLower(addr[2:])}, "latest")
	}
	v, ok := new(big.Int).SetString(strings.TrimPrefix(s, "0x"), 16)
	if !ok {
		t.Fatalf("balance %q", s)
	}
	return v
}

// TestEVMSweep pays two ETH invoices and a USDC one on anvil, sweeps them
// to a cold address: payd lists one unsigned transaction per deposit
// address and asset (the USDC address, given gas first, gets a token
// transfer and then a native one), the test signs each with the deposit
// key and sends it, anvil mines them, and the sweep completes with its
// webhook. The cold address holds everything less gas; nothing is left to
// sweep.
func TestEVMSweep(t *testing.T) {
	stack := testnode.StartStack(t)
	w := newWallet(t)
	rc := newHookReceiver(t)
	e := newEnv(t, stack, testnode.PaydOptions{BTCKey: w.btc, EVMKey: w.evm, ExtraYAML: rc.yaml()})
	ctx := context.Background()
	cold := stack.EVM.Accounts()[2]

	eth1 := e.create(client.CreateInvoiceRequest{Amount: "0.01", Currency: "ETH", Methods: []string{"ethereum/eth"}})
	eth2 := e.create(client.CreateInvoiceRequest{Amount: "0.02", Currency: "ETH", Methods: []string{"ethereum/eth"}})
	usd := e.create(client.CreateInvoiceRequest{Amount: "12.00", Currency: "USD", Methods: []string{"ethereum/usdc"}})
	unpaid := e.create(client.CreateInvoiceRequest{Amount: "0.01", Currency: "ETH", Methods: []string{"ethereum/eth"}})
	stack.EVM.SendETH(method(t, eth1, "ethereum/eth").Address, big.NewInt(1e16))
	stack.EVM.SendETH(method(t, eth2, "ethereum/eth").Address, big.NewInt(2e16))
	usdDep := method(t, usd, "ethereum/usdc").Address
	stack.EVM.TransferToken(stack.USDC, usdDep, big.NewInt(12_000_000))
	stack.EVM.Mine(1)
	for _, v := range []*invoice.View{eth1, eth2, usd} {
		e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
	}

	t.Run("bad requests are refused", func(t *testing.T) {
		_, err := e.c.CreateSweep(ctx, client.SweepRequest{Chain: "ethereum", ToAddress: method(t, unpaid, "ethereum/eth").Address}, "")
		wantCode(t, err, 400, "invalid_field") // one of payd's own deposit addresses
		_, err = e.c.CreateSweep(ctx, client.SweepRequest{Chain: "ethereum", ToAddress: "0x" + strings.Repeat("Ab", 20)}, "")
		wantCode(t, err, 400, "invalid_field") // EIP-55
		_, err = e.c.CreateSweep(ctx, client.SweepRequest{Chain: "ethereum", ToDescriptor: w.btc}, "")
		wantCode(t, err, 400, "invalid_field")
	})

	// The token transfer needs gas at the deposit address (docs/refunds.md).
	stack.EVM.MustCall(nil, "anvil_setBalance", usdDep, "0x2386f26fc10000") // 0.01 ETH
	coldETH := evmBalance(t, stack, "", cold)
	sw, err := e.c.CreateSweep(ctx, client.SweepRequest{Chain: "ethereum", ToAddress: strings.ToLower(cold), MinConfirmations: ptr(1)}, "sweep-evm")
	if err != nil {
		t.Fatalf("sweep: %v\n%s", err, e.payd.Tail(20))
	}
	if sw.Status != refund.StatusReady || len(sw.Invoices) != 3 || len(sw.Transactions) != 4 || sw.Address == nil || !strings.EqualFold(*sw.Address, cold) {
		t.Fatalf("sweep: %+v", sw)
	}
	want := new(big.Int)
	for _, tr := range sw.Transactions {
		tx := tr.Transaction
		if tx.ChainID != stack.EVM.ChainID || !strings.HasPrefix(tx.URI, "ethereum:") || tr.TxID != nil {
			t.Fatalf("transaction %+v", tr)
		}
		maxFee := units(t, tx.MaxFeePerGas, 0)
		switch {
		case tr.Token != "":
			if tx.From != usdDep || !strings.EqualFold(tx.To, stack.USDC) || tx.Value != "0" || tx.Nonce != 0 || tr.Amount != "12" ||
				!strings.HasPrefix(tx.Data, "0xa9059cbb") {
				t.Fatalf("token transfer %+v", tr)
			}
		default:
			if !strings.EqualFold(tx.To, cold) || tx.Gas != 21000 {
				t.Fatalf("native transfer %+v", tr)
			}
			// exactly gas × max fee of its transactions stays behind
			left := new(big.Int).Sub(evmBalance(t, stack, "", tx.From), units(t, tx.Value, 0))
			gas := new(big.Int).Mul(big.NewInt(21000), maxFee)
			if tx.From == usdDep {
				if tx.Nonce != 1 {
					t.Fatalf("the native transfer after the token one has nonce %d", tx.Nonce)
				}
				for _, o := range sw.Transactions {
					if o.Token != "" {
						gas.Add(gas, new(big.Int).Mul(new(big.Int).SetUint64(o.Transaction.Gas), maxFee))
					}
				}
			}
			if left.Cmp(gas) != 0 {
				t.Fatalf("native sweep of %s leaves %s wei, want gas × max fee %s", tx.From, left, gas)
			}
			want.Add(want, units(t, tx.Value, 0))
		}
	}
	if again, err := e.c.CreateSweep(ctx, client.SweepRequest{Chain: "ethereum", ToAddress: cold}, ""); err == nil {
		t.Fatalf("a second sweep while the first is open: %+v", again)
	}
	for _, tr := range sw.Transactions {
		signEVM(t, w, stack, &tr.Transaction)
	}
	stack.EVM.Mine(1)
	done := e.waitRefund(sw.ID, refund.StatusCompleted, 20*time.Second)
	for _, tr := range done.Transactions {
		if tr.TxID == nil || tr.BlockHeight == nil {
			t.Fatalf("completed sweep transfer without its transaction: %+v", tr)
		}
	}
	waitDelivered(t, rc, e.eventIDs(refund.EventSweepCompleted), 20*time.Second)
	if got := new(big.Int).Sub(evmBalance(t, stack, "", cold), coldETH); got.Cmp(want) != 0 {
		t.Errorf("cold address got %s wei, the sweep listed %s", got, want)
	}
	if got := evmBalance(t, stack, stack.USDC, cold); got.Cmp(big.NewInt(12_000_000)) != 0 {
		t.Errorf("cold address holds %s USDC units", got)
	}
	// What is left: the unused part of each transaction's gas × max fee.
	// Only the token address's (its gas estimate has 20 % headroom) pays
	// for another native transfer; no token is left anywhere.
	rest, err := e.c.CreateSweep(ctx, client.SweepRequest{Chain: "ethereum", ToAddress: cold}, "")
	if err != nil {
		t.Fatalf("second sweep: %v", err)
	}
	for _, tr := range rest.Transactions {
		if tr.Token != "" || tr.Transaction.From != usdDep {
			t.Errorf("second sweep moves %+v", tr)
		}
	}
	if _, err := e.c.CancelRefund(ctx, rest.ID); err != nil {
		t.Fatal(err)
	}
}

// TestEVMSweepReorg mines an EVM sweep's transaction, reorgs its block away
// on anvil (the transaction is dropped) and checks the sweep forgets the
// block and does not complete; sent and mined again, it completes.
func TestEVMSweepReorg(t *testing.T) {
	stack := testnode.StartStack(t)
	w := newWallet(t)
	e := newEnv(t, stack, testnode.PaydOptions{BTCKey: w.btc, EVMKey: w.evm, EVMConfirmations: 3})
	ctx := context.Background()
	cold := stack.EVM.Accounts()[2]
	v := e.create(client.CreateInvoiceRequest{Amount: "0.01", Currency: "ETH", Methods: []string{"ethereum/eth"}})
	stack.EVM.SendETH(method(t, v, "ethereum/eth").Address, big.NewInt(1e16))
	stack.EVM.Mine(2) // anvil mines each transaction at once: 3 confirmations
	e.wait(v.ID, invoice.StatusSettled, "", 20*time.Second)
	sw, err := e.c.CreateSweep(ctx, client.SweepRequest{Chain: "ethereum", ToAddress: cold}, "")
	if err != nil || len(sw.Transactions) != 1 {
		t.Fatalf("sweep: %v %+v", err, sw)
	}
	tx := sw.Transactions[0].Transaction
	signEVM(t, w, stack, &tx) // mined at once: 1 of 3 confirmations
	waitTransfer := func(mined bool) *refund.View {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := e.c.GetRefund(ctx, sw.ID)
			if err == nil && got.Status == refund.StatusBroadcast && (got.Transactions[0].BlockHeight != nil) == mined && (got.BlockHeight != nil) == mined {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("sweep not broadcast with mined=%v: %v %+v\n%s", mined, err, got, e.payd.Tail(20))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitTransfer(true)
	stack.EVM.Reorg(1)
	waitTransfer(false)
	stack.EVM.Mine(3) // without the transaction, nothing completes
	if got := waitTransfer(false); got.Status != refund.StatusBroadcast {
		t.Fatalf("after the reorg: %+v", got)
	}
	signEVM(t, w, stack, &tx) // the same signed transaction again
	stack.EVM.Mine(2)
	done := e.waitRefund(sw.ID, refund.StatusCompleted, 20*time.Second)
	if done.Transactions[0].TxID == nil || done.Confirmations < 3 {
		t.Fatalf("completed: %+v", done)
	}
}
