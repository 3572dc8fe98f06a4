package bitcoin

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg/chainhash"
	"github.com/btcsuite/btcd/rpcclient"
	"github.com/btcsuite/btcd/wire"
)

// runWebsocket keeps a btcd websocket subscription (notifyblocks,
// notifynewtransactions) open until ctx is done; every notification only
// wakes the poller (a non-blocking send on wake). rpcclient reconnects and
// re-subscribes by itself once connected; the first connection is retried
// here with backoff. Polling goes on regardless.
func (b *Backend) runWebsocket(ctx context.Context, wake chan<- struct{}) {
	u, err := url.Parse(b.cfg.WebsocketURL)
	if err != nil {
		b.log.Warn("websocket: bad url", "url", b.cfg.WebsocketURL, "err", err)
		return
	}
	notify := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	handlers := &rpcclient.NotificationHandlers{
		OnClientConnected: notify,
		OnBlockConnected:  func(*chainhash.Hash, int32, time.Time) { notify() },
		OnFilteredBlockConnected: func(int32, *wire.BlockHeader, []*btcutil.Tx) {
			notify()
		},
		OnBlockDisconnected: func(*chainhash.Hash, int32, time.Time) { notify() },
		OnTxAccepted:        func(*chainhash.Hash, btcutil.Amount) { notify() },
	}
	cfg := &rpcclient.ConnConfig{
		Host:       u.Host,
		Endpoint:   strings.Trim(u.Path, "/"),
		User:       b.cfg.RPCUser,
		Pass:       b.cfg.RPCPassword,
		CookiePath: b.cfg.CookieFile,
		DisableTLS: u.Scheme == "ws",
	}
	if cfg.Endpoint == "" {
		cfg.Endpoint = "ws"
	}
	bo := backoff{min: time.Second, max: time.Minute}
	for ctx.Err() == nil {
		c, err := rpcclient.New(cfg, handlers)
		if err != nil {
			b.log.Warn("websocket: connect failed, polling only", "url", b.cfg.WebsocketURL, "err", err, "retry_in", bo.peek())
			sleep(ctx, bo.next())
			continue
		}
		stop := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				c.Shutdown()
			case <-stop:
			}
		}()
		err = c.NotifyBlocks()
		if err == nil {
			err = c.NotifyNewTransactions(false)
		}
		if err != nil {
			close(stop)
			c.Shutdown()
			c.WaitForShutdown()
			if ctx.Err() != nil {
				return
			}
			b.log.Warn("websocket: subscribe failed, polling only", "url", b.cfg.WebsocketURL, "err", err, "retry_in", bo.peek())
			sleep(ctx, bo.next())
			continue
		}
		b.log.Info("websocket: subscribed", "url", b.cfg.WebsocketURL)
		<-ctx.Done()
		c.Shutdown()
		c.WaitForShutdown()
		close(stop)
		return
	}
}
