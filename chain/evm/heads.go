package evm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/gorilla/websocket"
)

// followHeads keeps a newHeads subscription open on the websocket, waking the
// chain loop on each head. While it is down the loop polls at PollInterval;
// it reconnects with backoff until ctx is done.
func (b *Backend) followHeads(ctx context.Context) {
	bo := backoff{min: time.Second, max: 30 * time.Second}
	host := wsHost(b.cfg.WSURL)
	for ctx.Err() == nil {
		subscribed, err := b.subscribeHeads(ctx)
		b.wsUp.Store(false)
		if ctx.Err() != nil {
			return
		}
		if subscribed {
			bo.reset()
		}
		d := bo.next()
		b.log.Warn("websocket lost, polling until it is back", "host", host, "err", err, "retry_in", d)
		b.signal() // look now: a head may have been lost with the connection
		sleep(ctx, d)
	}
}

func wsHost(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return "?"
}

func (b *Backend) signal() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// subscribeHeads runs one websocket connection until it fails.
func (b *Backend) subscribeHeads(ctx context.Context) (subscribed bool, err error) {
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 64 << 10}
	conn, resp, err := d.DialContext(ctx, b.cfg.WSURL, nil)
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-ctx.Done():
		case <-done:
		}
		conn.Close()
	}()
	conn.SetReadLimit(16 << 20)
	const pongWait = 60 * time.Second
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	go func() {
		t := time.NewTicker(pongWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(5*time.Second)) != nil {
					return
				}
			}
		}
	}()
	if err := conn.WriteJSON(request{JSONRPC: "2.0", ID: 1, Method: "eth_subscribe", Params: []any{"newHeads"}}); err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return subscribed, fmt.Errorf("read: %w", err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
			Error  *RPCError       `json:"error"`
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(msg, &m); err != nil {
			b.log.Warn("malformed websocket message", "err", err)
			continue
		}
		switch {
		case !subscribed && string(m.ID) == "1":
			if m.Error != nil {
				return false, fmt.Errorf("eth_subscribe newHeads: %w", m.Error)
			}
			if len(m.Result) == 0 || string(m.Result) == "null" {
				return false, errors.New("eth_subscribe newHeads: no subscription id")
			}
			subscribed = true
			b.wsUp.Store(true)
			b.log.Info("subscribed to new heads", "host", wsHost(b.cfg.WSURL))
			b.signal()
		case m.Method == "eth_subscription":
			b.signal()
		}
	}
}
