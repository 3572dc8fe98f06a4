package testnode

import (
	"math/big"
	"testing"
)

// exerciseEVM runs every EVMNode helper once against a real node.
func exerciseEVM(t *testing.T, n *EVMNode) {
	accts := n.Accounts()
	to := "0x00000000000000000000000000000000000000aa"
	tx := n.SendETH(to, big.NewInt(12345))
	if r := n.WaitReceipt(tx); r.Status != "0x1" {
		t.Fatalf("SendETH receipt %+v", r)
	}
	token := n.DeployToken(6)
	tx = n.TransferToken(token, to, big.NewInt(2_500_000))
	if r := n.WaitReceipt(tx); r.Status != "0x1" {
		t.Fatalf("TransferToken receipt %+v", r)
	}
	var bal string
	n.MustCall(&bal, "eth_call", map[string]any{"to": token, "data": "0x70a08231" + word(addrBig(t, to))}, "latest")
	if got := parseHexUint(t, bal); got != 2_500_000 {
		t.Fatalf("balanceOf = %d, want 2500000", got)
	}
	// A sender with no tokens: on geth --dev the only account is the holder,
	// so make the transfer exceed its balance instead.
	from := accts[0]
	units, _ := new(big.Int).SetString("1000000000000000000000000000000", 10)
	if len(accts) > 1 {
		from = accts[1]
	}
	n.SendFailingTx(token, from, to, units)

	h := n.BlockNumber()
	n.Mine(3)
	if got := n.BlockNumber(); got != h+3 {
		t.Fatalf("after Mine(3) height %d, want %d", got, h+3)
	}
	tip := n.BlockNumber()
	old := n.BlockHash(tip - 1)
	n.Reorg(2)
	if got := n.BlockNumber(); got < tip {
		t.Fatalf("after Reorg(2) height %d, want >= %d", got, tip)
	}
	if n.BlockHash(tip-1) == old {
		t.Fatalf("Reorg(2) kept block %d/%s", tip-1, old)
	}
}

func TestAnvil(t *testing.T) { exerciseEVM(t, StartAnvil(t)) }

func TestGeth(t *testing.T) { exerciseEVM(t, StartGeth(t)) }
