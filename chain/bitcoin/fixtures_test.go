package bitcoin_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/payd/payd/internal/testnode"
)

var updateFixtures = flag.Bool("update-fixtures", false, "regenerate testdata/ from a fresh btcd regtest node")

// fixtureWant describes what a recorded block fixture must scan to.
type fixtureWant struct {
	Hash    string `json:"hash"`
	Parent  string `json:"parent"`
	TxCount int    `json:"tx_count"`
	Address string `json:"address"`
	TxID    string `json:"txid"`
	Vout    uint32 `json:"vout"`
	Amount  int64  `json:"amount"`
	RBF     bool   `json:"rbf"`
}

// TestUpdateFixtures records real btcd replies into testdata/ when run with
// -update-fixtures; otherwise it does nothing.
func TestUpdateFixtures(t *testing.T) {
	if !*updateFixtures {
		return
	}
	node := testnode.StartBtcd(t)
	addr := testnode.MustRegtestAddress(t, "p2wpkh")
	txid := node.Pay(addr, 123_456, true)
	hash := node.Generate(1)[0]
	rbfTx := node.Pay(addr, 7_000, true)

	raw := func(method string, params ...any) []byte {
		res, err := node.RPC(method, params...)
		if err != nil {
			t.Fatal(err)
		}
		// The exact shape btcd sends: {"result":…,"error":null,"id":1}.
		return []byte(`{"result":` + string(res) + `,"error":null,"id":1}`)
	}
	write := func(name string, b []byte) {
		p := filepath.Join("testdata", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("getblock/btcd_regtest.json", raw("getblock", hash, 0))
	write("getblockheader/btcd_regtest.json", raw("getblockheader", hash, false))
	write("getrawtransaction/btcd_rbf.json", raw("getrawtransaction", rbfTx, 0))
	write("getblockchaininfo/btcd_regtest.json", raw("getblockchaininfo"))
	var hdr struct {
		Prev string `json:"previousblockhash"`
		N    int    `json:"nTx"`
	}
	r, _ := node.RPC("getblockheader", hash, true)
	_ = json.Unmarshal(r, &hdr)
	want, _ := json.MarshalIndent(fixtureWant{
		Hash: hash, Parent: hdr.Prev, TxCount: 2, Address: addr, TxID: txid, Vout: 0, Amount: 123_456, RBF: true,
	}, "", "  ")
	write("getblock/btcd_regtest.want.json", want)
	wantTx, _ := json.MarshalIndent(fixtureWant{Address: addr, TxID: rbfTx, Vout: 0, Amount: 7_000, RBF: true}, "", "  ")
	write("getrawtransaction/btcd_rbf.want.json", wantTx)
}
