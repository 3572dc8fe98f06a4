package testnode

import (
	"testing"
)

func TestBtcdHarness(t *testing.T) {
	b := StartBtcd(t)
	if h := b.Height(); h != 111 {
		t.Fatalf("height after funding = %d, want 111", h)
	}
	kinds := []string{"p2pkh", "p2sh", "p2wpkh", "p2tr"}
	var txids []string
	for i := 0; i < 12; i++ {
		addr := MustRegtestAddress(t, kinds[i%len(kinds)])
		txids = append(txids, b.Pay(addr, 10_000+int64(i), false))
	}
	for _, id := range txids {
		if !b.InMempool(id) {
			t.Fatalf("%s not in mempool", id)
		}
	}

	// BIP125 replacement.
	a := b.Pay(MustRegtestAddress(t, "p2wpkh"), 50_000, true)
	r := b.Replace(a, MustRegtestAddress(t, "p2wpkh"))
	if b.InMempool(a) || !b.InMempool(r) {
		t.Fatalf("after Replace: original in mempool=%v, replacement in mempool=%v", b.InMempool(a), b.InMempool(r))
	}
	hashes := b.Generate(1)
	if len(b.Mempool()) != 0 {
		t.Fatalf("mempool not empty after mining: %v", b.Mempool())
	}
	if b.BestHash() != hashes[0] {
		t.Fatalf("best hash %s, want %s", b.BestHash(), hashes[0])
	}

	// Reorg: the mined transactions come back to the mempool.
	b.InvalidateBlock(hashes[0])
	if !b.InMempool(r) {
		t.Fatalf("replacement %s not back in mempool after invalidateblock", r)
	}
	newHashes := b.Generate(2)
	if newHashes[0] == hashes[0] {
		t.Fatalf("competing branch reused the invalidated block hash")
	}
	// Many payments keep working after the reorg (stale outputs are dropped).
	for i := 0; i < 60; i++ {
		b.Pay(MustRegtestAddress(t, "p2pkh"), 1000+int64(i), i%3 == 0)
	}
	b.Generate(1)
	if raw, err := b.RPC("getblockchaininfo"); err != nil || len(raw) == 0 {
		t.Fatalf("getblockchaininfo: %v", err)
	}
}
