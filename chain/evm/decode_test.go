package evm

import (
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/payd/payd/chain"
)

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	fixtureToken   = "0x5fbdb2315678afecb367f032d93f642f64180aa3"
	fixtureWatched = "0x00000000000000000000000000000000000000aA" // as given to Watch
)

func fixtureScanner(t testing.TB) *Scanner {
	t.Helper()
	cfg, err := Config{Name: "anvil", ChainID: 31337, RPCURL: "http://127.0.0.1:1", NativeAsset: "ETH",
		Tokens: []Token{{Symbol: "TUSD", Contract: fixtureToken, Decimals: 6}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	w := NewWatchlist()
	w.Add(fixtureWatched)
	return NewScanner(cfg, w)
}

// The fixtures are real anvil answers for a block holding, in this order, a
// 1 ETH payment, a 2.5 TUSD transfer (6 decimals) and a contract creation.
func TestScanAnvilFixture(t *testing.T) {
	s := fixtureScanner(t)
	ref, ts, err := s.Scan(readFixture(t, "block_anvil.json"), readFixture(t, "logs_anvil.json"))
	if err != nil {
		t.Fatal(err)
	}
	if ref.Height != 3 || ref.Hash != "0x5e29a9668d0ec3f3ec0f2584cb9346a3c539377bbc62f08f2e6d974610717f87" || ref.Time.IsZero() {
		t.Fatalf("ref = %+v", ref)
	}
	want := []chain.Transfer{
		{Chain: "anvil", Asset: "ETH", TxID: "0xc1e320fa472ae6ff4b779b8419e1ed3c980c3e129478fe0c3d585e84614f11eb",
			Address: fixtureWatched, Amount: big.NewInt(1e18)},
		{Chain: "anvil", Asset: "TUSD", Token: "0x5FbDB2315678afecb367f032d93F642f64180aa3",
			TxID:    "0x4a1d9f13ddd424221bfb7202b76d2ee1ca0d44589edea53464eee7c25c71c560",
			Address: fixtureWatched, Amount: big.NewInt(2_500_000)},
	}
	if len(ts) != len(want) {
		t.Fatalf("got %d transfers %+v, want %d", len(ts), ts, len(want))
	}
	for i := range want {
		g, w := ts[i], want[i]
		if g.Chain != w.Chain || g.Asset != w.Asset || g.Token != w.Token || g.TxID != w.TxID ||
			g.Index != w.Index || g.Address != w.Address || g.Amount.Cmp(w.Amount) != 0 || g.Block != nil {
			t.Errorf("transfer %d = %+v, want %+v", i, g, w)
		}
	}
	// Unwatched: nothing.
	s.watch.Remove(fixtureWatched)
	if _, ts, _ := s.Scan(readFixture(t, "block_anvil.json"), readFixture(t, "logs_anvil.json")); len(ts) != 0 {
		t.Fatalf("after Remove got %+v", ts)
	}
}

func TestDecodeHeaderFixture(t *testing.T) {
	var h *leanHeader
	if err := decodeResponse(readFixture(t, "header_anvil.json"), &h); err != nil {
		t.Fatal(err)
	}
	ref, err := h.ref()
	if err != nil || ref.Height != 3 || !strings.HasPrefix(ref.Parent, "0x") || len(ref.Parent) != 66 {
		t.Fatalf("ref %+v err %v", ref, err)
	}
}

func TestQuantity(t *testing.T) {
	tests := []struct {
		in   string
		want string // decimal, "" = error
	}{
		{`"0x0"`, "0"},
		{`"0x1"`, "1"},
		{`"0xde0b6b3a7640000"`, "1000000000000000000"},
		{`"0x` + strings.Repeat("f", 64) + `"`, new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1)).String()},
		{`"0x` + strings.Repeat("f", 65) + `"`, ""},
		{`"0x"`, ""},
		{`"12"`, ""},
		{`12`, ""},
		{`"0xzz"`, ""},
		{`null`, ""},
	}
	for _, tt := range tests {
		var q quantity
		err := q.UnmarshalJSON([]byte(tt.in))
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: no error", tt.in)
			}
			continue
		}
		if err != nil || q.Big().String() != tt.want {
			t.Errorf("%s = %s, %v; want %s", tt.in, q.Big(), err, tt.want)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	good := string(readFixture(t, "block_anvil.json"))
	tests := []struct {
		name string
		body string
	}{
		{"not json", `<html>502 Bad Gateway</html>`},
		{"empty", ``},
		{"truncated", good[:len(good)/2]},
		{"null result", `{"jsonrpc":"2.0","id":1,"result":null}`},
		{"error object", `{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"header not found"}}`},
		{"number not hex", `{"result":{"number":3,"hash":"0x00","parentHash":"0x00","transactions":[]}}`},
		{"short hash", `{"result":{"number":"0x3","hash":"0x1234","parentHash":"0x1234","transactions":[]}}`},
		{"missing hash", `{"result":{"number":"0x3","transactions":[]}}`},
		{"bad to", strings.Replace(good, `"to":"0x00000000000000000000000000000000000000aa"`, `"to":"0xZZ"`, 1)},
		{"bad value", strings.Replace(good, `"value":"0xde0b6b3a7640000"`, `"value":"1e18"`, 1)},
		{"transactions not array", `{"result":{"number":"0x3","hash":"0x` + strings.Repeat("1", 64) + `","parentHash":"0x` + strings.Repeat("2", 64) + `","transactions":{}}}`},
	}
	s := fixtureScanner(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Scan([]byte(tt.body), readFixture(t, "logs_anvil.json")); err == nil {
				t.Fatal("no error")
			}
		})
	}
	logs := []struct{ name, body string }{
		{"not array", `{"result":{}}`},
		{"bad topic", `{"result":[{"address":"0x5fbdb2315678afecb367f032d93f642f64180aa3","topics":["0x12"],"data":"0x","logIndex":"0x0"}]}`},
		{"bad address", `{"result":[{"address":"0x5fbd","topics":[],"data":"0x","logIndex":"0x0"}]}`},
		{"error", `{"error":{"code":-32005,"message":"query returned more than 10000 results"}}`},
	}
	for _, tt := range logs {
		t.Run("logs "+tt.name, func(t *testing.T) {
			if _, err := decodeLogs([]byte(tt.body)); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

// Logs that are not ERC-20 Transfers of a configured token to a watched
// address, or are removed, are skipped without error.
func TestTokenMatchesSkips(t *testing.T) {
	s := fixtureScanner(t)
	topicTo := "0x00000000000000000000000000000000000000000000000000000000000000aa"
	mk := func(addr string, topics []string, data string, removed bool) string {
		return `{"address":"` + addr + `","topics":["` + strings.Join(topics, `","`) + `"],"data":"` + data +
			`","blockNumber":"0x3","blockHash":"0x` + strings.Repeat("1", 64) + `","transactionHash":"0x` + strings.Repeat("2", 64) +
			`","transactionIndex":"0x0","logIndex":"0x5","removed":` + map[bool]string{true: "true", false: "false"}[removed] + `}`
	}
	from := "0x000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
	amt := "0x" + strings.Repeat("0", 63) + "7"
	tests := []struct {
		name string
		log  string
		n    int
	}{
		{"match", mk(fixtureToken, []string{transferTopic.Hex(), from, topicTo}, amt, false), 1},
		{"removed", mk(fixtureToken, []string{transferTopic.Hex(), from, topicTo}, amt, true), 0},
		{"other contract", mk("0x"+strings.Repeat("9", 40), []string{transferTopic.Hex(), from, topicTo}, amt, false), 0},
		{"erc721 (4 topics, no data)", mk(fixtureToken, []string{transferTopic.Hex(), from, topicTo, topicTo}, "0x", false), 0},
		{"other event", mk(fixtureToken, []string{"0x" + strings.Repeat("3", 64), from, topicTo}, amt, false), 0},
		{"two-word data", mk(fixtureToken, []string{transferTopic.Hex(), from, topicTo}, amt+strings.Repeat("0", 64), false), 0},
	}
	for _, tt := range tests {
		logs, err := decodeLogs([]byte(`{"result":[` + tt.log + `]}`))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := s.tokenMatches(logs)
		if len(got) != tt.n {
			t.Errorf("%s: %d matches, want %d", tt.name, len(got), tt.n)
		}
		if tt.n == 1 && (got[0].T.Index != 5 || got[0].T.Amount.Int64() != 7) {
			t.Errorf("%s: %+v", tt.name, got[0].T)
		}
	}
}

func TestInternalMatches(t *testing.T) {
	s := fixtureScanner(t)
	s.watch.Add("0x00000000000000000000000000000000000000bb")
	var res []traceResult
	if err := decodeResponse(readFixture(t, "trace_nested.json"), &res); err != nil {
		t.Fatal(err)
	}
	got := inBlockOrder(s.internalMatches(res))
	// tx 1: 100 wei to aa and 200 wei to bb (nested); the reverted subtree,
	// the static and delegate calls don't count. tx 2 reverted. tx 3 is a
	// top-level payment, which the block scan reports, not the tracer.
	want := []struct {
		addr  string
		wei   int64
		index uint32
	}{{fixtureWatched, 100, InternalIndexBase}, {"0x00000000000000000000000000000000000000bb", 200, InternalIndexBase + 1}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		if got[i].Address != w.addr || got[i].Amount.Int64() != w.wei || got[i].Index != w.index ||
			got[i].TxID != "0x"+strings.Repeat("1", 64) {
			t.Errorf("%d: %+v, want %+v", i, got[i], w)
		}
	}
}

func TestWatchlist(t *testing.T) {
	w := NewWatchlist()
	bad := w.Add("0x00000000000000000000000000000000000000aA", "nope", "00000000000000000000000000000000000000cc", "0x12")
	if len(bad) != 3 || w.Len() != 1 {
		t.Fatalf("bad %v len %d", bad, w.Len())
	}
	w.Remove("0x00000000000000000000000000000000000000AA")
	if w.Len() != 0 {
		t.Fatal("Remove is case-sensitive")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(readFixture(f, "block_anvil.json"), readFixture(f, "logs_anvil.json"))
	f.Add([]byte(`{"result":null}`), []byte(`{"result":[]}`))
	f.Add([]byte(`{"result":{"number":"0x","hash":"0x","transactions":[{"to":null,"value":"0x"}]}}`), []byte(`{"result":[{"topics":[],"data":"0x"}]}`))
	s := fixtureScanner(f)
	f.Fuzz(func(t *testing.T, block, logs []byte) {
		ref, ts, err := s.Scan(block, logs)
		if err != nil {
			return
		}
		if len(ref.Hash) != 66 || len(ref.Parent) != 66 {
			t.Fatalf("accepted a block with bad hashes: %+v", ref)
		}
		for _, tr := range ts {
			if tr.Amount == nil || tr.Amount.Sign() < 0 || tr.Address != fixtureWatched {
				t.Fatalf("bad transfer %+v", tr)
			}
		}
	})
}

// Watch and Unwatch while blocks are scanned (run with -race).
func TestWatchlistConcurrent(t *testing.T) {
	s := fixtureScanner(t)
	block, logs := readFixture(t, "block_anvil.json"), readFixture(t, "logs_anvil.json")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			a := fmt.Sprintf("0x%040x", i+1000)
			s.watch.Add(a)
			s.watch.Remove(a)
		}
	}()
	for i := 0; i < 200; i++ {
		if _, ts, err := s.Scan(block, logs); err != nil || len(ts) != 2 {
			t.Fatalf("scan %d: %d transfers, %v", i, len(ts), err)
		}
	}
	<-done
}
