package store

import (
	"context"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/payd/payd/invoice"
	"github.com/payd/payd/refund"
)

// TestSweepTransfersRoundTrip stores an EVM sweep with its transfers and
// reads it back the same, through the queries the watcher uses.
func TestSweepTransfersRoundTrip(t *testing.T) {
	db := openTest(t, Options{})
	ctx := context.Background()
	now := time.Unix(1_800_000_000, 0).UTC()
	eth := invoice.Asset{Code: "ETH", Decimals: 18}
	r := &refund.Refund{ID: "sw_0000000000000000000000000001", Kind: refund.KindSweep, Invoices: []string{"inv_a"}, Method: "ethereum/eth",
		Chain: "ethereum", ChainKind: invoice.KindEVM, ChainID: 1, Asset: eth, Amount: big.NewInt(5), Sent: big.NewInt(5), Fee: new(big.Int),
		Currency: eth, Requested: big.NewInt(5), Status: refund.StatusReady, Address: "0x00000000000000000000000000000000000000c0",
		CreatedAt: now, UpdatedAt: now, Sequence: 1, Transfers: []refund.Transfer{
			{InvoiceID: "inv_a", Asset: invoice.Asset{Code: "USDC", Decimals: 6}, Token: "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", Amount: big.NewInt(12_000_000),
				Tx: refund.EVMTx{ChainID: 1, From: "0x00000000000000000000000000000000000000a1", Nonce: 0, Gas: 60000, Value: "0", Data: "0xa9059cbb"}},
			{InvoiceID: "inv_a", Asset: eth, Amount: big.NewInt(5), TxID: "0x1", BlockHeight: 7, BlockHash: "0xh7",
				Tx: refund.EVMTx{ChainID: 1, From: "0x00000000000000000000000000000000000000a1", Nonce: 1, Gas: 21000, Value: "5", Data: "0x"}},
		}}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.SaveRefund(ctx, r) }); err != nil {
		t.Fatal(err)
	}
	got, err := db.Refund(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Transfers, r.Transfers) {
		t.Fatalf("transfers:\n got %+v\nwant %+v", got.Transfers, r.Transfers)
	}
	open, err := db.OpenSweeps(ctx, "ethereum")
	if err != nil || len(open) != 1 || open[0].ID != r.ID {
		t.Fatalf("open sweeps: %v %+v", err, open)
	}
	if none, err := db.OpenSweeps(ctx, "bitcoin"); err != nil || len(none) != 0 {
		t.Fatalf("open sweeps of another chain: %v %+v", err, none)
	}
}
