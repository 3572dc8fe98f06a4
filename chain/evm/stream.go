package evm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/ethereum/go-ethereum/core/types"
	"github.com/go-json-experiment/json/jsontext"
)

// The hot path reads JSON-RPC answers as a token stream (jsontext), touching
// only the fields payd needs and skipping the rest without building anything:
// about 6× less work than encoding/json on a block with transactions. The
// struct tags on the lean types describe the same mapping for encoding/json,
// which the tests use as the reference decoder.

var errShape = errors.New("unexpected JSON shape")

// streamResponse reads a JSON-RPC response object from body, calling result
// with the decoder positioned at a non-null "result" value (which it must
// consume). It returns the node's error object, if any. null reports
// whether the result was JSON null or absent.
func streamResponse(body []byte, result func(dec *jsontext.Decoder) error) (null bool, err error) {
	dec := jsontext.NewDecoder(bytes.NewBuffer(body)) // parsed in place, no copy
	if err := expect(dec, '{'); err != nil {
		return false, err
	}
	var rpcErr *RPCError
	null = true
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return false, err
		}
		switch string(name) {
		case `"result"`:
			if dec.PeekKind() == 'n' {
				if _, err := dec.ReadToken(); err != nil {
					return false, err
				}
				continue
			}
			null = false
			if err := result(dec); err != nil {
				return false, fmt.Errorf("result: %w", err)
			}
		case `"error"`:
			v, err := dec.ReadValue()
			if err != nil {
				return false, err
			}
			if string(v) != "null" {
				rpcErr = new(RPCError)
				if err := json.Unmarshal(v, rpcErr); err != nil {
					return false, fmt.Errorf("error object: %w", err)
				}
			}
		default:
			if err := dec.SkipValue(); err != nil {
				return false, err
			}
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return false, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return false, fmt.Errorf("%w: data after the response object", errShape)
	}
	if rpcErr != nil {
		return false, rpcErr
	}
	return null, nil
}

// expect reads one token of kind k.
func expect(dec *jsontext.Decoder, k jsontext.Kind) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	if tok.Kind() != k {
		return fmt.Errorf("%w: want %v, got %v", errShape, k, tok.Kind())
	}
	return nil
}

// object calls field for each member of the object at dec with its raw
// quoted name; field must consume the value.
func object(dec *jsontext.Decoder, field func(name []byte) error) error {
	if err := expect(dec, '{'); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadValue()
		if err != nil {
			return err
		}
		if err := field(name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	_, err := dec.ReadToken()
	return err
}

// array calls elem for each element of the array at dec.
func array(dec *jsontext.Decoder, elem func() error) error {
	if err := expect(dec, '['); err != nil {
		return err
	}
	for dec.PeekKind() != ']' {
		if err := elem(); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}

// value reads the next value and hands its raw bytes to u.
func value(dec *jsontext.Decoder, u json.Unmarshaler) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return u.UnmarshalJSON(v)
}

// nullable reads a value that may be null into *p (allocated on demand).
func nullable[T any, PT interface {
	*T
	json.Unmarshaler
}](dec *jsontext.Decoder, p **T) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	if string(v) == "null" {
		*p = nil
		return nil
	}
	t := new(T)
	if err := PT(t).UnmarshalJSON(v); err != nil {
		return err
	}
	*p = t
	return nil
}

// bloomValue decodes a logsBloom.
type bloomValue types.Bloom

func (b *bloomValue) UnmarshalJSON(v []byte) error { return decodeFixed(b[:], v) }

// beginObject and nextName iterate an object without a closure (the hot
// loops would allocate one per element).
func beginObject(dec *jsontext.Decoder) error { return expect(dec, '{') }

// nextName returns the next member name of the object being read, or nil
// after consuming the closing brace.
func nextName(dec *jsontext.Decoder) ([]byte, error) {
	if dec.PeekKind() == '}' {
		_, err := dec.ReadToken()
		return nil, err
	}
	return dec.ReadValue()
}

func streamBlock(dec *jsontext.Decoder) (*leanBlock, error) {
	b := new(leanBlock)
	err := object(dec, func(name []byte) error {
		switch string(name) {
		case `"number"`:
			return nullable(dec, &b.Number)
		case `"hash"`:
			return nullable(dec, &b.Hash)
		case `"parentHash"`:
			return nullable(dec, &b.ParentHash)
		case `"timestamp"`:
			return value(dec, &b.Timestamp)
		case `"logsBloom"`:
			var bl *bloomValue
			if err := nullable(dec, &bl); err != nil {
				return err
			}
			b.LogsBloom = (*types.Bloom)(bl)
			return nil
		case `"transactions"`:
			if dec.PeekKind() == 'n' {
				_, err := dec.ReadToken()
				b.Transactions = nil
				return err
			}
			if err := expect(dec, '['); err != nil {
				return err
			}
			b.Transactions = b.Transactions[:0]
			for dec.PeekKind() != ']' {
				b.Transactions = append(b.Transactions, leanTx{})
				if err := streamTx(dec, &b.Transactions[len(b.Transactions)-1]); err != nil {
					return fmt.Errorf("transaction %d: %w", len(b.Transactions)-1, err)
				}
			}
			_, err := dec.ReadToken()
			return err
		}
		return dec.SkipValue()
	})
	return b, err
}

func streamTx(dec *jsontext.Decoder, tx *leanTx) error {
	if err := beginObject(dec); err != nil {
		return err
	}
	for {
		name, err := nextName(dec)
		if err != nil || name == nil {
			return err
		}
		switch string(name) {
		case `"hash"`:
			err = value(dec, &tx.Hash)
		case `"to"`:
			err = value(dec, &tx.To)
		case `"value"`:
			err = value(dec, &tx.Value)
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

func streamLogs(dec *jsontext.Decoder) ([]leanLog, error) {
	if err := expect(dec, '['); err != nil {
		return nil, err
	}
	var logs []leanLog
	for dec.PeekKind() != ']' {
		logs = append(logs, leanLog{})
		if err := streamLog(dec, &logs[len(logs)-1]); err != nil {
			return nil, fmt.Errorf("log %d: %w", len(logs)-1, err)
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, err
	}
	return logs, nil
}

func streamLog(dec *jsontext.Decoder, l *leanLog) error {
	if err := beginObject(dec); err != nil {
		return err
	}
	for {
		name, err := nextName(dec)
		if err != nil || name == nil {
			return err
		}
		switch string(name) {
		case `"address"`:
			var v jsontext.Value
			if v, err = dec.ReadValue(); err == nil {
				err = decodeFixed(l.Address[:], v)
			}
		case `"topics"`:
			err = streamTopics(dec, l)
		case `"data"`:
			err = value(dec, &l.Data)
		case `"blockNumber"`:
			err = value(dec, &l.BlockNumber)
		case `"blockHash"`:
			err = value(dec, &l.BlockHash)
		case `"transactionHash"`:
			err = value(dec, &l.TxHash)
		case `"transactionIndex"`:
			err = value(dec, &l.TxIndex)
		case `"logIndex"`:
			err = value(dec, &l.LogIndex)
		case `"removed"`:
			var tok jsontext.Token
			if tok, err = dec.ReadToken(); err == nil {
				switch tok.Kind() {
				case 't', 'f':
					l.Removed = tok.Bool()
				default:
					err = fmt.Errorf("%w: removed is %v", errShape, tok.Kind())
				}
			}
		default:
			err = dec.SkipValue()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
}

func streamTopics(dec *jsontext.Decoder, l *leanLog) error {
	if dec.PeekKind() == 'n' {
		_, err := dec.ReadToken()
		l.Topics = nil
		return err
	}
	if err := expect(dec, '['); err != nil {
		return err
	}
	l.Topics = make([]hash32, 0, 3)
	for dec.PeekKind() != ']' {
		l.Topics = append(l.Topics, hash32{})
		if err := value(dec, &l.Topics[len(l.Topics)-1]); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}
