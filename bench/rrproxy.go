package main

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
)

// rrProxy is a loopback TCP round-robin balancer (what HAProxy's
// `mode tcp` + `balance roundrobin` does): each accepted connection goes to
// the next upstream, then bytes are copied both ways (splice(2) on Linux:
// TCPConn.ReadFrom). The HTTP clients keep their connections alive, so 32
// clients spread 16/16 over two instances.
type rrProxy struct {
	ln   net.Listener
	url  string
	mu   sync.Mutex
	ups  []string // host:port
	next atomic.Uint64
	wg   sync.WaitGroup
}

func startRRProxy(t *tb, ups ...string) *rrProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: %v", err)
	}
	p := &rrProxy{ln: ln, url: "http://" + ln.Addr().String(), ups: ups}
	p.wg.Add(1)
	go p.serve()
	t.Cleanup(p.close)
	return p
}

// set replaces the upstreams for new connections.
func (p *rrProxy) set(ups ...string) {
	p.mu.Lock()
	p.ups = ups
	p.mu.Unlock()
}

func (p *rrProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.ups[p.next.Add(1)%uint64(len(p.ups))]
		p.mu.Unlock()
		go p.pipe(c.(*net.TCPConn), up)
	}
}

func (p *rrProxy) pipe(c *net.TCPConn, up string) {
	defer c.Close()
	u, err := net.Dial("tcp", up)
	if err != nil {
		return
	}
	uc := u.(*net.TCPConn)
	defer uc.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(uc, c)
		_ = uc.CloseWrite()
		close(done)
	}()
	_, _ = io.Copy(c, uc)
	_ = c.CloseWrite()
	<-done
}

func (p *rrProxy) close() {
	p.ln.Close()
	p.wg.Wait()
}
