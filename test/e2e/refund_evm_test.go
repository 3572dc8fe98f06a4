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
