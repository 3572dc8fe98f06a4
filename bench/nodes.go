package main

import (
	"log/slog"
	"time"

	"github.com/payd/payd/internal/testnode"
)

// Nodes shared by the figures (started on first use, stopped at exit).
var (
	nodeTB  *tb
	shBtcd  *testnode.Btcd
	shAnvil *testnode.EVMNode
	shToken string
)

func (e *env) btcd() *testnode.Btcd {
	if shBtcd == nil {
		if nodeTB == nil {
			nodeTB = newTB("nodes", e.work)
		}
		t0 := time.Now()
		shBtcd = testnode.StartBtcd(nodeTB)
		slog.Info("btcd started", "rpc", shBtcd.RPCURL, "seconds", time.Since(t0).Seconds())
	}
	return shBtcd
}

func (e *env) anvil() (*testnode.EVMNode, string) {
	if shAnvil == nil {
		if nodeTB == nil {
			nodeTB = newTB("nodes", e.work)
		}
		n := testnode.StartAnvil(nodeTB)
		shToken = n.DeployToken(6)
		shAnvil = n
		slog.Info("anvil started", "rpc", n.HTTPURL)
	}
	return shAnvil, shToken
}

func stopNodes() {
	if nodeTB != nil {
		nodeTB.cleanup()
	}
}

func freePort(t *tb) int {
	p, err := testnode.FreePort()
	if err != nil {
		t.Fatalf("%v", err)
	}
	return p
}
