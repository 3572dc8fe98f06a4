package lightning

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// client speaks LND's REST API (the grpc-gateway in front of its gRPC
// services): JSON bodies, 64-bit integers as strings, bytes as base64.
type client struct {
	base     string
	macaroon string // hex, for invoices
	readonly string // hex, for getinfo and channels ("" = macaroon)
	http     *http.Client
	stream   *http.Client // no overall timeout: subscriptions stay open
}

func newClient(base string, certPEM []byte, macaroon, readonly string) (*client, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(certPEM) {
		return nil, fmt.Errorf("%w: tls_cert holds no PEM certificate", ErrConfig)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	if readonly == "" {
		readonly = macaroon
	}
	return &client{
		base: strings.TrimSuffix(base, "/"), macaroon: macaroon, readonly: readonly,
		http:   &http.Client{Transport: tr, Timeout: 30 * time.Second},
		stream: &http.Client{Transport: tr},
	}, nil
}

// apiError is LND's error body ({"code":2,"message":"…"}).
type apiError struct {
	Status  int
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *apiError) Error() string {
	return fmt.Sprintf("lnd: http %d: %s", e.Status, e.Message)
}

func (e *apiError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden ||
		strings.Contains(e.Message, "permission denied") || strings.Contains(e.Message, "verification failed") {
		return ErrAuth
	}
	return nil
}

func (c *client) do(ctx context.Context, hc *http.Client, mac, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Grpc-Metadata-macaroon", mac)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %s %s: %v", ErrUnreachable, method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(raw, e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(raw))
		}
		return nil, e
	}
	return resp, nil
}

func (c *client) call(ctx context.Context, mac, method, path string, body, out any) error {
	resp, err := c.do(ctx, c.http, mac, method, path, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out); err != nil {
		return fmt.Errorf("lnd: %s %s: decode: %w", method, path, err)
	}
	return nil
}

// u64 is a uint64 that LND's REST API writes as a JSON string.
type u64 uint64

func (v *u64) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*v = 0
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an unsigned integer: %s", b)
	}
	*v = u64(n)
	return nil
}

// Info is what payd reads of GET /v1/getinfo.
type Info struct {
	Alias          string `json:"alias"`
	PubKey         string `json:"identity_pubkey"`
	SyncedToChain  bool   `json:"synced_to_chain"`
	BlockHeight    u64    `json:"block_height"`
	ActiveChannels u64    `json:"num_active_channels"`
	Version        string `json:"version"`
	Chains         []struct {
		Chain   string `json:"chain"`
		Network string `json:"network"`
	} `json:"chains"`
}

// Network returns the network LND reports ("mainnet", "regtest", …).
func (i Info) Network() string {
	if len(i.Chains) == 0 {
		return ""
	}
	return i.Chains[0].Network
}

func (c *client) getInfo(ctx context.Context) (Info, error) {
	var info Info
	err := c.call(ctx, c.readonly, "GET", "/v1/getinfo", nil, &info)
	return info, err
}

// channel is what payd reads of one entry of GET /v1/channels.
type channel struct {
	Active        bool `json:"active"`
	RemoteBalance u64  `json:"remote_balance"`
	LocalBalance  u64  `json:"local_balance"`
	Capacity      u64  `json:"capacity"`
	// RemoteReserve is the reserve the peer must keep on its side: it
	// cannot be paid to us.
	RemoteConstraints struct {
		ChanReserveSat u64 `json:"chan_reserve_sat"`
	} `json:"remote_constraints"`
}

// Liquidity is the inbound capacity of the node's active channels, in sats.
type Liquidity struct {
	ActiveChannels int
	// Inbound is Σ (remote balance − the peer's reserve) over active channels.
	Inbound int64
	// MaxInbound is the largest inbound of one channel: the most a single
	// (non-MPP) payment can bring.
	MaxInbound int64
}

func (c *client) liquidity(ctx context.Context) (Liquidity, error) {
	var r struct {
		Channels []channel `json:"channels"`
	}
	if err := c.call(ctx, c.readonly, "GET", "/v1/channels?active_only=true", nil, &r); err != nil {
		return Liquidity{}, err
	}
	var l Liquidity
	for _, ch := range r.Channels {
		if !ch.Active {
			continue
		}
		l.ActiveChannels++
		in := int64(ch.RemoteBalance) - int64(ch.RemoteConstraints.ChanReserveSat)
		if in < 0 {
			in = 0
		}
		l.Inbound += in
		l.MaxInbound = max(l.MaxInbound, in)
	}
	return l, nil
}

// lnInvoice is one invoice as LND's REST API writes it.
type lnInvoice struct {
	Memo           string `json:"memo"`
	RHash          []byte `json:"r_hash"` // base64 in JSON
	ValueMsat      u64    `json:"value_msat"`
	CreationDate   u64    `json:"creation_date"`
	SettleDate     u64    `json:"settle_date"`
	PaymentRequest string `json:"payment_request"`
	Expiry         u64    `json:"expiry"`
	AddIndex       u64    `json:"add_index"`
	SettleIndex    u64    `json:"settle_index"`
	AmtPaidMsat    u64    `json:"amt_paid_msat"`
	State          string `json:"state"` // OPEN, SETTLED, CANCELED, ACCEPTED
	IsAMP          bool   `json:"is_amp"`
}

func (c *client) addInvoice(ctx context.Context, msat uint64, memo string, expiry time.Duration) (lnInvoice, error) {
	var r struct {
		RHash          []byte `json:"r_hash"`
		PaymentRequest string `json:"payment_request"`
		AddIndex       u64    `json:"add_index"`
	}
	err := c.call(ctx, c.macaroon, "POST", "/v1/invoices", map[string]any{
		"memo":       memo,
		"value_msat": strconv.FormatUint(msat, 10),
		"expiry":     strconv.FormatInt(int64(expiry/time.Second), 10),
		// Route hints for private channels: a merchant node whose
		// channels are unannounced can still be paid.
		"private": true,
	}, &r)
	if err != nil {
		return lnInvoice{}, err
	}
	return lnInvoice{RHash: r.RHash, PaymentRequest: r.PaymentRequest, AddIndex: r.AddIndex, ValueMsat: u64(msat)}, nil
}

func (c *client) cancelInvoice(ctx context.Context, hash []byte) error {
	return c.call(ctx, c.macaroon, "POST", "/v2/invoices/cancel", map[string]any{"payment_hash": hash}, nil)
}

// listInvoices returns up to max invoices with add_index > offset, oldest
// first, and the last add index of the page.
func (c *client) listInvoices(ctx context.Context, offset uint64, max int) ([]lnInvoice, uint64, error) {
	var r struct {
		Invoices        []lnInvoice `json:"invoices"`
		LastIndexOffset u64         `json:"last_index_offset"`
	}
	q := url.Values{"index_offset": {strconv.FormatUint(offset, 10)}, "num_max_invoices": {strconv.Itoa(max)}}
	err := c.call(ctx, c.macaroon, "GET", "/v1/invoices?"+q.Encode(), nil, &r)
	return r.Invoices, uint64(r.LastIndexOffset), err
}

// subscribe opens GET /v1/invoices/subscribe: LND first replays every
// invoice settled after settleIndex (when it is not 0), then pushes each
// invoice added or changed. fn gets every invoice in order; subscribe
// returns when the stream ends, fails or fn fails.
//
// LND's REST proxy sends the response headers only with the first message,
// so the subscription counts as open once the request was written:
// connected runs then (before any message is read) and may emit what it
// must; an error from it ends the subscription.
func (c *client) subscribe(ctx context.Context, settleIndex uint64, connected func() error, fn func(lnInvoice) error) error {
	path := "/v1/invoices/subscribe"
	if settleIndex > 0 {
		path += "?settle_index=" + strconv.FormatUint(settleIndex, 10)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	wrote := make(chan struct{})
	var once sync.Once
	tctx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { once.Do(func() { close(wrote) }) },
	})
	type result struct {
		resp *http.Response
		err  error
	}
	got := make(chan result, 1)
	go func() {
		resp, err := c.do(tctx, c.stream, c.macaroon, "GET", path, nil)
		got <- result{resp, err}
	}()
	var r result
	select {
	case <-wrote:
	case r = <-got:
		if r.err != nil {
			return r.err
		}
	}
	if err := connected(); err != nil {
		cancel()
		if r.resp == nil {
			if r = <-got; r.resp != nil {
				r.resp.Body.Close()
			}
		} else {
			r.resp.Body.Close()
		}
		return err
	}
	if r.resp == nil {
		if r = <-got; r.err != nil {
			return r.err
		}
	}
	resp := r.resp
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	for {
		var msg struct {
			Result *lnInvoice `json:"result"`
			Error  *apiError  `json:"error"`
		}
		if err := dec.Decode(&msg); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("%w: invoice subscription closed by lnd", ErrUnreachable)
			}
			return fmt.Errorf("%w: invoice subscription: %v", ErrUnreachable, err)
		}
		if msg.Error != nil {
			msg.Error.Status = http.StatusOK
			return fmt.Errorf("invoice subscription: %w", msg.Error)
		}
		if msg.Result == nil {
			continue
		}
		if err := fn(*msg.Result); err != nil {
			return err
		}
	}
}
