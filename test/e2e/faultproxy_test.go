package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"
)

// fault is what a faultProxy does to the requests it forwards.
type fault int

const (
	faultPass      fault = iota // forward unchanged
	faultDown                   // listener closed: connections refused
	faultReset                  // accept, then reset the connection (RST)
	faultSlow                   // forward after slowDelay
	fault500                    // answer HTTP 500
	faultTruncated              // forward, then cut the JSON body in half
	faultGarbage                // answer 200 with bytes that are not JSON
	faultBehind                 // the tip stays where it was when the fault began
)

var faultNames = map[fault]string{
	faultPass: "pass", faultDown: "down", faultReset: "reset", faultSlow: "slow",
	fault500: "http500", faultTruncated: "truncated", faultGarbage: "garbage", faultBehind: "behind",
}

func (f fault) String() string { return faultNames[f] }

// slowDelay is how long faultSlow holds every request.
const slowDelay = 3 * time.Second

// tipMethods are the JSON-RPC methods that report a node's best block:
// faultBehind answers them with the value seen when the fault began.
var tipMethods = map[string]bool{"getblockcount": true, "getbestblockhash": true, "eth_blockNumber": true}

// faultProxy is an HTTP reverse proxy on 127.0.0.1 in front of a node's
// JSON-RPC endpoint, with a switchable fault.
type faultProxy struct {
	t      *testing.T
	addr   string // 127.0.0.1:port, kept across down/up
	target *url.URL
	rp     *httputil.ReverseProxy

	mu     sync.Mutex
	mode   fault
	srv    *http.Server
	frozen map[string]json.RawMessage // faultBehind: method (+params) → result
}

func newFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("proxy target %q: %v", target, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &faultProxy{t: t, addr: ln.Addr().String(), target: u, rp: httputil.NewSingleHostReverseProxy(u)}
	p.rp.Transport = &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 8}
	p.rp.ErrorLog = nil
	p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.srv != nil {
			p.srv.Close()
			p.srv = nil
		}
	})
	return p
}

// URL is the proxy's base URL with the target's path.
func (p *faultProxy) URL() string {
	u := *p.target
	u.Host = p.addr
	return u.String()
}

func (p *faultProxy) serve(ln net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(p.handle), ReadHeaderTimeout: 10 * time.Second}
	p.srv = srv
	go func() { _ = srv.Serve(ln) }()
}

// set switches the fault. Down closes the listener and every open
// connection; leaving down listens again on the same address.
func (p *faultProxy) set(f fault) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	prev := p.mode
	p.mode = f
	p.frozen = map[string]json.RawMessage{}
	if f == faultDown && p.srv != nil {
		p.srv.Close()
		p.srv = nil
	}
	if prev == faultDown && f != faultDown {
		var ln net.Listener
		var err error
		for i := 0; i < 50; i++ {
			if ln, err = net.Listen("tcp", p.addr); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			p.t.Fatalf("proxy relisten on %s: %v", p.addr, err)
		}
		p.serve(ln)
	}
}

// waitFrozen waits until faultBehind has frozen the tip (payd asked for it
// once since the fault began), so blocks mined after it stay unseen.
func (p *faultProxy) waitFrozen(timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p.mu.Lock()
		n := len(p.frozen)
		p.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("payd did not ask the node for its tip within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *faultProxy) current() fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

func (p *faultProxy) handle(w http.ResponseWriter, r *http.Request) {
	switch p.current() {
	case faultReset:
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			return
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST
		}
		conn.Close()
		return
	case faultSlow:
		select {
		case <-time.After(slowDelay):
		case <-r.Context().Done():
			return
		}
		p.rp.ServeHTTP(w, r)
		return
	case fault500:
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	case faultGarbage:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("\x00\xff<html>garbage{{\"result\":]"))
		return
	case faultTruncated:
		rec := p.roundTrip(w, r)
		if rec == nil {
			return
		}
		body := rec.Bytes()
		cut := body[:len(body)/2]
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", fmt.Sprint(len(cut)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(cut)
		return
	case faultBehind:
		p.behind(w, r)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// roundTrip forwards r and returns the node's answer body (nil after
// writing a 502).
func (p *faultProxy) roundTrip(w http.ResponseWriter, r *http.Request) *bytes.Buffer {
	rec := &bufferWriter{header: http.Header{}}
	p.rp.ServeHTTP(rec, r)
	if rec.status >= 500 {
		http.Error(w, "bad gateway", http.StatusBadGateway)
		return nil
	}
	return &rec.body
}

// behind answers the tip methods with the result seen first since the
// fault began, so payd sees a node whose tip does not move; everything else
// (and batches) is forwarded.
func (p *faultProxy) behind(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var req struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Method  string          `json:"method"`
	}
	if json.Unmarshal(body, &req) == nil && syncMethods[req.Method] {
		p.mu.Lock()
		n, ok := p.frozen["getblockcount"]
		if !ok {
			n, ok = p.frozen["eth_blockNumber"]
		}
		p.mu.Unlock()
		if ok {
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			if buf := p.roundTrip(w, r); buf != nil {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(syncing(buf.Bytes(), n))
			}
			return
		}
	}
	if json.Unmarshal(body, &req) != nil || !tipMethods[req.Method] {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		p.rp.ServeHTTP(w, r)
		return
	}
	p.mu.Lock()
	res, ok := p.frozen[req.Method]
	p.mu.Unlock()
	if !ok {
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		buf := p.roundTrip(w, r)
		if buf == nil {
			return
		}
		var resp struct {
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal(buf.Bytes(), &resp) != nil || len(resp.Result) == 0 {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(buf.Bytes())
			return
		}
		p.mu.Lock()
		if prev, ok := p.frozen[req.Method]; ok {
			resp.Result = prev
		} else {
			p.frozen[req.Method] = resp.Result
		}
		res = resp.Result
		p.mu.Unlock()
	}
	out := map[string]any{"result": res, "id": req.ID}
	if req.JSONRPC == "2.0" {
		out["jsonrpc"] = "2.0"
	} else {
		out["error"] = nil
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// syncMethods report sync progress: faultBehind makes the node say it is
// still syncing, up to the frozen tip.
var syncMethods = map[string]bool{"getblockchaininfo": true, "eth_syncing": true}

// syncing rewrites a getblockchaininfo or eth_syncing answer so that the
// node's own blocks stop at frozen while it knows of more (headers /
// highestBlock), as a node that fell behind says.
func syncing(body []byte, frozen json.RawMessage) []byte {
	var resp map[string]any
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	switch res := resp["result"].(type) {
	case map[string]any: // getblockchaininfo
		var n uint64
		if json.Unmarshal(frozen, &n) == nil {
			res["headers"] = res["blocks"]
			res["blocks"] = n
		}
	case bool, nil: // eth_syncing: false while in sync
		var n string
		if json.Unmarshal(frozen, &n) == nil {
			resp["result"] = map[string]any{"startingBlock": "0x0", "currentBlock": n, "highestBlock": "0xffffffff"}
		}
	}
	out, err := json.Marshal(resp)
	if err != nil {
		return body
	}
	return out
}

// bufferWriter is an http.ResponseWriter that keeps the answer.
type bufferWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }
func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.body.Write(p)
}
func (b *bufferWriter) WriteHeader(code int) { b.status = code }
