package bitcoin

import (
	"bytes"
	"encoding/hex"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// watchVectors are addresses of every kind payd watches, with their scripts
// (BIP173, BIP86, the Bitcoin wiki), on mainnet.
var watchVectors = []struct {
	name, addr, script string
	kind               scriptKind
}{
	{"P2PKH", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", "76a91477bff20c60e522dfaa3350c39b030a5d004e839a88ac", kindP2PKH},
	{"P2SH", "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy", "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb87", kindP2SH},
	{"P2WPKH", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "0014751e76e8199196d454941c45d1b3a323f1433bd6", kindP2WPKH},
	{"P2WSH", "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262", kindP2WSH},
	{"P2TR", "bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr", "5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c", kindP2TR},
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestClassify(t *testing.T) {
	for _, tc := range watchVectors {
		t.Run(tc.name, func(t *testing.T) {
			s := mustHex(t, tc.script)
			k, prog := classify(s)
			if k != tc.kind || !bytes.Contains(s, prog) || (len(prog) != 20 && len(prog) != 32) {
				t.Fatalf("classify = %d %x, want %d", k, prog, tc.kind)
			}
			if got := NewWatchSet(nil).encode(k, prog); got != tc.addr {
				t.Fatalf("encode = %q, want %q", got, tc.addr)
			}
			// One byte more, one less, or a wrong opcode: no standard form.
			for _, bad := range [][]byte{append(append([]byte(nil), s...), 0), s[:len(s)-1], append([]byte{0x60}, s[1:]...)} {
				if k, _ := classify(bad); k != kindNone {
					t.Errorf("classify(%x) = %d, want none", bad, k)
				}
			}
		})
	}
	for _, s := range []string{"", "6a", "51", "0014", "a914b472a266d0bd89c13706a4132ccfb16f7c3b9fcb88"} {
		if k, _ := classify(mustHex(t, s)); k != kindNone {
			t.Errorf("classify(%s) = %d, want none", s, k)
		}
	}
}

func TestWatchSetAddLookupRemove(t *testing.T) {
	w := NewWatchSet(nil)
	for _, tc := range watchVectors {
		w.Add(mustHex(t, tc.script), tc.addr)
	}
	if n := w.Len(); n != len(watchVectors) {
		t.Fatalf("Len = %d, want %d", n, len(watchVectors))
	}
	if len(w.odd) != 0 {
		t.Fatalf("canonical addresses kept as strings: %v", w.odd)
	}
	for i, tc := range watchVectors {
		t.Run(tc.name, func(t *testing.T) {
			s := mustHex(t, tc.script)
			if a, ok := w.Lookup(s); !ok || a != tc.addr {
				t.Fatalf("Lookup = %q, %v; want %q", a, ok, tc.addr)
			}
			w.Remove(s)
			if a, ok := w.Lookup(s); ok {
				t.Fatalf("removed script still matches %q", a)
			}
			if n := w.Len(); n != len(watchVectors)-i-1 {
				t.Fatalf("Len = %d after %d removals", n, i+1)
			}
			// The others are still there.
			for _, o := range watchVectors[i+1:] {
				if a, ok := w.Lookup(mustHex(t, o.script)); !ok || a != o.addr {
					t.Fatalf("Lookup(%s) = %q, %v after removing %s", o.name, a, ok, tc.name)
				}
			}
		})
	}
}

// TestWatchSetNetworks watches every kind on every network, from
// addresses built by btcutil, and gets each address back as given.
func TestWatchSetNetworks(t *testing.T) {
	h20 := bytes.Repeat([]byte{0xab}, 20)
	h32 := bytes.Repeat([]byte{0xcd}, 32)
	for _, params := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		mk := []func() (btcutil.Address, error){
			func() (btcutil.Address, error) { return btcutil.NewAddressPubKeyHash(h20, params) },
			func() (btcutil.Address, error) { return btcutil.NewAddressScriptHashFromHash(h20, params) },
			func() (btcutil.Address, error) { return btcutil.NewAddressWitnessPubKeyHash(h20, params) },
			func() (btcutil.Address, error) { return btcutil.NewAddressWitnessScriptHash(h32, params) },
			func() (btcutil.Address, error) { return btcutil.NewAddressTaproot(h32, params) },
		}
		w := NewWatchSet(params)
		var scripts [][]byte
		var addrs []string
		for _, f := range mk {
			a, err := f()
			if err != nil {
				t.Fatal(err)
			}
			s, err := txscript.PayToAddrScript(a)
			if err != nil {
				t.Fatal(err)
			}
			w.Add(s, a.EncodeAddress())
			scripts, addrs = append(scripts, s), append(addrs, a.EncodeAddress())
		}
		// P2PKH and P2WPKH of one hash (and P2WSH and P2TR of one
		// program) are different entries.
		if w.Len() != len(mk) || len(w.odd) != 0 {
			t.Fatalf("%s: Len %d, odd %d", params.Name, w.Len(), len(w.odd))
		}
		for i, s := range scripts {
			if a, ok := w.Lookup(s); !ok || a != addrs[i] {
				t.Errorf("%s: Lookup(%x) = %q, %v; want %q", params.Name, s, a, ok, addrs[i])
			}
		}
	}
}

// TestWatchSetOddAddresses: an address that is not its script's canonical
// encoding on the set's network, and a script of no standard form, are
// reported exactly as given.
func TestWatchSetOddAddresses(t *testing.T) {
	p2wpkh := mustHex(t, watchVectors[2].script)
	nonStd := mustHex(t, "6a0401020304") // OP_RETURN
	tests := []struct {
		name   string
		script []byte
		addr   string
	}{
		{"upper-case bech32", p2wpkh, strings.ToUpper(watchVectors[2].addr)},
		{"other network", mustHex(t, watchVectors[0].script), "mipcBbFg9gMiCh81Kj8tqqdgoZub1ZJRfn"},
		{"any label", mustHex(t, watchVectors[4].script), "label"},
		{"non-standard script", nonStd, "whatever"},
	}
	w := NewWatchSet(nil)
	for _, tc := range tests {
		w.Add(tc.script, tc.addr)
	}
	if w.Len() != len(tests) {
		t.Fatalf("Len = %d, want %d", w.Len(), len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if a, ok := w.Lookup(tc.script); !ok || a != tc.addr {
				t.Fatalf("Lookup = %q, %v; want %q", a, ok, tc.addr)
			}
		})
	}
	// Watching the canonical spelling again replaces the odd one.
	w.Add(p2wpkh, watchVectors[2].addr)
	if a, _ := w.Lookup(p2wpkh); a != watchVectors[2].addr {
		t.Fatalf("after re-adding: %q", a)
	}
	for _, tc := range tests {
		w.Remove(tc.script)
		if _, ok := w.Lookup(tc.script); ok {
			t.Errorf("%s: still watched after Remove", tc.name)
		}
	}
	if w.Len() != 0 || len(w.odd) != 0 || w.nonStd != 0 {
		t.Fatalf("after removing all: Len %d, odd %d, nonStd %d", w.Len(), len(w.odd), w.nonStd)
	}
	w.Remove(nonStd) // removing an unwatched script is a no-op
	if w.nonStd != 0 {
		t.Fatalf("nonStd = %d", w.nonStd)
	}
}

// A miss must not allocate: the scan looks up every output of a block.
func TestWatchSetLookupMissAllocs(t *testing.T) {
	w := NewWatchSet(nil)
	for _, tc := range watchVectors {
		w.Add(mustHex(t, tc.script), tc.addr)
	}
	w.Add(mustHex(t, "6a01ff"), "odd")
	miss := [][]byte{
		mustHex(t, "0014000000000000000000000000000000000000000a"),
		mustHex(t, "76a914000000000000000000000000000000000000000a88ac"),
		mustHex(t, "51200000000000000000000000000000000000000000000000000000000000000000"),
		mustHex(t, "6a0102"),
	}
	for _, s := range miss {
		if n := testing.AllocsPerRun(100, func() { w.lookup(s) }); n != 0 {
			t.Errorf("lookup(%x) allocates %v times", s, n)
		}
	}
}

// TestBackendWatchSpelling: Backend.Watch keeps no string for a canonical
// address and reports every address exactly as watched.
func TestBackendWatchSpelling(t *testing.T) {
	b, err := New(Config{Network: "mainnet", RPCURL: "http://127.0.0.1:1", RPCUser: "u"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	type tc struct {
		name, addr, script string
		odd                bool
	}
	var tests []tc
	for _, v := range watchVectors {
		tests = append(tests, tc{v.name, v.addr, v.script, false})
		if v.kind == kindP2WPKH || v.kind == kindP2WSH || v.kind == kindP2TR {
			tests = append(tests, tc{v.name + " upper-case", strings.ToUpper(v.addr), v.script, true})
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b.Watch(tc.addr)
			s := mustHex(t, tc.script)
			if _, odd := b.watch.odd[string(s)]; odd != tc.odd {
				t.Errorf("kept as a string: %v, want %v", odd, tc.odd)
			}
			if a, ok := b.watch.Lookup(s); !ok || a != tc.addr {
				t.Fatalf("Lookup = %q, %v; want %q", a, ok, tc.addr)
			}
			b.Unwatch(tc.addr)
			if _, ok := b.watch.Lookup(s); ok || b.watch.Len() != 0 {
				t.Fatalf("still watched after Unwatch (Len %d)", b.watch.Len())
			}
		})
	}
}

// TestEncodeMatchesBtcutil: the watch set's own encoder gives btcutil's
// address for every kind on every network, for many programs.
func TestEncodeMatchesBtcutil(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, params := range []*chaincfg.Params{&chaincfg.MainNetParams, &chaincfg.TestNet3Params, &chaincfg.RegressionNetParams, &chaincfg.SigNetParams} {
		w := NewWatchSet(params)
		for i := 0; i < 300; i++ {
			h20, h32 := make([]byte, 20), make([]byte, 32)
			for j := range h32 {
				h32[j] = byte(r.Uint32())
			}
			copy(h20, h32[5:])
			if i == 0 { // the edges: all zero, all ones
				clear(h20)
				clear(h32)
			} else if i == 1 {
				for j := range h32 {
					h32[j] = 0xff
				}
				copy(h20, h32)
			}
			want := map[scriptKind]func() (btcutil.Address, error){
				kindP2PKH:  func() (btcutil.Address, error) { return btcutil.NewAddressPubKeyHash(h20, params) },
				kindP2SH:   func() (btcutil.Address, error) { return btcutil.NewAddressScriptHashFromHash(h20, params) },
				kindP2WPKH: func() (btcutil.Address, error) { return btcutil.NewAddressWitnessPubKeyHash(h20, params) },
				kindP2WSH:  func() (btcutil.Address, error) { return btcutil.NewAddressWitnessScriptHash(h32, params) },
				kindP2TR:   func() (btcutil.Address, error) { return btcutil.NewAddressTaproot(h32, params) },
			}
			for kind, f := range want {
				a, err := f()
				if err != nil {
					t.Fatal(err)
				}
				prog := h20
				if kind == kindP2WSH || kind == kindP2TR {
					prog = h32
				}
				if got := w.encode(kind, prog); got != a.EncodeAddress() {
					t.Fatalf("%s kind %d %x: encode = %q, btcutil %q", params.Name, kind, prog, got, a.EncodeAddress())
				}
			}
		}
	}
}

// TestWatchSetPrefixCollision: two watched scripts whose index prefix is
// the same (program bytes 0–7 equal) are both found, removed and counted.
func TestWatchSetPrefixCollision(t *testing.T) {
	w := NewWatchSet(nil)
	mk := func(last byte) ([]byte, string) {
		h := bytes.Repeat([]byte{0x11}, 20)
		h[19] = last
		a, err := btcutil.NewAddressWitnessPubKeyHash(h, &chaincfg.MainNetParams)
		if err != nil {
			t.Fatal(err)
		}
		s, _ := txscript.PayToAddrScript(a)
		return s, a.EncodeAddress()
	}
	s1, a1 := mk(1)
	s2, a2 := mk(2)
	s3, a3 := mk(3)
	for _, order := range [][]int{{0, 1, 2}, {2, 1, 0}, {1, 0, 2}} {
		scripts, addrs := [][]byte{s1, s2, s3}, []string{a1, a2, a3}
		for _, i := range []int{0, 1, 2} {
			w.Add(scripts[i], addrs[i])
		}
		if w.Len() != 3 || len(w.collided) != 2 {
			t.Fatalf("Len %d, collided %d", w.Len(), len(w.collided))
		}
		for i := range scripts {
			if a, ok := w.Lookup(scripts[i]); !ok || a != addrs[i] {
				t.Fatalf("Lookup %d = %q, %v; want %q", i, a, ok, addrs[i])
			}
		}
		// Remove in the given order: the rest stay found.
		for n, i := range order {
			w.Remove(scripts[i])
			if _, ok := w.Lookup(scripts[i]); ok {
				t.Fatalf("%d still watched", i)
			}
			for _, j := range order[n+1:] {
				if a, ok := w.Lookup(scripts[j]); !ok || a != addrs[j] {
					t.Fatalf("after removing %v: Lookup %d = %q, %v", order[:n+1], j, a, ok)
				}
			}
			if w.Len() != 2-n {
				t.Fatalf("Len %d after %d removals", w.Len(), n+1)
			}
		}
	}
}

// TestKeyIndexReusesSlots: removed positions are reused, and a key whose
// prefix is held by another is refused.
func TestKeyIndexReusesSlots(t *testing.T) {
	ix := newKeyIndex[key20]()
	keys := make([]key20, 4)
	for i := range keys {
		keys[i] = makeKey20(kindP2WPKH, bytes.Repeat([]byte{byte(i + 1)}, 20))
		if !ix.add(prefix(kindP2WPKH, keys[i][1:]), &keys[i]) {
			t.Fatalf("add %d refused", i)
		}
	}
	ix.remove(prefix(kindP2WPKH, keys[1][1:]), &keys[1])
	ix.remove(prefix(kindP2WPKH, keys[1][1:]), &keys[1]) // twice: a no-op
	k := makeKey20(kindP2WPKH, bytes.Repeat([]byte{9}, 20))
	ix.add(prefix(kindP2WPKH, k[1:]), &k)
	if len(ix.keys) != 4 || ix.len() != 4 || len(ix.free) != 0 {
		t.Fatalf("keys %d, len %d, free %d: slot not reused", len(ix.keys), ix.len(), len(ix.free))
	}
	other := keys[0]
	other[20] ^= 0xff // same prefix, another key
	if ix.add(prefix(kindP2WPKH, other[1:]), &other) || ix.has(prefix(kindP2WPKH, other[1:]), &other) {
		t.Fatal("a key with a taken prefix was added")
	}
	if !ix.has(prefix(kindP2WPKH, keys[0][1:]), &keys[0]) || ix.has(prefix(kindP2WPKH, keys[1][1:]), &keys[1]) {
		t.Fatal("has is wrong after the refused add")
	}
}
