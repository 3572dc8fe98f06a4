package evm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"
)

// maxResponse bounds one JSON-RPC response body (a full block with
// transactions, or a page of logs).
const maxResponse = 256 << 20

// RPCError is an error object a node returned for a JSON-RPC call.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// HTTPError is a non-200 HTTP answer from a node (429 rate limited, 5xx, …).
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("http %d %s: %.200s", e.Status, http.StatusText(e.Status), e.Body)
}

// client is a minimal JSON-RPC 2.0 client over HTTP. It returns the raw
// response body so the hot path can decode only the fields payd needs.
type client struct {
	url  string
	host string // for logs and errors: never the full URL, which may hold an API key
	http *http.Client
	id   atomic.Uint64
}

func newClient(rawURL string) (*client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("rpc url must be http(s)://host[:port][/path], got scheme %q", schemeOf(rawURL))
	}
	return &client{url: rawURL, host: u.Host, http: &http.Client{Timeout: 60 * time.Second}}, nil
}

func schemeOf(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Scheme
	}
	return ""
}

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  []any  `json:"params"`
}

// raw posts body and returns the response body of a 200 answer.
func (c *client) raw(ctx context.Context, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL may hold a key: do not repeat it
		}
		return nil, fmt.Errorf("post to %s: %w", c.host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, fmt.Errorf("read from %s: %w", c.host, err)
	}
	if len(b) > maxResponse {
		return nil, fmt.Errorf("response from %s larger than %d bytes", c.host, maxResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &HTTPError{Status: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}

// callRaw makes one call and returns the whole response body.
func (c *client) callRaw(ctx context.Context, method string, params ...any) ([]byte, error) {
	if params == nil {
		params = []any{}
	}
	body, err := json.Marshal(request{JSONRPC: "2.0", ID: c.id.Add(1), Method: method, Params: params})
	if err != nil {
		return nil, fmt.Errorf("%s: encode: %w", method, err)
	}
	b, err := c.raw(ctx, body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return b, nil
}

// call makes one call and decodes its result into out (a pointer; a JSON
// null result leaves it untouched).
func (c *client) call(ctx context.Context, out any, method string, params ...any) error {
	b, err := c.callRaw(ctx, method, params...)
	if err != nil {
		return err
	}
	if err := decodeResponse(b, out); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// batchCall is one call of a batch.
type batchCall struct {
	Method string
	Params []any
	Out    any
}

// batch sends calls as one JSON-RPC batch; every call must succeed.
func (c *client) batch(ctx context.Context, calls []batchCall) error {
	if len(calls) == 0 {
		return nil
	}
	reqs := make([]request, len(calls))
	first := c.id.Add(uint64(len(calls))) - uint64(len(calls)) + 1
	for i, bc := range calls {
		p := bc.Params
		if p == nil {
			p = []any{}
		}
		reqs[i] = request{JSONRPC: "2.0", ID: first + uint64(i), Method: bc.Method, Params: p}
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return fmt.Errorf("batch: encode: %w", err)
	}
	b, err := c.raw(ctx, body)
	if err != nil {
		return fmt.Errorf("batch of %d %s: %w", len(calls), calls[0].Method, err)
	}
	var resps []struct {
		ID     json.RawMessage `json:"id"`
		Result json.RawMessage `json:"result"`
		Error  *RPCError       `json:"error"`
	}
	if err := json.Unmarshal(b, &resps); err != nil {
		// A node that does not do batches answers with one error object.
		var one struct {
			Error *RPCError `json:"error"`
		}
		if json.Unmarshal(b, &one) == nil && one.Error != nil {
			return fmt.Errorf("batch: %w", one.Error)
		}
		return fmt.Errorf("batch: malformed response: %w", err)
	}
	seen := make([]bool, len(calls))
	for _, r := range resps {
		id, err := strconv.ParseUint(string(r.ID), 10, 64)
		if err != nil || id < first || id >= first+uint64(len(calls)) {
			return fmt.Errorf("batch: response with unknown id %s", r.ID)
		}
		i := id - first
		if r.Error != nil {
			return fmt.Errorf("batch %s: %w", calls[i].Method, r.Error)
		}
		if len(r.Result) > 0 && string(r.Result) != "null" {
			if err := json.Unmarshal(r.Result, calls[i].Out); err != nil {
				return fmt.Errorf("batch %s: malformed result: %w", calls[i].Method, err)
			}
		}
		seen[i] = true
	}
	for i, ok := range seen {
		if !ok {
			return fmt.Errorf("batch: no response for %s #%d", calls[i].Method, i)
		}
	}
	return nil
}

// decodeResponse decodes a JSON-RPC response body into out, or returns its
// error object.
func decodeResponse(body []byte, out any) error {
	resp := struct {
		Error  *RPCError `json:"error"`
		Result any       `json:"result"`
	}{Result: out}
	if err := json.Unmarshal(body, &resp); err != nil {
		return fmt.Errorf("malformed response: %w", err)
	}
	if resp.Error != nil {
		return resp.Error
	}
	return nil
}
