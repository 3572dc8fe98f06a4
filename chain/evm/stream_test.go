package evm

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/payd/payd/chain/evm/evmtest"
)

// stdBlock and stdLogs decode with encoding/json through the lean types' struct
// tags: the reference the streaming decoder is checked against.
func stdBlock(body []byte) (*leanBlock, error) {
	var b *leanBlock
	if err := decodeResponse(body, &b); err != nil {
		return nil, err
	}
	if b == nil {
		return nil, errNotFound
	}
	return b, nil
}

func stdLogs(body []byte) ([]leanLog, error) {
	var logs []leanLog
	err := decodeResponse(body, &logs)
	return logs, err
}

func TestStreamMatchesStd(t *testing.T) {
	d := evmtest.Generate(evmtest.Spec{Height: 7, Txs: 50, Logs: 80, Watched: 10, Hits: 3, Seed: 3})
	blocks := [][]byte{readFixture(t, "block_anvil.json"), d.BlockResponse}
	for _, body := range blocks {
		fast, err1 := decodeBlock(body)
		std, err2 := stdBlock(body)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(fast, std) {
			t.Fatalf("block: stream %+v (%v)\nstd %+v (%v)", fast, err1, std, err2)
		}
	}
	for _, body := range [][]byte{readFixture(t, "logs_anvil.json"), d.LogsResponse} {
		fast, err1 := decodeLogs(body)
		std, err2 := stdLogs(body)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(fast, std) {
			t.Fatalf("logs: stream %+v (%v)\nstd %+v (%v)", fast, err1, std, err2)
		}
	}
}

// FuzzStreamVsStd: whatever the streaming decoder accepts, encoding/json
// accepts too and reads the same. (The stream is stricter: it rejects
// duplicate names, invalid UTF-8 and escaped hex, and matches names exactly,
// so the converse does not hold; inputs with names that differ from ours
// only in case are left out, as encoding/json folds case.)
func FuzzStreamVsStd(f *testing.F) {
	f.Add(readFixture(f, "block_anvil.json"))
	f.Add(readFixture(f, "logs_anvil.json"))
	f.Add([]byte(`{"result":[{"address":"0x5fbdb2315678afecb367f032d93f642f64180aa3","topics":[],"data":"0x","removed":true}]}`))
	f.Add([]byte(`{"result":{"number":"0x1","hash":null,"transactions":[{"to":null,"value":"0x0"}]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if caseVariant(body) {
			return
		}
		if fast, err := decodeBlock(body); err == nil {
			std, err := stdBlock(body)
			if err != nil || !reflect.DeepEqual(fast, std) {
				t.Fatalf("block: stream %+v, std %+v (%v)", fast, std, err)
			}
		}
		if fast, err := decodeLogs(body); err == nil {
			std, err := stdLogs(body)
			// An empty result may come back nil from one and empty from the
			// other: the same to every caller.
			if err == nil && len(fast) == 0 && len(std) == 0 {
				return
			}
			if err != nil || !reflect.DeepEqual(fast, std) {
				t.Fatalf("logs: stream %+v, std %+v (%v)", fast, std, err)
			}
		}
	})
}

// caseVariant reports whether body holds one of the decoded names in a case
// other than ours, or escaped.
func caseVariant(body []byte) bool {
	if bytes.IndexByte(body, '\\') >= 0 {
		return true
	}
	for _, n := range []string{"result", "error", "number", "hash", "parenthash", "timestamp", "logsbloom", "transactions",
		"to", "value", "address", "topics", "data", "blocknumber", "blockhash", "transactionhash", "transactionindex", "logindex", "removed"} {
		low := asciiLower(body)
		for i := 0; ; {
			j := bytes.Index(low[i:], []byte(`"`+n+`"`))
			if j < 0 {
				break
			}
			if !bytes.Equal(body[i+j:i+j+len(n)+2], asciiLower(body[i+j:i+j+len(n)+2])) &&
				!isOurs(string(body[i+j+1:i+j+1+len(n)])) {
				return true
			}
			i += j + 1
		}
	}
	return false
}

// asciiLower lower-cases A–Z only, keeping every byte in place (bytes.ToLower
// turns invalid UTF-8 into longer replacement runes, shifting the indexes).
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}

func isOurs(name string) bool {
	switch name {
	case "parentHash", "logsBloom", "blockNumber", "blockHash", "transactionHash", "transactionIndex", "logIndex":
		return true
	}
	return false
}
