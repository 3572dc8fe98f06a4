package bitcoin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// maxBody bounds a reply: a 4 MB block is 8 MB of hex.
const maxBody = 64 << 20

// client is a JSON-RPC 1.0 client over HTTP for Bitcoin Core and btcd:
// positional parameters only (btcd has no named ones), a context and a
// timeout on every call, a few quick retries on transient errors.
type client struct {
	url        string
	user, pass string
	cookieFile string
	timeout    time.Duration
	http       *http.Client
	id         atomic.Uint64

	mu         sync.Mutex
	cookieUser string
	cookiePass string
}

func newClient(cfg Config) *client {
	return &client{
		url:        cfg.RPCURL,
		user:       cfg.RPCUser,
		pass:       cfg.RPCPassword,
		cookieFile: cfg.CookieFile,
		timeout:    cfg.RequestTimeout,
		http: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     90 * time.Second,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		}},
	}
}

// credentials returns the basic-auth pair, reading the cookie file when
// no user is configured (again after a 401 when reload is set).
func (c *client) credentials(reload bool) (string, string, error) {
	if c.user != "" || c.cookieFile == "" {
		return c.user, c.pass, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cookieUser == "" || reload {
		b, err := os.ReadFile(c.cookieFile)
		if err != nil {
			return "", "", fmt.Errorf("%w for %s: read cookie file: %v", ErrAuth, c.url, err)
		}
		u, p, ok := strings.Cut(strings.TrimSpace(string(b)), ":")
		if !ok {
			return "", "", fmt.Errorf("%w for %s: cookie file %s is not user:password", ErrAuth, c.url, c.cookieFile)
		}
		c.cookieUser, c.cookiePass = u, p
	}
	return c.cookieUser, c.cookiePass, nil
}

// transient reports whether a failed call is worth retrying soon.
func transient(err error) bool {
	var re *RPCError
	if errors.As(err, &re) {
		return re.Code == codeWarmup
	}
	return errors.Is(err, ErrUnreachable)
}

// callBody performs method and returns the whole reply body in *buf (the
// caller owns buf). It retries transient failures up to 3 times.
func (c *client) callBody(ctx context.Context, buf *bytes.Buffer, method string, params ...any) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(100<<attempt) * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
		}
		buf.Reset()
		err = c.do(ctx, buf, method, params, attempt > 0)
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// call performs method and returns its decoded result.
func (c *client) call(ctx context.Context, method string, params ...any) (json.RawMessage, error) {
	var buf bytes.Buffer
	if err := c.callBody(ctx, &buf, method, params...); err != nil {
		return nil, err
	}
	raw, err := decodeResponse(buf.Bytes())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return raw, nil
}

// callInto performs method and decodes its result into v.
func (c *client) callInto(ctx context.Context, v any, method string, params ...any) error {
	raw, err := c.call(ctx, method, params...)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%s: %w: %v: %q", method, ErrMalformed, err, snippet(raw))
	}
	return nil
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

func (c *client) do(ctx context.Context, buf *bytes.Buffer, method string, params []any, reloadCookie bool) error {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(request{JSONRPC: "1.0", ID: c.id.Add(1), Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	user, pass, err := c.credentials(reloadCookie)
	if err != nil {
		return err
	}
	req.SetBasicAuth(user, pass)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil && errors.Is(ctx.Err(), context.Canceled) {
			return ctx.Err()
		}
		return fmt.Errorf("%s: %w at %s: %v", method, ErrUnreachable, c.url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		if c.user == "" && c.cookieFile != "" {
			if !reloadCookie {
				return c.do(ctx, buf, method, params, true)
			}
			return fmt.Errorf("%w for %s: check cookie_file %s", ErrAuth, c.url, c.cookieFile)
		}
		return fmt.Errorf("%w for %s: check rpc_user/rpc_password", ErrAuth, c.url)
	}
	if resp.ContentLength > maxBody {
		return fmt.Errorf("%s: %w: reply of %d bytes", method, ErrMalformed, resp.ContentLength)
	}
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%s: %w at %s: read reply: %v", method, ErrUnreachable, c.url, err)
	}
	if n > maxBody {
		return fmt.Errorf("%s: %w: reply over %d bytes", method, ErrMalformed, maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		// Core answers RPC errors with 404/500 and a JSON body; keep those.
		b := bytes.TrimSpace(buf.Bytes())
		if len(b) == 0 || b[0] != '{' {
			err := fmt.Errorf("%s: http %d from %s: %q", method, resp.StatusCode, c.url, snippet(b))
			if resp.StatusCode >= 500 {
				return fmt.Errorf("%w: %v", ErrUnreachable, err)
			}
			return err
		}
		// Core's warm-up (-28) comes as HTTP 500: surface it so it is retried.
		var r response
		if json.Unmarshal(b, &r) == nil && r.Error != nil && r.Error.Code == codeWarmup {
			return fmt.Errorf("%s: %w", method, r.Error)
		}
	}
	return nil
}
