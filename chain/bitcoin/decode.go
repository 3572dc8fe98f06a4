package bitcoin

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"
)

// response is a JSON-RPC 1.0 reply as Core and btcd send it.
type response struct {
	Result json.RawMessage `json:"result"`
	Error  *RPCError       `json:"error"`
}

// decodeResponse decodes a whole (small) reply: the result, or the node's
// error as *RPCError.
func decodeResponse(body []byte) (json.RawMessage, error) {
	var r response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%w: %v: %q", ErrMalformed, err, snippet(body))
	}
	if r.Error != nil {
		return nil, r.Error
	}
	if len(r.Result) == 0 {
		return nil, fmt.Errorf("%w: no result: %q", ErrMalformed, snippet(body))
	}
	return r.Result, nil
}

var resultPrefix = []byte(`{"result":"`)

// hexResult returns the hex string of a reply whose result is a string
// (getblock <hash> 0, getrawtransaction <txid> 0, getblockheader <hash>
// false) without running encoding/json over it: the string is sliced out of
// the body (hex never contains a quote or a backslash) and the small rest of
// the reply is checked for an error. Replies of another shape (other key
// order, whitespace, an error) go through encoding/json.
//
// The returned slice aliases body.
func hexResult(body []byte) ([]byte, error) {
	b := bytes.TrimLeft(body, " \t\r\n")
	if bytes.HasPrefix(b, resultPrefix) {
		rest := b[len(resultPrefix):]
		end := bytes.IndexByte(rest, '"')
		if end >= 0 && bytes.IndexByte(rest[:end], '\\') < 0 {
			h := rest[:end]
			tail := bytes.TrimLeft(rest[end+1:], " \t\r\n")
			// tail is `,"error":null,"id":1}` or `}`; check it as an object.
			if len(tail) > 0 && (tail[0] == ',' || tail[0] == '}') {
				obj := make([]byte, 0, len(tail)+1)
				obj = append(obj, '{')
				if tail[0] == ',' {
					obj = append(obj, tail[1:]...)
				} else {
					obj = append(obj, tail...)
				}
				var r response
				if err := json.Unmarshal(obj, &r); err != nil {
					return nil, fmt.Errorf("%w: %v: %q", ErrMalformed, err, snippet(body))
				}
				if r.Error != nil {
					return nil, r.Error
				}
				return h, nil
			}
		}
	}
	raw, err := decodeResponse(body)
	if err != nil {
		return nil, err
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || bytes.Equal(raw, []byte("null")) {
		return nil, fmt.Errorf("%w: result is not a string: %q", ErrMalformed, snippet(raw))
	}
	return []byte(s), nil
}

// bufPool holds byte buffers for decoded blocks and response bodies.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<20); return &b }}

func getBuf() *[]byte  { return bufPool.Get().(*[]byte) }
func putBuf(b *[]byte) { *b = (*b)[:0]; bufPool.Put(b) }

// decodeHexInto hex-decodes src into *dst (grown as needed).
func decodeHexInto(dst *[]byte, src []byte) error {
	if len(src)%2 != 0 {
		return fmt.Errorf("%w: odd-length hex (%d chars)", ErrMalformed, len(src))
	}
	n := len(src) / 2
	if cap(*dst) < n {
		*dst = make([]byte, n)
	}
	*dst = (*dst)[:n]
	if _, err := hex.Decode(*dst, src); err != nil {
		return fmt.Errorf("%w: bad hex: %v", ErrMalformed, err)
	}
	return nil
}

// snippet shortens a body for error messages.
func snippet(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}
