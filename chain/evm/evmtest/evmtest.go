// Package evmtest generates synthetic EVM JSON-RPC responses for tests and
// benchmarks of chain/evm: a block with transactions and a page of ERC-20
// Transfer logs, plus the watched addresses some of them pay.
package evmtest

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
)

// TransferTopic is keccak256("Transfer(address,address,uint256)").
const TransferTopic = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"

// Spec says what to generate.
type Spec struct {
	// Height of the block.
	Height uint64
	// Txs is the number of transactions in the block.
	Txs int
	// Logs is the number of ERC-20 Transfer logs.
	Logs int
	// Watched is how many watched addresses to generate.
	Watched int
	// Hits is how many transactions and how many logs pay a watched address.
	Hits int
	// Token is the contract the logs come from (0x…); a fixed one when "".
	Token string
	// Seed makes the output reproducible.
	Seed uint64
}

// Data is a generated block and its logs.
type Data struct {
	// BlockResponse is an eth_getBlockByHash(h, true) JSON-RPC response body.
	BlockResponse []byte
	// LogsResponse is an eth_getLogs JSON-RPC response body for the block.
	LogsResponse []byte
	// Watched are the watched addresses (EIP-55 is not needed: lower case).
	Watched []string
	// BlockHash is the block's hash.
	BlockHash string
	// Token is the contract of the logs.
	Token string
}

// Address returns the deterministic address number i of the watched set.
func Address(i uint64) string {
	var b [20]byte
	binary.BigEndian.PutUint64(b[0:8], i^0x5eed5eed5eed5eed)
	binary.BigEndian.PutUint64(b[8:16], i*0x9e3779b97f4a7c15)
	binary.BigEndian.PutUint32(b[16:20], uint32(i))
	return fmt.Sprintf("0x%x", b)
}

func randHex(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return fmt.Sprintf("0x%x", b)
}

// Generate builds the responses for s. Hits transactions (spread evenly) pay
// watched addresses, as do Hits logs; the rest pay random addresses.
func Generate(s Spec) Data {
	r := rand.New(rand.NewPCG(s.Seed, s.Seed^0xabcdef))
	d := Data{Token: s.Token, BlockHash: randHex(r, 32)}
	if d.Token == "" {
		d.Token = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
	}
	d.Watched = make([]string, s.Watched)
	for i := range d.Watched {
		d.Watched[i] = Address(uint64(i))
	}
	pick := func(i, n int) string {
		if s.Hits > 0 && s.Watched > 0 && n > 0 && i%max(n/s.Hits, 1) == 0 && i/max(n/s.Hits, 1) < s.Hits {
			return d.Watched[r.IntN(s.Watched)]
		}
		return randHex(r, 20)
	}
	txHashes := make([]string, max(s.Txs, 1))
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"jsonrpc":"2.0","id":1,"result":{"baseFeePerGas":"0x3b9aca00","difficulty":"0x0","extraData":"0x","gasLimit":"0x1c9c380","gasUsed":"0x1312d00","hash":"%s","logsBloom":"0x%s","miner":"%s","mixHash":"%s","nonce":"0x0000000000000000","number":"0x%x","parentHash":"%s","receiptsRoot":"%s","sha3Uncles":"0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347","size":"0x2a3b1","stateRoot":"%s","timestamp":"0x%x","transactionsRoot":"%s","withdrawals":[],"withdrawalsRoot":"%s","uncles":[],"transactions":[`,
		d.BlockHash, strings.Repeat("f", 512), randHex(r, 20), randHex(r, 32), s.Height, randHex(r, 32), randHex(r, 32), randHex(r, 32), 1700000000+s.Height*12, randHex(r, 32), randHex(r, 32))
	for i := 0; i < s.Txs; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		h := randHex(r, 32)
		txHashes[i] = h
		input := "0x"
		if i%2 == 1 {
			input = "0xa9059cbb" + strings.Repeat("0", 24) + randHex(r, 20)[2:] + fmt.Sprintf("%064x", r.Uint64())
		}
		fmt.Fprintf(&sb, `{"type":"0x2","chainId":"0x1","nonce":"0x%x","gas":"0x5208","maxFeePerGas":"0x4a817c800","maxPriorityFeePerGas":"0x3b9aca00","to":"%s","value":"0x%x","accessList":[],"input":"%s","r":"%s","s":"%s","yParity":"0x1","v":"0x1","hash":"%s","blockHash":"%s","blockNumber":"0x%x","transactionIndex":"0x%x","from":"%s","gasPrice":"0x4a817c800"}`,
			r.IntN(1000), pick(i, s.Txs), 1+r.Uint64()>>1, input, randHex(r, 32), randHex(r, 32), h, d.BlockHash, s.Height, i, randHex(r, 20))
	}
	sb.WriteString(`]}}`)
	d.BlockResponse = []byte(sb.String())

	sb.Reset()
	sb.WriteString(`{"jsonrpc":"2.0","id":2,"result":[`)
	for i := 0; i < s.Logs; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		ti := i * max(s.Txs, 1) / max(s.Logs, 1)
		to := pick(i, s.Logs)
		fmt.Fprintf(&sb, `{"address":"%s","topics":["%s","0x000000000000000000000000%s","0x000000000000000000000000%s"],"data":"0x%064x","blockNumber":"0x%x","transactionHash":"%s","transactionIndex":"0x%x","blockHash":"%s","logIndex":"0x%x","removed":false}`,
			d.Token, TransferTopic, randHex(r, 20)[2:], to[2:], 1+r.Uint64()>>1, s.Height, txHashes[min(ti, len(txHashes)-1)], ti, d.BlockHash, i)
	}
	sb.WriteString(`]}`)
	d.LogsResponse = []byte(sb.String())
	return d
}

// BaselineDecode is the floor payd's scan is compared with: a plain
// encoding/json decode of block and logs responses into only the needed
// fields, as strings, with no matching.
func BaselineDecode(block, logs []byte) error {
	var blk struct {
		Result struct {
			Number       string `json:"number"`
			Hash         string `json:"hash"`
			ParentHash   string `json:"parentHash"`
			Transactions []struct {
				Hash  string `json:"hash"`
				To    string `json:"to"`
				Value string `json:"value"`
			} `json:"transactions"`
		} `json:"result"`
	}
	if err := json.Unmarshal(block, &blk); err != nil {
		return err
	}
	var lg struct {
		Result []struct {
			Address  string   `json:"address"`
			Topics   []string `json:"topics"`
			Data     string   `json:"data"`
			LogIndex string   `json:"logIndex"`
			Removed  bool     `json:"removed"`
		} `json:"result"`
	}
	return json.Unmarshal(logs, &lg)
}
