package testnode

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"time"
)

// StartAnvil starts anvil (Foundry) on a free loopback port with chain id
// 31337 and its 10 funded, unlocked accounts, and stops it when the test ends.
// HTTP and websocket share the port. anvil mines one block per transaction.
func StartAnvil(t TB) *EVMNode {
	t.Helper()
	bin := MustBin(t, "anvil")
	port, err := FreePort()
	if err != nil {
		t.Fatalf("testnode: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "--port", fmt.Sprint(port), "--chain-id", "31337", "--host", "127.0.0.1")
	cmd.Dir = dir
	startProcess(t, cmd, filepath.Join(dir, "anvil.log"))
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	if err := WaitTCP(addr, 30*time.Second); err != nil {
		t.Fatalf("%v (log: %s)", err, filepath.Join(dir, "anvil.log"))
	}
	n := newEVMNode(t, "anvil", "http://"+addr, "ws://"+addr, 31337)
	n.mine = func(blocks int) {
		t.Helper()
		n.MustCall(nil, "anvil_mine", fmt.Sprintf("0x%x", blocks))
	}
	n.reorg = func(depth int) {
		t.Helper()
		n.MustCall(nil, "anvil_reorg", depth, []any{})
	}
	// anvil answers TCP before RPC is ready on slow machines.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var id string
		if err := n.Call(&id, "eth_chainId"); err == nil {
			break
		} else if time.Now().After(deadline) {
			t.Fatalf("testnode: anvil not answering: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return n
}
