package bitcointest

import (
	"bytes"
	"testing"

	"github.com/btcsuite/btcd/wire"
)

func TestBlockShape(t *testing.T) {
	blk := Block(4000, 1)
	raw := Serialize(blk)
	if n := len(raw); n < 1_400_000 || n > 1_800_000 {
		t.Fatalf("4,000-tx block is %d bytes, want about 1.6 MB", n)
	}
	if !bytes.Equal(raw, Serialize(Block(4000, 1))) {
		t.Fatal("Block is not deterministic")
	}
	var back wire.MsgBlock
	if err := back.Deserialize(bytes.NewReader(raw)); err != nil || len(back.Transactions) != 4000 {
		t.Fatalf("round trip: %v, %d txs", err, len(back.Transactions))
	}
	kinds := map[byte]int{}
	for _, tx := range blk.Transactions[1:] {
		if len(tx.TxOut) != 2 {
			t.Fatalf("tx with %d outputs", len(tx.TxOut))
		}
		for _, o := range tx.TxOut {
			kinds[o.PkScript[0]]++
		}
	}
	if kinds[0x00] == 0 || kinds[0x51] == 0 || kinds[0x76] == 0 {
		t.Fatalf("output kinds %v, want P2WPKH, P2TR and P2PKH", kinds)
	}
	body := GetBlockResponse(raw)
	if !bytes.HasPrefix(body, []byte(`{"result":"`)) || !bytes.HasSuffix(body, []byte(`","error":null,"id":1}`)) {
		t.Fatalf("response shape: %.40s…", body)
	}
	scripts := Scripts(1000, blk, 10, 2)
	seen := map[string]bool{}
	for _, s := range scripts {
		if seen[string(s)] {
			t.Fatal("duplicate script")
		}
		seen[string(s)] = true
	}
	if len(scripts) != 1000 {
		t.Fatalf("%d scripts", len(scripts))
	}
}
