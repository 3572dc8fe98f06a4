package testnode

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// TCPProxy is a loopback TCP proxy in front of a server (PostgreSQL, in the
// high-availability tests) that can cut the network between its clients and
// the server and heal it again, on the same address.
type TCPProxy struct {
	t      TB
	Addr   string // 127.0.0.1:port, kept across cuts
	target string

	mu    sync.Mutex
	ln    net.Listener // nil while refusing
	conns map[net.Conn]bool
	gate  chan struct{} // closed while forwarding; open (blocking) while blackholed
	wg    sync.WaitGroup
	done  bool
}

// StartTCPProxy listens on a free loopback port and forwards every
// connection to target (host:port). It stops at the test's cleanup.
func StartTCPProxy(t TB, target string) *TCPProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testnode: proxy: %v", err)
	}
	p := &TCPProxy{t: t, Addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}, gate: make(chan struct{})}
	close(p.gate)
	p.serve(ln)
	t.Cleanup(p.stop)
	return p
}

func (p *TCPProxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.done || p.ln != ln {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns[c] = true
			gate := p.gate
			p.wg.Add(1)
			p.mu.Unlock()
			go func() { defer p.wg.Done(); p.pipe(c, gate) }()
		}
	}()
}

// pipe forwards one client connection; while blackholed it does not even
// connect to the server (the packets never arrive).
func (p *TCPProxy) pipe(c net.Conn, gate chan struct{}) {
	defer p.drop(c)
	<-gate
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.done || !p.conns[c] {
		p.mu.Unlock()
		s.Close()
		return
	}
	p.conns[s] = true
	p.mu.Unlock()
	defer p.drop(s)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.copy(s, c); s.Close() }()
	go func() { defer wg.Done(); p.copy(c, s); c.Close() }()
	wg.Wait()
}

// copy forwards src to dst; bytes read while the network is blackholed are
// held back until it heals, as TCP retransmission would deliver them.
func (p *TCPProxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.gate
			p.mu.Unlock()
			<-gate
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil { // io.EOF or the connection closed
			return
		}
	}
}

func (p *TCPProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Refuse cuts the network as a firewall that rejects would: every open
// connection is closed and new ones are refused (nothing listens).
func (p *TCPProxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

// Blackhole cuts the network as a partition would: connections stay open
// but no byte gets through either way, and new connections get no answer.
func (p *TCPProxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
		p.gate = make(chan struct{})
	default:
	}
}

// Heal ends a cut: held bytes flow again and new connections are
// forwarded, on the same address.
func (p *TCPProxy) Heal() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
	if p.ln != nil {
		return
	}
	var err error
	for i := 0; i < 50; i++ { // the port may linger a moment after the close
		var ln net.Listener
		if ln, err = net.Listen("tcp", p.Addr); err == nil {
			p.serve(ln)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("testnode: proxy: listen again on %s: %v", p.Addr, err)
}

func (p *TCPProxy) stop() {
	p.mu.Lock()
	p.done = true
	if p.ln != nil {
		p.ln.Close()
	}
	for c := range p.conns {
		c.Close()
	}
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *TCPProxy) String() string { return fmt.Sprintf("proxy %s → %s", p.Addr, p.target) }
