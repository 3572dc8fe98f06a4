package refund

import (
	"math/big"
	"testing"
	"time"
)

const usdcToken = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"

func evmSweep() *Refund {
	return &Refund{Kind: KindSweep, Status: StatusReady, ConfirmationsRequired: 2, Sequence: 1, Transfers: []Transfer{
		{InvoiceID: "inv_a", Amount: big.NewInt(1000)},
		{InvoiceID: "inv_b", Amount: big.NewInt(1000)},
		{InvoiceID: "inv_c", Token: usdcToken, Amount: big.NewInt(12_000_000)},
	}}
}

type seen struct {
	token  string
	amount int64
	txid   string
	height uint64
	hash   string
}

// TestSeenTransfer is the matching of transfers to an EVM sweep's list.
func TestSeenTransfer(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name    string
		seen    []seen
		changed []bool
		status  Status
		mined   uint64 // the sweep's block height ("" hash when 0)
		done    bool   // Count at mined+1 completes it
	}{
		{"one native transfer: broadcast, not mined as a whole", []seen{{"", 1000, "0x1", 10, "h10"}}, []bool{true}, StatusBroadcast, 0, false},
		{"less than listed matches nothing", []seen{{"", 999, "0x1", 10, "h10"}}, []bool{false}, StatusReady, 0, false},
		{"another token matches nothing", []seen{{"0x00000000000000000000000000000000000000aa", 12_000_000, "0x1", 10, "h10"}}, []bool{false}, StatusReady, 0, false},
		{"token contract case does not matter; all mined: latest block", []seen{
			{"", 1000, "0x1", 10, "h10"}, {"", 1000, "0x2", 11, "h11"}, {"0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48", 12_000_000, "0x3", 10, "h10"}},
			[]bool{true, true, true}, StatusBroadcast, 11, true},
		{"the same transfer twice counts once", []seen{{"", 1000, "0x1", 10, "h10"}, {"", 1000, "0x1", 10, "h10"}, {"", 1000, "0x2", 10, "h10"}},
			[]bool{true, false, true}, StatusBroadcast, 0, false},
		{"mempool then mined: the block is recorded", []seen{{"", 1000, "0x1", 0, ""}, {"", 1000, "0x1", 12, "h12"}}, []bool{true, true}, StatusBroadcast, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := evmSweep()
			for i, s := range tc.seen {
				if got := SeenTransfer(r, s.token, big.NewInt(s.amount), s.txid, s.height, s.hash, now); got != tc.changed[i] {
					t.Fatalf("seen %d: changed %v, want %v", i, got, tc.changed[i])
				}
			}
			if r.Status != tc.status || r.BlockHeight != tc.mined || (tc.mined == 0) != (r.BlockHash == "") {
				t.Fatalf("status %s block %d %q, want %s %d", r.Status, r.BlockHeight, r.BlockHash, tc.status, tc.mined)
			}
			if got := Count(r, tc.mined+1, now); got != tc.done {
				t.Fatalf("Count at %d: %v, want %v", tc.mined+1, got, tc.done)
			}
		})
	}
}

func TestUnmineTransfers(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	r := evmSweep()
	SeenTransfer(r, "", big.NewInt(1000), "0x1", 10, "h10", now)
	SeenTransfer(r, "", big.NewInt(1000), "0x2", 11, "h11", now)
	SeenTransfer(r, usdcToken, big.NewInt(12_000_000), "0x3", 11, "h11", now)
	if r.BlockHash != "h11" {
		t.Fatalf("all mined: block %q", r.BlockHash)
	}
	if UnmineTransfers(r, "h9", now) {
		t.Fatal("a block holding none of its transfers changed the sweep")
	}
	if !UnmineTransfers(r, "h10", now) || r.BlockHash != "" || r.Transfers[0].BlockHash != "" || r.Transfers[0].TxID != "0x1" {
		t.Fatalf("after the reorg of h10: %+v", r)
	}
	if Count(r, 20, now) {
		t.Fatal("completed with a transfer unmined")
	}
	if !SeenTransfer(r, "", big.NewInt(1000), "0x1", 12, "h12", now) || r.BlockHash != "h12" || r.BlockHeight != 12 {
		t.Fatalf("mined again: %+v", r)
	}
	if !Count(r, 13, now) || r.Status != StatusCompleted {
		t.Fatalf("not completed: %+v", r)
	}
}
