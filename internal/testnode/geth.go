package testnode

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// StartGeth starts geth --dev (chain id 1337, one funded unlocked dev account,
// a block per transaction) on free loopback ports with no networking, and
// stops it when the test ends. The first call may build geth (~2 minutes).
//
// Mine adds empty blocks through dev_addWithdrawal (each withdrawal triggers a
// block); Reorg rewinds with debug_setHead and mines depth+1 new blocks, whose
// hashes differ because the dev beacon picks a random prevRandao.
func StartGeth(t TB) *EVMNode {
	t.Helper()
	bin := MustBin(t, "geth")
	var ports [3]int
	for i := range ports {
		p, err := FreePort()
		if err != nil {
			t.Fatalf("testnode: %v", err)
		}
		ports[i] = p
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--dev", "--dev.period", "0",
		"--datadir", filepath.Join(dir, "data"),
		"--http", "--http.addr", "127.0.0.1", "--http.port", fmt.Sprint(ports[0]),
		"--http.api", "eth,net,web3,txpool,debug,dev",
		"--ws", "--ws.addr", "127.0.0.1", "--ws.port", fmt.Sprint(ports[1]),
		"--ws.api", "eth,net,web3",
		"--authrpc.addr", "127.0.0.1", "--authrpc.port", fmt.Sprint(ports[2]),
		"--nodiscover", "--maxpeers", "0", "--ipcdisable", "--port", "0",
		"--verbosity", "3",
	)
	cmd.Dir = dir
	logPath := filepath.Join(dir, "geth.log")
	startProcess(t, cmd, logPath)
	httpAddr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	wsAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	for _, a := range []string{httpAddr, wsAddr} {
		if err := WaitTCP(a, 60*time.Second); err != nil {
			t.Fatalf("%v (log: %s)", err, logPath)
		}
	}
	n := newEVMNode(t, "geth", "http://"+httpAddr, "ws://"+wsAddr, 1337)
	var withdrawals uint64
	n.mine = func(blocks int) {
		t.Helper()
		for i := 0; i < blocks; i++ {
			h := n.BlockNumber()
			withdrawals++
			n.MustCall(nil, "dev_addWithdrawal", map[string]any{
				"index": fmt.Sprintf("0x%x", withdrawals), "validatorIndex": "0x0",
				"address": "0x000000000000000000000000000000000000dEaD", "amount": "0x0",
			})
			n.waitHeight(h + 1)
		}
	}
	n.reorg = func(depth int) {
		t.Helper()
		h := n.BlockNumber()
		if uint64(depth) > h {
			t.Fatalf("testnode geth: reorg depth %d above height %d", depth, h)
		}
		n.MustCall(nil, "debug_setHead", fmt.Sprintf("0x%x", h-uint64(depth)))
		// Re-mined dropped transactions may fill some of the new blocks; top up
		// with empty ones until the new branch is longer than the old one.
		for n.BlockNumber() <= h {
			n.mine(1)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var id string
		if err := n.Call(&id, "eth_chainId"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("testnode: geth not answering: %v (log: %s)", err, logPath)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}
